"""One adapter conformance suite, run against every registered platform and its sandbox over real
HTTP on 127.0.0.1: the same promises from every adapter, whatever its vendor's quirks."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pipeline import platforms
from pipeline.adapter import STREAMS, Malformed, PlatformClient, PlatformSpec
from pipeline.clock import ManualClock
from pipeline.errors import PlatformDecodeError, PlatformError, RateLimited, RetryableError
from pipeline.http import HttpClient, HttpSettings
from pipeline.ratelimit import DAY, DEFAULT_DAY_RESERVE, MINUTE, RateBudget, RateLimit
from pipeline.sandbox import FaultRule, Sandbox, SandboxSettings, ServedSandbox, serve
from schemas import COMMAND_TYPES, Money, Order, OrderStatus, Outcome
from schemas.examples import sample_commands

START = dt.datetime(2026, 5, 11, 9, 0, tzinfo=dt.UTC)
PLATFORMS = sorted(platforms.registry())


class Rig:
    def __init__(
        self,
        spec: PlatformSpec,
        sandbox: Sandbox,
        served: ServedSandbox,
        client: PlatformClient,
        clock: ManualClock,
        budget: RateBudget,
    ) -> None:
        self.spec, self.sandbox, self.served, self.client = spec, sandbox, served, client
        self.clock, self.budget = clock, budget

    async def orders(self, days: float = 20) -> list[Order | Malformed]:
        end = self.clock.now() + dt.timedelta(minutes=1)
        return [o async for o in self.client.fetch_orders(end - dt.timedelta(days=days), end)]

    def requests(self) -> int:
        return sum(1 for e in self.sandbox.log.entries if e.fault is None)


def make_client(
    spec: PlatformSpec,
    served: ServedSandbox,
    http: HttpClient,
    budget: RateBudget,
    clock: ManualClock,
    **extra: Any,
) -> PlatformClient:
    accepted = inspect.signature(spec.client).parameters
    kwargs = {k: v for k, v in {"now": clock.now, **extra}.items() if k in accepted}
    return spec.client(
        account="main",
        base_url=served.base_url,
        token_url=served.root_url + "/connect/token",
        credentials={key: f"sandbox-{key}" for key in spec.credential_keys},
        http=http,
        budget=budget,
        **kwargs,
    )


@pytest.fixture(params=PLATFORMS)
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    spec = platforms.get(request.param)
    clock = ManualClock(START)
    sandbox = platforms.sandbox_class(spec.id)(
        clock=clock,
        settings=SandboxSettings(seed=5, initial_orders=45, history=dt.timedelta(days=15)),
    )
    assert isinstance(sandbox, Sandbox)
    # The sandbox clock stands still here, so its sliding windows never empty: the platforms'
    # own limits are tested per platform (and by the benchmarks); this suite tests the rest.
    sandbox.limits.rules.clear()
    budget = RateBudget(RateLimit.from_config(per_minute=100_000))
    async with (
        serve([sandbox]) as served,
        HttpClient(HttpSettings(total=1.5, sock_read=1.0, connect=1.0)) as http,
    ):
        client = make_client(spec, served[0], http, budget, clock, page_size=5)
        yield Rig(spec, sandbox, served[0], client, clock, budget)
        await client.aclose()


async def test_every_order_in_the_window_arrives_mapped(rig: Rig) -> None:
    got = await rig.orders()
    bad = [o for o in got if isinstance(o, Malformed)]
    assert not bad, bad[:3]
    orders = [o for o in got if isinstance(o, Order)]
    truth = rig.sandbox.world.orders
    assert len({o.order_id for o in orders}) == len(truth) == 45
    assert all(o.platform == rig.spec.id and o.account == "main" for o in orders)


async def test_money_is_exact_decimal_end_to_end(rig: Rig) -> None:
    orders = [o for o in await rig.orders() if isinstance(o, Order)]
    truth_prices = sorted(i.unit_price for o in rig.sandbox.world.orders for i in o.items)
    mapped_prices = sorted(i.unit_price.amount for o in orders for i in o.items)
    if rig.spec.id == "pazarama":  # getOrdersForApi splits nothing, V1 lines are whole lines
        assert mapped_prices == truth_prices
    for order in orders:
        for money in _all_money(order):
            assert type(money.amount) is Decimal
            assert money.amount.is_finite() and money.currency in {"TRY", "EUR", "USD"}
        raw = msgspec.json.encode(order)
        assert b'"amount":"' in raw  # decimal strings, never JSON floats


def _all_money(node: Any) -> list[Money]:
    if isinstance(node, Money):
        return [node]
    if isinstance(node, msgspec.Struct):
        return [m for f in node.__struct_fields__ for m in _all_money(getattr(node, f))]
    if isinstance(node, tuple | list):
        return [m for v in node for m in _all_money(v)]
    return []


async def test_paging_across_many_pages(rig: Rig) -> None:
    await rig.orders()
    lists = [e for e in rig.sandbox.log.entries if e.method in {"GET", "POST"}]
    if rig.spec.id == "c2c":  # unpaged by design: one call per day window
        assert len(lists) >= 15
    else:
        assert len(lists) >= 45 / 5


async def test_windows_longer_than_the_maximum_are_split(rig: Rig) -> None:
    limit = rig.spec.capabilities.max_window
    if limit is None:
        pytest.skip(f"{rig.spec.id} documents no maximum window")
    end = rig.clock.now()
    got = [o async for o in rig.client.fetch_orders(end - 2.5 * limit, end)]
    assert all(not isinstance(o, Malformed) for o in got)
    assert all(e.status < 400 for e in rig.sandbox.log.entries)


async def test_every_status_the_sandbox_produces_is_mapped(rig: Rig) -> None:
    rig.sandbox.advance(30 * 86400)  # the world lives a month: cancellations, deliveries, returns
    rig.clock.advance(0)
    orders = [o for o in await rig.orders(days=50) if isinstance(o, Order)]
    assert orders
    unknown = {o.raw_status for o in orders if o.status is OrderStatus.UNKNOWN}
    assert not unknown, f"unmapped raw statuses: {unknown}"


async def test_unsupported_commands_cost_no_request(rig: Rig) -> None:
    order = rig.sandbox.world.orders[0]
    unsupported = [
        msgspec.structs.replace(c, platform=rig.spec.id, order_id=order.id)
        for c in sample_commands()
        if c.type not in rig.spec.capabilities.commands
    ]
    before = rig.requests()
    results = await rig.client.apply(unsupported)
    assert [r.command_id for r in results] == [c.command_id for c in unsupported]
    assert all(r.outcome is Outcome.UNSUPPORTED and r.message for r in results)
    assert rig.requests() == before


def test_declared_capabilities_are_consistent(rig: Rig) -> None:
    caps = rig.spec.capabilities
    assert caps.commands <= set(COMMAND_TYPES)
    assert caps.streams <= set(STREAMS) and "orders" in caps.streams
    assert all(caps.max_batch.get(c, 1) >= 1 for c in caps.commands)
    assert rig.spec.default_limit.windows


#: Each platform's default budget, window by window as ``(limit, period, per IP, commands
#: reserve)``, and the document's sentences that state it; no sentence: the document states no
#: limit and the numbers are our conservative guesses.
DOCUMENTED_LIMITS: dict[str, tuple[list[tuple[int, float, bool, float]], tuple[str, ...]]] = {
    "ecarsi": (
        [(60, MINUTE, True, 0.0), (1000, DAY, False, DEFAULT_DAY_RESERVE)],
        (
            "Her IP adresi için dakikada maksimum 60 istek",
            "Token başına günlük maksimum 1000 istek",
        ),
    ),
    "webservis": ([(25, MINUTE, False, 0.0)], ("Web servislere 1 dakikada en fazla 25 istek",)),
    "pazarama": ([(60, MINUTE, False, 0.0)], ()),
    "softtr": ([(120, MINUTE, False, 0.0)], ()),
    "c2c": ([(60, MINUTE, False, 0.0)], ()),
}
# The vendor documents beside the checkout (../shared), as CI lays them out.
PLATFORM_DOCS = Path(__file__).resolve().parents[3] / "shared" / "platform-docs"


def _folded(text: str) -> str:
    """Without whitespace and markdown emphasis (the extractions split and mark words freely)."""
    return re.sub(r"[\s*]+", "", text).casefold()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_default_limit_is_the_documented_one(platform: str) -> None:
    windows, _ = DOCUMENTED_LIMITS[platform]
    limit = platforms.get(platform).default_limit
    assert [(w.limit, w.period, w.shared, w.reserve) for w in limit.windows] == windows
    assert platforms.default_limits()[platform] is limit


@pytest.mark.parametrize("platform", PLATFORMS)
def test_default_limit_quotes_its_document(platform: str) -> None:
    doc_path = PLATFORM_DOCS / f"{platform}.txt"
    # CI and every checkout have the documents beside them (../shared): a missing one fails.
    assert doc_path.exists(), f"vendor document not found at {doc_path}"
    doc = _folded(doc_path.read_text(encoding="utf-8"))
    windows, quotes = DOCUMENTED_LIMITS[platform]
    for quote in quotes:
        assert _folded(quote) in doc
    if quotes:  # every pinned number is one the document states
        assert all(any(str(n) in q for q in quotes) for n, *_ in windows)
    if not quotes:  # the guesses stand only while the document is silent on a request limit
        silent = ("dakikada", "dakikalık", "saatte", "günlük", "ratelimit", "toomanyrequests")
        assert not [word for word in silent if word in doc]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (FaultRule(kind="status", status=503, times=1), RetryableError),
        (FaultRule(kind="rate_limited", retry_after=0.2, times=1), RateLimited),
        (FaultRule(kind="timeout", times=1), RetryableError),
        (FaultRule(kind="malformed_json", times=1), (PlatformDecodeError, RetryableError)),
        (FaultRule(kind="html_error", times=1), (PlatformDecodeError, RetryableError)),
    ],
    ids=["5xx", "429", "timeout", "malformed", "html"],
)
async def test_injected_faults_end_in_typed_errors_and_the_next_poll_recovers(
    rig: Rig, fault: FaultRule, expected: type[Exception] | tuple[type[Exception], ...]
) -> None:
    await rig.orders(days=1)  # logged in, carriers cached: the fault hits a data request
    rig.sandbox.faults.add(fault)
    with pytest.raises(expected) as info:  # type: ignore[call-overload]
        await rig.orders()
    assert isinstance(info.value, PlatformError)
    assert f"{rig.spec.id}/main" in str(info.value)
    got = await rig.orders()  # a 429 holds the budget for its Retry-After (0.2 s) first
    assert len([o for o in got if isinstance(o, Order)]) == 45


async def test_token_expiry_is_survived(rig: Rig) -> None:
    await rig.orders(days=1)
    rig.sandbox.faults.add(FaultRule(kind="token_expiry", times=1))
    got = await rig.orders()
    assert len([o for o in got if isinstance(o, Order)]) == 45


def test_readme_capability_table_matches_the_code() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("<!-- capabilities:start -->") + len("<!-- capabilities:start -->")
    end = readme.index("<!-- capabilities:end -->")
    assert readme[start:end].strip() == platforms.capability_table().strip()
