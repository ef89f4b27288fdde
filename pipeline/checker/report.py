"""Violations by kind, and what was looked at."""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "COMMAND_KINDS",
    "EVENT_KINDS",
    "KINDS",
    "OTHER_KINDS",
    "Findings",
    "Report",
    "new_report",
]

#: Violations of the events check (:func:`pipeline.checker.check`).
EVENT_KINDS: Final = (
    "missing_created",
    "stale_status",
    "missing_record",
    "conflicting_id",
    "bad_id",
    "unknown",
    "malformed",
    "unobserved",
)
#: Violations of the commands check (:func:`pipeline.checker.check_commands`).
COMMAND_KINDS: Final = (
    "missing_result",
    "extra_result",
    "orphan_result",
    "not_in_dlq",
    "unexplained_effect",
    "double_effect",
)
#: Limits replayed on the request logs, and streams whose checkpoint lags.
OTHER_KINDS: Final = ("limit_exceeded", "checkpoint_behind")
KINDS: Final = EVENT_KINDS + COMMAND_KINDS + OTHER_KINDS


class Report(msgspec.Struct, kw_only=True):
    """Violations by kind (``counts``, ``examples``) and what was looked at."""

    counts: dict[str, int]
    examples: dict[str, list[str]]
    records: int = 0  # records read from the event topics
    events: dict[str, int] = msgspec.field(default_factory=dict)  # by type, repeats included
    distinct_ids: int = 0
    repeats: int = 0  # the same id with the same content again (at-least-once)
    orders: int = 0  # ground-truth orders within the polled horizon
    statuses_checked: int = 0
    in_flux: int = 0  # orders and records that changed after their last complete poll began
    unverified: int = 0  # no current status could be read for them
    unmapped: int = 0  # due orders the pipeline holds as unmapped (checkpoint ``malformed``)
    commands: int = 0  # distinct command ids on commands.v1 (undecodable records included)
    undecodable: int = 0  # records on commands.v1 that are not a command
    results: dict[str, int] = msgspec.field(default_factory=dict)  # by outcome, repeats included
    result_repeats: int = 0  # the same result record again (at-least-once delivery)
    dead_letters: int = 0
    #: Our own default budget (platforms that document no limit) exceeded: not a violation.
    own_budget_exceeded: dict[str, int] = msgspec.field(default_factory=dict)
    effects: int = 0  # writes the platforms applied
    limits_checked: int = 0  # documented limits replayed on request logs
    streams: int = 0  # account streams whose checkpoint lag was judged

    @property
    def ok(self) -> bool:
        return not any(self.counts.values())

    @property
    def violations(self) -> int:
        return sum(self.counts.values())

    def add(self, kind: str, text: str, *, examples: int = 5, count: int = 1) -> None:
        """Count ``count`` violations of ``kind`` (one of :data:`KINDS`), keeping a few
        descriptions."""
        if kind not in KINDS:
            raise ValueError(f"unknown violation kind {kind!r}")
        self.counts[kind] = self.counts.get(kind, 0) + count
        kept = self.examples.setdefault(kind, [])
        if len(kept) < examples:
            kept.append(text)

    def summary(self) -> str:
        lines = [
            f"{self.records} records, {self.distinct_ids} distinct events "
            f"({self.repeats} repeats), {self.orders} orders due, {self.statuses_checked} "
            f"statuses checked, {self.in_flux} in flux, {self.unverified} unverified, "
            f"{self.unmapped} held as unmapped: " + ("OK" if self.ok else "VIOLATIONS")
        ]
        if self.commands or self.effects or self.limits_checked or self.streams:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.results.items()))
            lines.append(
                f"{self.commands} commands ({self.undecodable} undecodable), results: "
                f"{outcomes or 'none'}; {self.dead_letters} dead letters, {self.effects} "
                f"effects, {self.limits_checked} limits replayed, {self.streams} streams"
            )
        for kind in KINDS:
            if self.counts.get(kind):
                lines.append(f"  {kind}: {self.counts[kind]}")
                lines.extend(f"    {example}" for example in self.examples.get(kind, []))
        return "\n".join(lines)


class Findings:
    """Where a check counts what it finds: a fresh report's counts and examples."""

    def __init__(self, examples: int, report: Report | None = None) -> None:
        self.report = report if report is not None else new_report()
        self.counts = self.report.counts
        self.examples = self.report.examples
        self._limit = examples

    def add(self, kind: str, text: str, count: int = 1) -> None:
        self.report.add(kind, text, examples=self._limit, count=count)


def new_report() -> Report:
    return Report(counts=dict.fromkeys(KINDS, 0), examples={kind: [] for kind in KINDS})
