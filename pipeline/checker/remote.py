"""The whole check over the network: a broker's bootstrap and the sandboxes' URLs, nothing shared
in memory -- what ``pipeline bench check`` and the chaos run use (the sandboxes run in another
process there).

A sandbox answers ``GET /_sandbox/audit`` (:func:`audit_sandbox`, run inside the sandbox's
process) with, in this order, its documented limits replayed on its request log, then its ground
truth read through each platform's own adapter (:func:`~pipeline.checker.truth.ground_truth`:
those reads are logged too, hence after), its applied writes, and the faults it injected.
:func:`check_remote` reads the topics and the checkpoints first and the audits last, so every
order the topics name is already in the truth.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence

import aiohttp
import msgspec

from pipeline.checker.commands import Effect, check_commands, effects_of
from pipeline.checker.events import check
from pipeline.checker.limits import limit_findings
from pipeline.checker.progress import checkpoints_behind
from pipeline.checker.reading import read_observations, read_topics
from pipeline.checker.report import Findings, Report
from pipeline.checker.truth import GroundTruth, TruthOrder, TruthRecord, ground_truth
from pipeline.config import KafkaConfig
from pipeline.errors import PipelineError
from pipeline.sandbox import Sandbox, ServedSandbox
from schemas import topics

__all__ = ["Audit", "CheckError", "audit_sandbox", "check_remote", "fetch_audit", "merge_truth"]

AUDIT_PATH = "/_sandbox/audit"


class CheckError(PipelineError):
    """A sandbox could not be audited (unreachable, not a sandbox, a broken answer)."""


class Audit(msgspec.Struct, kw_only=True):
    """One sandbox's side of the check, as JSON."""

    platform: str
    #: Each documented limit → how often it was exceeded (see ``limit_findings``).
    limits: dict[str, int]
    orders: list[TruthOrder]
    records: list[TruthRecord]
    #: (account, its streams)
    accounts: list[tuple[str, list[str]]]
    #: (account, record id, raw state)
    record_states: list[tuple[str, str, str]]
    #: (account, why its current state could not be read)
    unread: list[tuple[str, str]]
    effects: list[Effect]
    #: Faults fired by kind, and requests logged (before this audit's own reads).
    faults: dict[str, int]
    requests: int

    def truth(self) -> GroundTruth:
        p = self.platform
        return GroundTruth(
            orders={(p, o.account, o.order_id): o for o in self.orders},
            records=list(self.records),
            accounts={(p, a): frozenset(s) for a, s in self.accounts},
            record_states={(p, a, r): state for a, r, state in self.record_states},
            unread={(p, a): why for a, why in self.unread},
        )


async def audit_sandbox(sandbox: Sandbox, root_url: str, *, max_wait: float = 120.0) -> Audit:
    """Limits first (the truth's own reads are logged), then the truth, the writes, the faults."""
    requests = len(sandbox.log.entries)
    limits = limit_findings(sandbox)
    faults = dict(sandbox.faults.fired)
    port = int(root_url.rsplit(":", 1)[1])
    served = ServedSandbox(sandbox, port, root_url, root_url + sandbox.base_path)
    truth = await ground_truth([served], max_wait=max_wait)
    sandbox.sync()
    effects = [
        effect
        for label, tenant in sandbox.tenants.items()
        for effect in effects_of(sandbox.platform, label, tenant.world, tenant.world.writes)
    ]
    return Audit(
        platform=sandbox.platform,
        limits=limits,
        orders=list(truth.orders.values()),
        records=truth.records,
        accounts=[(a, sorted(s)) for (_, a), s in sorted(truth.accounts.items())],
        record_states=[(a, r, s) for (_, a, r), s in sorted(truth.record_states.items())],
        unread=[(a, why) for (_, a), why in sorted(truth.unread.items())],
        effects=effects,
        faults=faults,
        requests=requests,
    )


async def fetch_audit(url: str, *, max_wait: float = 180.0) -> Audit:
    """``GET <sandbox root>/_sandbox/audit``; ``url`` may be the root or a platform base URL."""
    root = _root(url)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max_wait)) as session,
            session.get(root + AUDIT_PATH) as response,
        ):
            body = await response.read()
            if response.status != 200:
                raise CheckError(f"{root}{AUDIT_PATH}: HTTP {response.status}: {body[:200]!r}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CheckError(f"{root}{AUDIT_PATH}: {type(exc).__name__}: {exc}") from exc
    try:
        return msgspec.json.decode(body, type=Audit)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CheckError(f"{root}{AUDIT_PATH}: not an audit ({exc})") from exc


def _root(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise CheckError(f"sandbox url {url!r}: expected http://host:port")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def merge_truth(parts: Sequence[GroundTruth]) -> GroundTruth:
    merged = GroundTruth()
    for part in parts:
        merged.orders.update(part.orders)
        merged.records.extend(part.records)
        merged.accounts.update(part.accounts)
        merged.record_states.update(part.record_states)
        merged.unread.update(part.unread)
    return merged


async def check_remote(
    bootstrap: KafkaConfig | str,
    sandbox_urls: Sequence[str],
    *,
    horizon: dt.timedelta | None = None,
    behind: dt.timedelta | Mapping[str, dt.timedelta] | None = None,
    polling_ended: dt.datetime | None = None,
    examples: int = 5,
    max_wait: float = 120.0,
) -> tuple[Report, list[Audit]]:
    """Everything: events, commands, effects, limits and (with ``behind``) checkpoint lag --
    as of ``polling_ended`` when the workers were stopped before the check (a cursor cannot
    move after that), else as of now."""
    events = await read_topics(bootstrap, max_wait=max_wait)
    command_side = await read_topics(
        bootstrap,
        [topics.COMMANDS, topics.COMMAND_RESULTS, topics.COMMANDS_DLQ],
        max_wait=max_wait,
    )
    observed = await read_observations(bootstrap, max_wait=max_wait)
    now = dt.datetime.now(dt.UTC)
    audits = list(await asyncio.gather(*(fetch_audit(u, max_wait=max_wait) for u in sandbox_urls)))
    truth = merge_truth([a.truth() for a in audits])
    report = check(events, truth, observed, horizon=horizon, now=now, examples=examples)
    check_commands(
        [r for r in command_side if r.topic == topics.COMMANDS],
        [r for r in command_side if r.topic == topics.COMMAND_RESULTS],
        [r for r in command_side if r.topic == topics.COMMANDS_DLQ],
        [effect for audit in audits for effect in audit.effects],
        report=report,
        examples=examples,
    )
    found = Findings(examples, report)
    for audit in audits:
        for name, count in sorted(audit.limits.items()):
            if "default budget" in name:  # ours, where the platform documents no limit
                if count:
                    report.own_budget_exceeded[name] = count
                continue
            report.limits_checked += 1
            if count:
                found.add("limit_exceeded", f"{name}: exceeded {count} time(s)", count)
    if behind is not None:
        lag_at = min(now, polling_ended) if polling_ended is not None else now
        checkpoints_behind(observed, behind, now=lag_at, report=report, examples=examples)
    return report, audits
