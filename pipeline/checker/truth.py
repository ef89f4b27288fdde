"""What the platforms hold: the sandboxes' worlds and, through each platform's own adapter, the
raw status every order and record shows now (see the package docstring for why)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import msgspec

from pipeline import platforms
from pipeline.adapter import Malformed, PlatformClient
from pipeline.errors import PipelineError
from pipeline.http import HttpClient
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import Order, Sandbox, ServedSandbox, World

__all__ = [
    "ID_FIELDS",
    "GroundTruth",
    "Key",
    "TruthOrder",
    "TruthRecord",
    "WorldLike",
    "ground_truth",
    "truth_from_worlds",
]

Key = tuple[str, str, str]  # (platform, account, order id or record id)


class WorldLike(Protocol):
    """What the truth needs of a world: a live :class:`World` or its decoded snapshot."""

    @property
    def orders(self) -> Sequence[Order]: ...

    @property
    def refunds(self) -> Sequence[Any]: ...

    @property
    def cancellations(self) -> Sequence[Any]: ...


class TruthOrder(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    account: str
    order_id: str
    created_at: dt.datetime
    changed_at: dt.datetime  # the last status change of the order or any of its items
    #: The raw status the platform's adapter reads now; None: not read (or not found).
    raw_status: str | None = None


class TruthRecord(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    account: str
    kind: str  # "refund" | "cancellation"
    record_id: str
    order_id: str
    created_at: dt.datetime
    changed_at: dt.datetime


@dataclass(slots=True)
class GroundTruth:
    orders: dict[Key, TruthOrder] = field(default_factory=dict)
    records: list[TruthRecord] = field(default_factory=list)
    #: Every account, with the streams its platform offers.
    accounts: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    #: The adapter's current raw state per (platform, account, adapter record id).
    record_states: dict[Key, str] = field(default_factory=dict)
    #: Accounts whose current state could not be read, with the reason.
    unread: dict[tuple[str, str], str] = field(default_factory=dict)


def _changed_at(history: Sequence[Any], fallback: dt.datetime) -> dt.datetime:
    return max((change.at for change in history), default=fallback)


#: How a platform may name an order in its API: the world's id, its number, or its GUID.
ID_FIELDS: Final = ("id", "number", "uuid")


def _order_name(order: Order, id_field: str) -> str:
    return str(getattr(order, id_field))


def truth_from_worlds(
    worlds: Iterable[tuple[str, str, WorldLike]],
    *,
    id_fields: Mapping[tuple[str, str], str] | None = None,
) -> GroundTruth:
    """Ground truth of ``(platform, account, world)`` triples, without current raw statuses.

    ``id_fields``: which of :data:`ID_FIELDS` an account's adapter uses as ``order_id``
    (default ``id``; :func:`ground_truth` finds it out from what the adapter reads).
    """
    truth = GroundTruth()
    for platform, account, world in worlds:
        truth.accounts[(platform, account)] = platforms.get(platform).capabilities.streams
        id_field = (id_fields or {}).get((platform, account), "id")
        names = {order.id: _order_name(order, id_field) for order in world.orders}
        for order in world.orders:
            name = names[order.id]
            truth.orders[(platform, account, name)] = TruthOrder(
                platform=platform,
                account=account,
                order_id=name,
                created_at=order.created_at,
                changed_at=_changed_at(order.history, order.created_at),
            )
        for record in (*world.refunds, *world.cancellations):
            truth.records.append(
                TruthRecord(
                    platform=platform,
                    account=account,
                    kind=record.kind,
                    record_id=record.id,
                    order_id=names.get(record.order_id, record.order_id),
                    created_at=record.created_at,
                    changed_at=_changed_at(record.history, record.created_at),
                )
            )
    return truth


def _worlds(served: Sequence[ServedSandbox]) -> Iterator[tuple[ServedSandbox, str, World]]:
    # A sandbox tenant is an account: the config's `account` is the tenant's label.
    for s in served:
        for label, tenant in s.sandbox.tenants.items():
            yield s, label, tenant.world


@dataclass(slots=True)
class _Current:
    """What one account's adapter reads now."""

    orders: dict[str, str] = field(default_factory=dict)  # order_id → raw status
    records: dict[str, str] = field(default_factory=dict)  # record id → raw state
    error: str | None = None


async def ground_truth(
    served: Sequence[ServedSandbox], *, current: bool = True, max_wait: float = 120.0
) -> GroundTruth:
    """The worlds of ``served`` and, with ``current``, what each adapter reads there now.

    The reads run with the sandboxes' rate-limit rules suspended and are logged (see the module
    docstring). A failed read is recorded in ``unread``; those accounts' statuses go unjudged.
    """
    worlds = list(_worlds(served))
    if not current:
        return truth_from_worlds((s.sandbox.platform, a, w) for s, a, w in worlds)
    reads: dict[tuple[str, str], _Current] = {}
    async with HttpClient() as http, asyncio.TaskGroup() as group:
        for s in served:
            group.create_task(_read_sandbox(s, reads, http, max_wait))
    id_fields = {
        (s.sandbox.platform, a): _id_field(w, reads[(s.sandbox.platform, a)].orders)
        for s, a, w in worlds
    }
    truth = truth_from_worlds(
        ((s.sandbox.platform, a, w) for s, a, w in worlds), id_fields=id_fields
    )
    for (platform, account), read in reads.items():
        if read.error is not None:
            truth.unread[(platform, account)] = read.error
        for order_id, raw_status in read.orders.items():
            key = (platform, account, order_id)
            known = truth.orders.get(key)
            # "": the platform shows no status of its own (Softtr: the status is whatever the
            # seller last set through the pipeline), so there is nothing to compare with.
            if known is not None and raw_status:
                truth.orders[key] = msgspec.structs.replace(known, raw_status=raw_status)
        for record_id, raw_state in read.records.items():
            truth.record_states[(platform, account, record_id)] = raw_state
    return truth


def _id_field(world: WorldLike, adapter_ids: Iterable[str]) -> str:
    ids = set(adapter_ids)
    hits = {f: sum(_order_name(o, f) in ids for o in world.orders) for f in ID_FIELDS}
    return max(ID_FIELDS, key=lambda f: (hits[f], f == "id"))


async def _read_sandbox(
    s: ServedSandbox, reads: dict[tuple[str, str], _Current], http: HttpClient, max_wait: float
) -> None:
    spec = platforms.get(s.sandbox.platform)
    with _limits_suspended(s.sandbox):
        for label, tenant in list(s.sandbox.tenants.items()):
            read = reads[(spec.id, label)] = _Current()
            budget = RateBudget(RateLimit.from_config(per_minute=1_000_000))
            client = spec.client(
                account=label,
                base_url=s.base_url,
                token_url=s.root_url + "/connect/token",
                credentials=dict(tenant.credentials),
                http=http,
                budget=budget,
            )
            try:
                async with asyncio.timeout(max_wait):
                    await _read_account(client, tenant.world, read, s.sandbox.clock.now())
            except (PipelineError, TimeoutError) as exc:
                read.error = f"{type(exc).__name__}: {exc}"
            finally:
                await client.aclose()


@contextlib.contextmanager
def _limits_suspended(sandbox: Sandbox) -> Iterator[None]:
    saved = sandbox.limits.rules
    sandbox.limits.rules = []
    try:
        yield
    finally:
        sandbox.limits.rules = saved


async def _read_account(
    client: PlatformClient, world: World, read: _Current, now: dt.datetime
) -> None:
    created = [o.created_at for o in world.orders]
    if not created:
        return
    # An hour of margin on both sides: adapters round windows to their platform's precision.
    start = min(created) - dt.timedelta(hours=1)
    end = now + dt.timedelta(hours=1)
    async for order in client.fetch_orders(start, end):
        if not isinstance(order, Malformed):
            read.orders[order.order_id] = order.raw_status
    streams = client.capabilities.streams
    if "refunds" in streams:
        async for refund in client.fetch_refunds(start, end):
            if not isinstance(refund, Malformed):
                read.records[refund.refund_id] = refund.raw_state
    if "cancellations" in streams:
        async for cancel in client.fetch_cancellations(start, end):
            if not isinstance(cancel, Malformed):
                read.records[cancel.cancellation_id] = cancel.raw_state
