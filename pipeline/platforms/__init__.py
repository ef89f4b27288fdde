"""The platform registry: one folder per platform, one line here per platform.

Everything shared (config validation, rate budgets, the poller and applier, the CLI) looks
platforms up here and never imports a platform module by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Final

from pipeline.adapter import PlatformSpec
from pipeline.errors import ConfigError

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


def sandbox_class(platform: str) -> type:
    """The simulator class of a platform (imports the sandbox module on demand)."""
    spec = get(platform)
    if spec.sandbox is None:
        raise ConfigError(f"platform {platform!r} has no sandbox")
    module, _, name = spec.sandbox.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type)  # noqa: S101
    return cls
