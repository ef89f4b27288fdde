"""Budgets per (platform, account) of one process, from a per-platform defaults table."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pipeline.errors import ConfigError
from pipeline.ratelimit.budget import RateBudget, WindowLog
from pipeline.ratelimit.limits import DEFAULT_MARGIN, DEFAULT_PACE_SLICES, Lane, RateLimit

_PROCESSES_PER_IP = "rate_limit.processes_per_ip"  # the config key, for errors


class RateLimiterRegistry:
    """Budgets keyed by (platform, account), created from a per-platform defaults table.

    ``split``, the default ``commands_share`` and ``processes_per_ip`` apply to every budget it
    creates (module docstring); an account may give its own share to :meth:`get`.
    ``processes_per_ip`` (``rate_limit.processes_per_ip``) is how many processes of this one's
    role send from the same address: every ``shared`` window is divided between them (floor)
    before the commands share is taken of it.
    """

    def __init__(
        self,
        defaults: Mapping[str, RateLimit],
        *,
        fallback: RateLimit | None = None,
        margin: float = DEFAULT_MARGIN,
        pace_slices: int | None = DEFAULT_PACE_SLICES,
        commands_share: float | None = None,
        split: bool = False,
        serves: frozenset[Lane] = frozenset(Lane),
        processes_per_ip: int = 1,
    ) -> None:
        if processes_per_ip < 1:
            raise ConfigError(
                f"must be at least 1 (got {processes_per_ip})", path=_PROCESSES_PER_IP
            )
        self._processes_per_ip = processes_per_ip
        self._pace_slices = pace_slices
        self._serves = serves
        self._defaults = dict(defaults)
        self._fallback = fallback
        self._margin = margin
        self._share = commands_share
        self.split = split
        self._budgets: dict[tuple[str, str], RateBudget] = {}
        self._shared: dict[tuple[str, Lane], dict[float, WindowLog]] = {}

    def limit_for(
        self, platform: str, override: RateLimit | None = None, share: float | None = None
    ) -> RateLimit:
        """The limit a budget of ``platform`` gets: ``override`` merged over the default, every
        shared window divided by ``processes_per_ip``, then every window keeping ``share`` (else
        the registry's, else the table's reserves) for commands."""
        default = self._defaults.get(platform, self._fallback)
        if default is None:
            raise ConfigError(f"no rate limit known for platform {platform!r}", path="rate_limit")
        try:
            limit = default.merged(override).with_ip_divisor(self._processes_per_ip)
        except ValueError as exc:
            raise ConfigError(f"{platform}: {exc}", path=_PROCESSES_PER_IP) from None
        share = self._share if share is None else share
        return limit if share is None else limit.with_share(share)

    def get(
        self,
        platform: str,
        account: str,
        override: RateLimit | None = None,
        *,
        share: float | None = None,
    ) -> RateBudget:
        """The account's budget, created on first use with ``override`` merged over the default."""
        key = (platform, account)
        limit = self.limit_for(platform, override, share)
        budget = self._budgets.get(key)
        if budget is None:
            lanes = {
                lane: self._shared.setdefault((platform, lane), {})
                for lane in (Lane.POLL, Lane.COMMAND)
            }
            for w in limit.windows:
                if w.shared:
                    for logs in lanes.values():
                        logs.setdefault(w.period, WindowLog())
            budget = self._budgets[key] = RateBudget(
                limit,
                margin=self._margin,
                shared_logs=lanes[Lane.POLL],
                pace_slices=self._pace_slices,
                split=self.split,
                shared_command_logs=lanes[Lane.COMMAND],
                serves=self._serves,
            )
        elif (override is not None or share is not None) and budget.limit != limit:
            raise ConfigError(
                f"{platform}/{account} already has a budget with other limits", path="rate_limit"
            )
        return budget

    def __iter__(self) -> Iterator[tuple[tuple[str, str], RateBudget]]:
        return iter(list(self._budgets.items()))
