"""The platform registry: one folder per platform, one line here per platform.

Everything shared (config validation, rate budgets, the poller and applier, the CLI) looks
platforms up here and never imports a platform module by name.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
from collections.abc import Mapping
from functools import cache
from typing import Final

from pipeline.adapter import PlatformSpec
from pipeline.errors import ConfigError
from pipeline.ratelimit import RateLimit

#: platform id → module holding its ``SPEC``. Add a platform: one folder + one line.
PLATFORM_MODULES: Final[Mapping[str, str]] = {
    "pazarama": "pipeline.platforms.pazarama",
    "c2c": "pipeline.platforms.c2c",
    "ecarsi": "pipeline.platforms.ecarsi",
    "softtr": "pipeline.platforms.softtr",
    "webservis": "pipeline.platforms.webservis",
}


@cache
def registry() -> dict[str, PlatformSpec]:
    specs = {}
    for platform, module in PLATFORM_MODULES.items():
        spec = importlib.import_module(module).SPEC
        if not isinstance(spec, PlatformSpec) or spec.id != platform:
            raise TypeError(f"{module}.SPEC is not the PlatformSpec of {platform!r}")
        specs[platform] = spec
    return specs


def get(platform: str) -> PlatformSpec:
    try:
        return registry()[platform]
    except KeyError:
        known = ", ".join(sorted(PLATFORM_MODULES))
        raise ConfigError(f"unknown platform {platform!r} (known: {known})") from None


def credential_keys() -> dict[str, frozenset[str]]:
    """What :func:`pipeline.config.parse_config` needs to validate accounts."""
    return {pid: spec.credential_keys for pid, spec in registry().items()}


def default_limits() -> dict[str, RateLimit]:
    """Every platform's default rate limit (its documented one, or our guess where the document
    states none): what :class:`~pipeline.ratelimit.RateLimiterRegistry` takes."""
    return {pid: spec.default_limit for pid, spec in registry().items()}


def sandbox_class(platform: str) -> type:
    """The simulator class of a platform (imports the sandbox module on demand)."""
    spec = get(platform)
    if spec.sandbox is None:
        raise ConfigError(f"platform {platform!r} has no sandbox")
    module, _, name = spec.sandbox.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type)  # noqa: S101
    return cls


_COLUMNS: Final = (
    ("set status", "order.set_status"),
    ("ship", "order.ship"),
    ("attach invoice", "order.attach_invoice"),
    ("refund decision", "refund.decide"),
    ("cancellation decision", "cancellation.decide"),
)
_PERIODS: Final = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "day"}


def _limit_text(spec: PlatformSpec) -> str:
    parts = []
    for window in spec.default_limit.windows:
        unit = _PERIODS.get(window.period, f"{window.period:g}s")
        shared = " per IP" if window.shared else ""
        parts.append(f"{window.limit}/{unit}{shared}")
    return " + ".join(parts)


def _window_text(window: dt.timedelta | None) -> str:
    if window is None:
        return "—"
    days = window / dt.timedelta(days=1)
    return f"{days:g} d" if days == int(days) else f"< {math.ceil(days)} d"


def capability_table() -> str:
    """The README's "Platforms" table, rendered from the declared capabilities (a test keeps the
    README equal to it, and ``pipeline platforms`` prints it)."""
    head = ["platform", "orders", "refunds", "cancellations", *(c for c, _ in _COLUMNS)]
    head += ["batch sizes", "max window", "rate limit (default)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for pid, spec in sorted(registry().items()):
        caps = spec.capabilities
        cells = [f"`{pid}`"]
        cells += [
            "yes" if s in caps.streams else "—" for s in ("orders", "refunds", "cancellations")
        ]
        cells += ["yes" if cmd in caps.commands else "unsupported" for _, cmd in _COLUMNS]
        batches = [f"{cmd.split('.')[-1]} ≤{n}" for cmd, n in sorted(caps.max_batch.items())]
        cells.append(", ".join(batches) or "—")
        cells.append(_window_text(caps.max_window))
        cells.append(_limit_text(spec))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
