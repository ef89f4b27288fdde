"""Hypothesis strategies that break a JSON document the way platforms and proxies do: a field
deleted, nulled or of the wrong type, values too large or oddly encoded, dates, money and
statuses in shapes the document never shows, personal ids and secrets inside the text."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

#: Personal ids that must come out masked wherever they are echoed (TC kimlik no, phone, VKN).
PERSONAL = ("10000000146", "05321234567", "+90 532 123 45 67", "1234567890")

BAD_TEXT = (
    "",
    " ",
    "null",
    "None",
    "undefined",
    "NaN",
    "Infinity",
    "-0",
    "1e400",
    "12,50",
    "1.234,56",
    "₺12",
    "12.345.678,90 TL",
    "0x1F",
    "٣",  # an Arabic-Indic digit: str.isdigit() and int() accept it
    "²",  # a superscript: str.isdigit() accepts it, int() does not
    " 4０4 ",  # a fullwidth zero
    "İİı",
    "i̇",
    "\u202egnp.exe",
    "\u0000",
    "\ufeff",
    "😀" * 3,
    "31.02.2024 25:61",
    "2024-13-45 10:00:00",
    "30 Şubat 2024 10:00",
    "6 Ekm 2021 14:53",
    "0000-00-00 00:00:00",
    "9999-12-31T23:59:59Z",
    "1970-01-01",
    "HAZIRLANIYOR",
    "hazırlanıyor",
    "Kargoya Verildi - İtiraz Edildi - İptal Edildi",
    "waiting ",
    "WAITING",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%s%s%n",
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(BAD_TEXT),
    st.sampled_from(PERSONAL),
)


def huge_values() -> st.SearchStrategy[Any]:
    """Oversized values: the client must stay bounded (errors truncated, no quadratic work)."""
    return st.sampled_from(
        [
            "A" * 60_000,
            "İ" * 30_000,
            "9" * 40_000,
            "a" * 30_000 + "@example.com",
            10**400,
            [0] * 20_000,
            [{"x": "y"}] * 5_000,
            {f"k{i}": i for i in range(5_000)},
        ]
    )


#: Wrong JSON types, and digits ``int()`` may or may not take.
CONFUSERS: tuple[Any, ...] = (None, True, -1, 0, 2**64, 1.5, "", " ", "²", "٣", "x", [], {}, [None])


def values(secrets: list[str]) -> st.SearchStrategy[Any]:
    odd = st.sampled_from(CONFUSERS + BAD_TEXT)
    return st.one_of(
        odd,
        odd,
        scalars,
        huge_values(),
        st.sampled_from(secrets or ["x"]),
        st.lists(scalars, max_size=3),
        st.dictionaries(st.text(max_size=8), scalars, max_size=3),
        st.sampled_from(secrets or ["x"]).map(lambda s: f"hata: {s} / Bearer {s}"),
    )


def paths(doc: Any, prefix: Path = ()) -> list[Path]:
    """Every node below ``doc`` (not ``doc`` itself)."""
    out: list[Path] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*prefix, key))
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.append((*prefix, index))
            out.extend(paths(value, (*prefix, index)))
    return out


def _parent(doc: Any, path: Path) -> Any:
    node = doc
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, doc: Any, secrets: list[str]) -> tuple[Any, str]:
    """``doc`` with one node deleted, replaced or joined by an extra field; and what was done."""
    doc = copy.deepcopy(doc)
    targets = paths(doc)
    how = draw(st.sampled_from(["replace", "replace", "replace", "delete", "extra", "whole"]))
    if how == "whole" or not targets:
        return draw(values(secrets)), "whole record replaced"
    path = draw(st.sampled_from(targets))
    parent = _parent(doc, path)
    if how == "delete":
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
        return doc, f"deleted {path}"
    if how == "extra" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = draw(values(secrets))
        return doc, f"extra field beside {path}"
    parent[path[-1]] = draw(values(secrets))
    return doc, f"replaced {path}"


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def broken_bodies(draw: st.DrawFn, good: bytes, secrets: list[str]) -> tuple[int, bytes, str]:
    """A whole answer gone wrong: status, body and a label."""
    kind = draw(
        st.sampled_from(
            [
                "truncated",
                "empty",
                "html",
                "random json",
                "random bytes",
                "bom",
                "status",
                "mutated envelope",
                "mutated envelope",
                "huge",
            ]
        )
    )
    match kind:
        case "truncated":
            cut = draw(st.integers(0, max(0, len(good) - 1)))
            return 200, good[:cut], kind
        case "empty":
            return 200, draw(st.sampled_from([b"", b" ", b"\n", b"null", b"{}", b"[]"])), kind
        case "html":
            status = draw(st.sampled_from([200, 404, 500, 502, 503]))
            return status, b"<html><body><h1>502 Bad Gateway</h1></body></html>", kind
        case "random json":
            return 200, encode(draw(values(secrets))), kind
        case "random bytes":
            return 200, draw(st.binary(max_size=200)), kind
        case "bom":
            return 200, b"\xef\xbb\xbf" + good, kind
        case "status":
            status = draw(st.sampled_from([400, 401, 403, 404, 405, 409, 418, 422, 429, 500, 503]))
            return status, draw(st.sampled_from([b"", good, encode({"message": secrets[0]})])), kind
        case "huge":
            return 200, good[:-1] + b" " * 3_000_000 + good[-1:], kind
        case _:
            doc = json.loads(good)
            broken, what = draw(mutated(doc, secrets))
            return 200, encode(broken), f"envelope {what}"
