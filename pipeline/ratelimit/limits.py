"""Windows and limits: what a budget enforces and the commands' share of each window (the package
docstring has the rules). Each platform's documented limit is the ``RATE_LIMIT`` of its own
``payloads`` module, and reaches the machinery through the platform registry."""

from __future__ import annotations

import enum
import math

import msgspec

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
DEFAULT_DAY_RESERVE = 0.2
#: Of every window, what commands keep (``rate_limit.commands_share``): e-Çarşı's day split stays
#: 800 polls / 200 commands as before, and a minute window's polls rarely need more than 80 %.
DEFAULT_COMMANDS_SHARE = 0.2
# Our clock and the platform's never agree to the millisecond, and a request leaves a little after
# it took its slot: the registry lengthens every window by this much so a burst that is legal for
# us is legal for the server too.
DEFAULT_MARGIN = 1.0
# Polls may burst a tenth of the shortest window, then flow at its rate (see the docstring).
DEFAULT_PACE_SLICES = 10


class Lane(enum.Enum):
    COMMAND = "command"
    POLL = "poll"


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``limit`` requests in any ``period`` seconds; polls leave the last ``reserve``."""

    limit: int
    period: float
    reserve: float = 0.0
    shared: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period > 0:
            raise ValueError(f"a window needs limit >= 1 and period > 0, got {self!r}")
        if not 0 <= self.reserve < 1:
            raise ValueError(f"reserve is a fraction in [0, 1), got {self.reserve!r}")

        if self.reserve > 0 and self.limit < 2:
            raise ValueError(
                f"a window of {self.limit} request cannot be shared between polls and commands"
                f" (limit {self.limit} per {self.period:g}s, commands share {self.reserve:g})"
            )

    @property
    def command_share(self) -> int:
        """Requests of the window that belong to commands: ``max(1, floor(limit * reserve))``."""
        if self.reserve <= 0:
            return 0
        # round() first: 1000 * 0.2 is 200.00000000000003 in floats.
        return max(1, math.floor(round(self.limit * self.reserve, 6)))

    @property
    def poll_limit(self) -> int:
        return self.limit - self.command_share

    def lane_limit(self, lane: Lane, *, split: bool = False) -> int:
        """What ``lane`` may hold of this window: pooled, commands may take all of it; split,
        each lane its own share (a window without a share is all the polls')."""
        if lane is Lane.POLL:
            return self.poll_limit
        return self.command_share if split else self.limit


class RateLimit(msgspec.Struct, frozen=True):
    """The windows one budget enforces together; periods must differ."""

    windows: tuple[Window, ...]

    def __post_init__(self) -> None:
        periods = [w.period for w in self.windows]
        if len(set(periods)) != len(periods):
            raise ValueError(f"two windows with the same period in {self!r}")

    @classmethod
    def from_config(
        cls,
        per_second: int | None = None,
        per_minute: int | None = None,
        per_hour: int | None = None,
        per_day: int | None = None,
        *,
        day_reserve: float = DEFAULT_DAY_RESERVE,
    ) -> RateLimit:
        """Build from the config keys (``rate_limit = { per_minute = 60, per_day = 1000 }``)."""
        pairs = ((per_second, SECOND), (per_minute, MINUTE), (per_hour, HOUR), (per_day, DAY))
        # The registry applies the configured commands share to every window (with_share); this
        # day reserve is what a budget built straight from the config keys keeps.
        windows = tuple(
            Window(limit=n, period=p, reserve=day_reserve if p >= DAY else 0.0)
            for n, p in pairs
            if n is not None
        )
        return cls(windows)

    def with_share(self, share: float) -> RateLimit:
        """Every window with ``share`` of it kept for commands (see the module docstring)."""
        if not 0 <= share < 1:
            raise ValueError(f"a commands share is a fraction in [0, 1), got {share!r}")
        return RateLimit(tuple(msgspec.structs.replace(w, reserve=share) for w in self.windows))

    def with_ip_divisor(self, processes: int) -> RateLimit:
        """Every ``shared`` (per-IP) window divided, floor, between ``processes`` processes of one
        role that send from the same address (``rate_limit.processes_per_ip``); the other windows
        as they are. The commands share is taken of the divided limit afterwards.

        Raises :class:`ValueError` if a shared window would keep fewer than 2 requests (polls and
        commands each keep a share of every window)."""
        if processes < 1:
            raise ValueError(f"processes per IP must be at least 1, got {processes!r}")
        if processes == 1:
            return self
        windows = []
        for w in self.windows:
            if w.shared:
                each = w.limit // processes
                if each < 2:
                    raise ValueError(
                        f"{w.limit} per {w.period:g}s per IP divided between {processes}"
                        f" processes leaves {each}; must leave at least 2: polls and commands"
                        " each keep a share of every window"
                    )
                w = msgspec.structs.replace(w, limit=each)
            windows.append(w)
        return RateLimit(tuple(windows))

    def merged(self, override: RateLimit | None) -> RateLimit:
        """``override``'s limits win per period; reserve and sharing stay as the defaults say."""
        if override is None:
            return self
        by_period = {w.period: w for w in self.windows}
        for w in override.windows:
            base = by_period.get(w.period)
            by_period[w.period] = (
                w if base is None else msgspec.structs.replace(base, limit=w.limit)
            )
        return RateLimit(tuple(sorted(by_period.values(), key=lambda w: w.period)))
