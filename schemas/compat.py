"""Backward-compatibility check between two versions of the contract's JSON Schemas.

Two directions matter:

* **read** — messages we publish (events, results, dead letters). A consumer written against
  the old schema must still read every new message: removing or renaming a field, making a
  required field optional, or widening a type (``string`` → ``string | null``) breaks it.
  Adding a field or an enum value does not (consumers must map unknown enum values to
  ``unknown``, as our own mappings do).
* **write** — messages we consume (commands). A producer written against the old schema must
  still be accepted: removing a field (we forbid unknown fields), adding a required field,
  narrowing a type or removing an enum value breaks it.

The check is structural over the subset of JSON Schema that msgspec generates ($ref, anyOf,
type, enum, properties/required, items, prefixItems, additionalProperties).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Mode = Literal["read", "write"]
Schema = Mapping[str, Any]


class _Ctx:
    def __init__(self, old_defs: Schema, new_defs: Schema, mode: Mode) -> None:
        self.old_defs = old_defs
        self.new_defs = new_defs
        self.mode = mode
        self.problems: list[str] = []
        self.seen: set[tuple[str, str, str]] = set()

    def resolve(self, schema: Schema, defs: Schema) -> tuple[Schema, str]:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            return defs[name], name
        return schema, ""


def _alternatives(schema: Schema, defs: Schema) -> list[Schema]:
    """Flatten anyOf / oneOf / a list of types into single-kind alternatives."""
    out: list[Schema] = []
    stack = [schema]
    while stack:
        item = stack.pop()
        ref = item.get("$ref")
        if isinstance(ref, str):
            item = defs[ref.rsplit("/", 1)[-1]]
        if "anyOf" in item or "oneOf" in item:
            stack.extend(item.get("anyOf", item.get("oneOf", [])))
            continue
        types = item.get("type")
        if isinstance(types, list):
            stack.extend({**item, "type": t} for t in types)
            continue
        out.append(item)
    return out


def _kind(schema: Schema) -> str:
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        if all(isinstance(v, str) for v in values):
            return "string"
        return "enum"
    kind = schema.get("type")
    return kind if isinstance(kind, str) else "any"


def _tag(schema: Schema) -> str | None:
    """The discriminator value of a tagged struct (its ``type`` const), else its title."""
    values = schema.get("properties", {}).get("type", {}).get("enum")
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        return values[0]
    title = schema.get("title")
    return title if isinstance(title, str) else None


def _subset(
    ctx: _Ctx,
    sub: Schema,
    sub_defs: Schema,
    sup: Schema,
    sup_defs: Schema,
    path: str,
    sub_is_new: bool,
) -> None:
    """Report where an instance valid for ``sub`` may be invalid for ``sup``."""
    sub_alts = _alternatives(sub, sub_defs)
    sup_alts = _alternatives(sup, sup_defs)
    for alt in sub_alts:
        kind = _kind(alt)
        candidates = [s for s in sup_alts if _kind(s) == kind or _kind(s) == "any"]
        if kind == "object" and len(candidates) > 1:
            tag = _tag(alt)
            candidates = [s for s in candidates if _tag(s) == tag] or candidates[:1]
        if not candidates:
            what = "widened" if sub_is_new else "narrowed"
            ctx.problems.append(f"{path}: type {what}: {kind!r} is no longer covered")
            continue
        _compare_same_kind(ctx, alt, sub_defs, candidates[0], sup_defs, path, sub_is_new)


def _compare_same_kind(
    ctx: _Ctx,
    sub: Schema,
    sub_defs: Schema,
    sup: Schema,
    sup_defs: Schema,
    path: str,
    sub_is_new: bool,
) -> None:
    key = (path, str(sorted(sub.items(), key=str))[:200], str(sub_is_new))
    if key in ctx.seen:
        return
    ctx.seen.add(key)
    if "enum" in sub and "enum" in sup:
        extra = [v for v in sub["enum"] if v not in sup["enum"]]
        # Read mode tolerates new enum values (consumers map unknown values to "unknown").
        if extra and not (ctx.mode == "read" and sub_is_new):
            ctx.problems.append(f"{path}: enum value(s) {extra} not accepted any more")
        return
    if _kind(sub) == "object":
        sub_props: Mapping[str, Schema] = sub.get("properties", {})
        sup_props: Mapping[str, Schema] = sup.get("properties", {})
        old_props, new_props = (sup_props, sub_props) if sub_is_new else (sub_props, sup_props)
        for name in old_props:
            if name not in new_props:
                ctx.problems.append(f"{path}.{name}: field removed or renamed")
        sub_req = set(sub.get("required", []))
        sup_req = set(sup.get("required", []))
        for name in sorted(sup_req - sub_req):
            if sub_is_new:
                ctx.problems.append(f"{path}.{name}: field no longer always present")
            else:
                ctx.problems.append(f"{path}.{name}: new required field")
        for name, prop in sub_props.items():
            if name in sup_props:
                _subset(
                    ctx, prop, sub_defs, sup_props[name], sup_defs, f"{path}.{name}", sub_is_new
                )
        return
    if _kind(sub) == "array":
        # "items" may be a schema or ``false`` (a fixed tuple, with "prefixItems").
        pairs = list(zip(sub.get("prefixItems", []), sup.get("prefixItems", []), strict=False))
        if isinstance(sub.get("items"), Mapping) and isinstance(sup.get("items"), Mapping):
            pairs.append((sub["items"], sup["items"]))
        for i, (a, b) in enumerate(pairs):
            _subset(ctx, a, sub_defs, b, sup_defs, f"{path}[{i}]", sub_is_new)


def breaking_changes(
    old: Schema, new: Schema, *, old_defs: Schema, new_defs: Schema, mode: Mode, path: str = "$"
) -> list[str]:
    """List the changes from ``old`` to ``new`` that break the other side (empty: compatible)."""
    ctx = _Ctx(old_defs, new_defs, mode)
    if mode == "read":
        _subset(ctx, new, new_defs, old, old_defs, path, sub_is_new=True)
    else:
        _subset(ctx, old, old_defs, new, new_defs, path, sub_is_new=False)
    return ctx.problems
