"""How hard the fuzz tests try: a small, reproducible budget in CI, a large one on demand.

``PIPELINE_FUZZ_EXAMPLES=5000 pytest tests/fuzz`` multiplies every test's example count (each
test states its CI count relative to a base of 100) and turns derandomisation off, so a long
local session explores new inputs on every run; failures are then kept in ``.hypothesis/`` and
replayed first next time. Without the variable every run sees the same inputs.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

_LONG = int(os.environ.get("PIPELINE_FUZZ_EXAMPLES", "0") or "0")


def fuzz_settings(examples: int, **extra: Any) -> settings:
    """Settings for one fuzz test: ``examples`` in CI, scaled up in a long session."""
    count = max(examples, _LONG * examples // 100) if _LONG else examples
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=not _LONG,
        database=None if not _LONG else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **extra,
    )
