"""The C2C client against the simulator over real HTTP (loopback): reads, windows, by-codes
batches, the status write, faults, and secrets."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import pytest

from pipeline.adapter import Malformed
from pipeline.clock import ManualClock
from pipeline.errors import (
    AuthError,
    PlatformDecodeError,
    PlatformError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import HttpClient, HttpResponse, HttpSettings, RequestContext
from pipeline.platforms.c2c import SPEC
from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c import sandbox_rules as rules
from pipeline.platforms.c2c.client import C2CClassifier, C2CClient
from pipeline.platforms.c2c.commands import pair_rows
from pipeline.platforms.c2c.sandbox import C2CSandbox
from pipeline.ratelimit import RateBudget, RateLimit
from pipeline.sandbox import ISTANBUL, FaultRule, SandboxSettings, ServedSandbox, serve
from schemas import (
    AttachInvoice,
    DecideCancellation,
    DecideRefund,
    Order,
    OrderStatus,
    Outcome,
    SetStatus,
    Ship,
)

from .conftest import CREDENTIALS, START

S = OrderStatus


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(
        HttpSettings(total=2, sock_read=1, connect=1), penalty_without_retry_after=0.0
    ) as client:
        yield client


def make_client(served: ServedSandbox, http: HttpClient, **extra: Any) -> C2CClient:
    return C2CClient(
        account="main",
        base_url=served.base_url,
        credentials=extra.pop("credentials", CREDENTIALS),
        http=http,
        budget=RateBudget(RateLimit.from_config(per_minute=100_000)),
        **extra,
    )


@pytest.fixture
def client(served: ServedSandbox, http: HttpClient) -> C2CClient:
    return make_client(served, http)


def _set(order_id: str, status: OrderStatus, command_id: str = "c1", **kw: Any) -> SetStatus:
    return SetStatus(
        command_id=command_id,
        platform="c2c",
        account="main",
        order_id=order_id,
        issued_at=START,
        status=status,
        **kw,
    )


def _requests(sandbox: C2CSandbox, endpoint: str) -> list[Any]:
    return [e.json() for e in sandbox.log.matching("POST", raw.BASE_PATH + endpoint)]


async def _all(it: AsyncIterator[Any]) -> list[Any]:
    return [x async for x in it]


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def test_spec_declares_what_the_client_does() -> None:
    assert SPEC.id == "c2c" and SPEC.client is C2CClient
    assert SPEC.credential_keys == frozenset({"domain", "api_key", "api_password"})
    caps = SPEC.capabilities
    assert caps.commands == frozenset({"order.set_status"})
    assert caps.streams == frozenset({"orders"}) and caps.sweep == "by_ids"
    assert caps.max_batch == {"order.set_status": 100} and caps.max_window is None
    assert SPEC.sandbox == "pipeline.platforms.c2c.sandbox:C2CSandbox"


async def test_fetch_orders_splits_the_range_into_day_windows_and_delivers_each_order_once(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    start, end = START - dt.timedelta(days=14, minutes=30), START + dt.timedelta(minutes=1)
    orders = await _all(client.fetch_orders(start, end))
    assert all(isinstance(o, Order) for o in orders)
    assert [o.order_id for o in orders] == [o.id for o in sandbox.world.orders]
    sent = _requests(sandbox, raw.GET_ORDERS_BY_DATE)
    assert len(sent) == 15  # 14 days and 31 minutes, one day per request
    assert sent[0]["BaslangicTarihi"] == "01.01.2026 11:30"  # Istanbul wall time (UTC+3)
    assert all(b["BitisTarihi"] == n["BaslangicTarihi"] for b, n in itertools.pairwise(sent))
    assert sent[-1]["BitisTarihi"] == "15.01.2026 12:01"


async def test_window_edges_round_outwards_so_nothing_at_an_edge_is_lost(
    sandbox: C2CSandbox, served: ServedSandbox, http: HttpClient
) -> None:
    client = make_client(served, http, window=dt.timedelta(hours=1, seconds=30))
    start = START - dt.timedelta(days=2, seconds=20)
    orders = await _all(client.fetch_orders(start, START))
    floor = start.replace(second=0, microsecond=0)
    assert [o.order_id for o in orders] == [
        o.id for o in sandbox.world.orders if o.created_at >= floor
    ]
    sent = _requests(sandbox, raw.GET_ORDERS_BY_DATE)
    assert sent[0]["BaslangicTarihi"] == _local(floor)
    # a window ending at :10 s is asked up to the next minute; the next starts at its minute
    assert (sent[0]["BitisTarihi"], sent[1]["BaslangicTarihi"]) == (
        _local(floor + dt.timedelta(hours=1, minutes=2)),
        _local(floor + dt.timedelta(hours=1, minutes=1)),
    )


async def test_an_order_in_two_overlapping_windows_is_yielded_once(
    sandbox: C2CSandbox, served: ServedSandbox, http: HttpClient
) -> None:
    order = next(o for o in sandbox.world.orders[20:] if o.created_at.second < 50)
    window = dt.timedelta(hours=1, seconds=30)
    start = order.created_at - window + dt.timedelta(seconds=5)  # window 1 ends 5 s after it
    client = make_client(served, http, window=window)
    orders = await _all(client.fetch_orders(start, order.created_at + dt.timedelta(hours=1)))
    first, second = _requests(sandbox, raw.GET_ORDERS_BY_DATE)[:2]
    for sent in (first, second):  # the platform lists it in both answers
        assert _parse(sent["BaslangicTarihi"]) <= order.created_at < _parse(sent["BitisTarihi"])
    assert [o.order_id for o in orders].count(order.id) == 1


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(ISTANBUL).strftime("%d.%m.%Y %H:%M")


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%d.%m.%Y %H:%M").replace(tzinfo=ISTANBUL)


async def test_mapped_orders_match_the_ground_truth(sandbox: C2CSandbox, client: C2CClient) -> None:
    orders = {
        o.order_id: o
        for o in await _all(client.fetch_orders(START - dt.timedelta(days=15), START))
        if isinstance(o, Order)
    }
    for truth in sandbox.world.orders:
        order = orders[truth.id]
        assert order.raw_status == truth.status
        assert order.created_at == truth.created_at.replace(second=0, microsecond=0)
        assert order.totals.grand_total.amount == truth.totals.total
        assert order.totals.grand_total.currency == truth.currency
        assert [i.quantity for i in order.items] == [i.quantity for i in truth.items]
        assert [i.line_total.amount for i in order.items] == [i.total for i in truth.items]
        assert order.customer is not None and order.customer.email == truth.buyer.email


async def test_a_malformed_order_is_reported_and_the_rest_delivered(
    sandbox: C2CSandbox, client: C2CClient, caplog: pytest.LogCaptureFixture
) -> None:
    bad = sandbox.world.orders[10]
    sandbox.override_fields(bad.id, {"siparisTarihi": "yarın", "siparisUrunleri": "yok"})
    sandbox.override_fields(sandbox.world.orders[11].id, {"siparisParaBirimi": "DOLAR"})
    records = await _all(client.fetch_orders(START - dt.timedelta(days=15), START))
    malformed = [r for r in records if isinstance(r, Malformed)]
    assert [m.record_id for m in malformed] == [bad.id, sandbox.world.orders[11].id]
    assert all(m.stream == "orders" and m.endpoint == "GetOrdersDate" for m in malformed)
    assert len(records) == len(sandbox.world.orders)
    assert "malformed order" in caplog.text


async def test_fetch_order_by_code(sandbox: C2CSandbox, client: C2CClient) -> None:
    truth = sandbox.world.orders[7]
    order = await client.fetch_order(truth.id)
    assert order is not None and order.order_id == truth.id
    assert await client.fetch_order("SP-999999") is None
    assert await client.fetch_order("") is None
    sandbox.override_fields(truth.id, {"siparisTarihi": None})
    with pytest.raises(PlatformDecodeError, match=truth.id):
        await client.fetch_order(truth.id)


async def test_fetch_orders_by_codes_batches_fifty_per_call(
    clock: ManualClock, http: HttpClient
) -> None:
    sandbox = C2CSandbox(
        clock=clock, settings=SandboxSettings(seed=2, initial_orders=120), max_codes=raw.INFO_BATCH
    )
    async with serve([sandbox]) as running:
        client = make_client(running[0], http)
        codes = [o.id for o in sandbox.world.orders] + ["SP-999999"]
        orders = await _all(client.fetch_orders_by_codes(codes + codes[:5]))
        assert [o.order_id for o in orders] == codes[:-1]
        assert [
            len(b["SiparisKodlari"]) for b in _requests(sandbox, raw.GET_ORDER_INFO_BY_CODES)
        ] == [
            50,
            50,
            21,
        ]


async def test_refresh_states_batches_a_hundred_per_call_and_reads_the_coarse_vocabulary(
    clock: ManualClock, http: HttpClient
) -> None:
    sandbox = C2CSandbox(
        clock=clock,
        settings=SandboxSettings(seed=5, initial_orders=250, history=dt.timedelta(days=20)),
        max_codes=raw.STATE_BATCH,
    )
    async with serve([sandbox]) as running:
        client = make_client(running[0], http)
        codes = [o.id for o in sandbox.world.orders]
        states = await client.refresh_states([*codes, "SP-999999", ""])
        assert [len(b["SiparisKodlari"]) for b in _requests(sandbox, raw.GET_STATES_BY_CODES)] == [
            100,
            100,
            51,
        ]
        assert set(states) == set(codes)  # the unknown code is absent
        for truth in sandbox.world.orders:
            reading = states[truth.id]
            assert reading.raw == rules.coarse_state(truth.status)
            assert reading.status is not S.UNKNOWN
            assert reading.disputed == (reading.raw == "İtiraz Edildi")


async def test_state_filters_and_get_all(sandbox: C2CSandbox, client: C2CClient) -> None:
    cancelled = await _all(client.fetch_orders_in_state(6))
    assert {o.order_id for o in cancelled} == {
        o.id for o in sandbox.world.orders if o.status in rules.STATE_FILTERS[6]
    }
    assert all(o.status is S.CANCELLED for o in cancelled)
    assert _requests(sandbox, raw.GET_ORDERS_BY_STATE) == [{**_creds_body(), "SiparisDurumu": "6"}]
    with pytest.raises(ValueError, match="1-8"):
        await _all(client.fetch_orders_in_state(9))
    assert len(await _all(client.fetch_all())) == len(sandbox.world.orders)


def _creds_body() -> dict[str, str]:
    return {
        "Domain": CREDENTIALS["domain"],
        "ApiKey": CREDENTIALS["api_key"],
        "ApiPassword": CREDENTIALS["api_password"],
    }


async def test_refunds_and_cancellations_are_empty_streams_without_requests(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    assert await _all(client.fetch_refunds(START - dt.timedelta(days=1), START)) == []
    assert await _all(client.fetch_cancellations(START - dt.timedelta(days=1), START)) == []
    assert len(sandbox.log) == 0


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


def _in(sandbox: C2CSandbox, status: str, count: int) -> list[str]:
    found = [o.id for o in sandbox.world.orders if o.status == status][:count]
    assert len(found) == count, f"the seed has fewer than {count} orders at {status}"
    return found


async def test_set_status_batches_codes_and_changes_the_ground_truth(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    codes = _in(sandbox, rules.APPROVAL, 20)
    commands = [_set(code, S.PREPARING, f"c{i}") for i, code in enumerate(codes)]
    results = await client.apply(commands)
    assert [r.command_id for r in results] == [c.command_id for c in commands]
    assert {r.outcome for r in results} == {Outcome.APPLIED}
    assert all("Hazırlanıyor" in (r.message or "") for r in results)
    assert all(r.requests == 2 for r in results)  # one read, one write, shared
    assert all(sandbox.world.get(code).status == rules.PREPARING for code in codes)  # type: ignore[union-attr]
    (write,) = _requests(sandbox, raw.UPDATE_STATE_BY_CODES)
    assert write["SiparisKodlari"] == codes and write["SiparisDurumu"] == "Hazırlanıyor"

    again = await client.apply(commands)
    assert {r.outcome for r in again} == {Outcome.ALREADY_APPLIED}
    assert len(_requests(sandbox, raw.UPDATE_STATE_BY_CODES)) == 1  # nothing written twice


async def test_more_than_a_hundred_commands_take_two_writes(
    clock: ManualClock, http: HttpClient
) -> None:
    sandbox = C2CSandbox(
        clock=clock, settings=SandboxSettings(seed=4, initial_orders=300), max_codes=100
    )
    async with serve([sandbox]) as running:
        client = make_client(running[0], http)
        codes = _in(sandbox, rules.APPROVAL, 130)
        results = await client.apply([_set(c, S.SHIPPED, f"c{i}") for i, c in enumerate(codes)])
        assert {r.outcome for r in results} == {Outcome.APPLIED}
        writes = _requests(sandbox, raw.UPDATE_STATE_BY_CODES)
        assert [len(w["SiparisKodlari"]) for w in writes] == [100, 30]
        assert all(sandbox.world.get(c).items[0].shipment is not None for c in codes)  # type: ignore[union-attr]


async def test_refused_moves_and_unknown_orders_are_rejected_with_the_platforms_words(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    (delivered,) = _in(sandbox, rules.DELIVERED, 1)
    (approval,) = _in(sandbox, rules.APPROVAL, 1)
    results = await client.apply(
        [
            _set(delivered, S.PREPARING, "a"),
            _set("SP-999999", S.PREPARING, "b"),
            _set(approval, S.PREPARING, "c"),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.REJECTED, Outcome.APPLIED]
    assert results[0].message == (
        f"{delivered} kodlu siparişin durumu 'Teslim Edildi' iken 'Hazırlanıyor' olamaz."
    )
    assert results[0].platform_code == "Başarısız"
    assert "SP-999999" in (results[1].message or "")
    assert sandbox.world.get(delivered).status == rules.DELIVERED  # type: ignore[union-attr]
    (write,) = _requests(sandbox, raw.UPDATE_STATE_BY_CODES)
    assert write["SiparisKodlari"] == [delivered, approval]  # the unknown code was never sent


async def test_commands_for_one_order_keep_their_order(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    first, second = _in(sandbox, rules.APPROVAL, 2)
    results = await client.apply(
        [
            _set(first, S.PREPARING, "a"),
            _set(second, S.SHIPPED, "b"),
            _set(first, S.SHIPPED, "c"),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3
    assert sandbox.world.get(first).status == rules.SHIPPED  # type: ignore[union-attr]
    writes = _requests(sandbox, raw.UPDATE_STATE_BY_CODES)
    assert [(w["SiparisDurumu"], w["SiparisKodlari"]) for w in writes] == [
        ("Hazırlanıyor", [first]),
        ("Kargoya Verildi", [second]),
        ("Kargoya Verildi", [first]),
    ]


async def test_unsupported_commands_make_no_request(sandbox: C2CSandbox, client: C2CClient) -> None:
    (code,) = _in(sandbox, rules.APPROVAL, 1)
    common: dict[str, Any] = {
        "platform": "c2c",
        "account": "main",
        "order_id": code,
        "issued_at": START,
    }
    commands: Sequence[Any] = [
        _set(code, S.DELIVERED, "delivered"),
        _set(code, S.CANCELLED, "cancelled"),
        _set(code, S.PREPARING, "items", item_ids=("1",)),
        Ship(command_id="ship", carrier="Yurtiçi Kargo", tracking_number="312345678901", **common),
        AttachInvoice(command_id="invoice", url="https://fatura.example/1.pdf", **common),
        DecideRefund(command_id="refund", refund_id="r1", decision="approve", **common),
        DecideCancellation(command_id="cancel", cancellation_id="x", decision="reject", **common),
    ]
    results = await client.apply(commands)
    assert [r.outcome for r in results] == [Outcome.UNSUPPORTED] * len(commands)
    assert all(r.message and r.requests == 0 for r in results)
    assert "awaiting_approval (Onay Bekliyor)" in (results[0].message or "")
    assert len(sandbox.log) == 0
    assert sandbox.world.get(code).status == rules.APPROVAL  # type: ignore[union-attr]


async def test_a_lost_answer_is_settled_by_reading_the_orders_again(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    codes = _in(sandbox, rules.APPROVAL, 3)
    sandbox.faults.add(
        FaultRule(kind="malformed_json", path="UpdateOrderStateByOrderCode", times=1)
    )
    results = await client.apply([_set(c, S.PREPARING, c) for c in codes])
    assert {r.outcome for r in results} == {Outcome.APPLIED}
    assert all(r.requests == 3 for r in results)  # read, write, read again


async def test_a_timed_out_write_fails_retriably_and_the_retry_is_already_applied(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    (code,) = _in(sandbox, rules.APPROVAL, 1)
    sandbox.faults.add(
        FaultRule(kind="timeout", path="UpdateOrderStateByOrderCode", times=1, applied=True)
    )
    (first,) = await client.apply([_set(code, S.PREPARING)])
    assert first.outcome is Outcome.FAILED and first.retriable
    assert first.error and "timed out" in first.error
    assert sandbox.world.get(code).status == rules.PREPARING  # type: ignore[union-attr]
    (retry,) = await client.apply([_set(code, S.PREPARING)])
    assert retry.outcome is Outcome.ALREADY_APPLIED  # invariant 4: no second write
    assert len(_requests(sandbox, raw.UPDATE_STATE_BY_CODES)) == 1


async def test_a_failed_read_before_writing_fails_without_writing(
    sandbox: C2CSandbox, client: C2CClient
) -> None:
    (code,) = _in(sandbox, rules.APPROVAL, 1)
    sandbox.faults.add(FaultRule(kind="status", status=503, path="GetOrderInfoByOrdersCode"))
    (result,) = await client.apply([_set(code, S.PREPARING)])
    assert result.outcome is Outcome.FAILED and result.retriable
    assert _requests(sandbox, raw.UPDATE_STATE_BY_CODES) == []


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [
                {"Durum": "Başarılı", "Aciklama": "B güncellendi"},
                {"Durum": "Başarısız", "Aciklama": "A yok"},
            ],
            {"A": "A yok", "B": "B güncellendi"},
        ),
        (
            [{"Durum": "true", "Aciklama": "ok"}, {"Durum": "false", "Aciklama": "no"}],
            {"A": "ok", "B": "no"},
        ),
        ([{"Durum": "Başarılı", "Aciklama": "İşlem tamam"}], {"A": None, "B": None}),
        ([], {"A": None, "B": None}),
    ],
)
def test_answer_rows_are_paired_by_the_code_they_name_else_by_position(
    rows: list[dict[str, Any]], expected: dict[str, str | None]
) -> None:
    decoded = msgspec.convert(rows, list[raw.UpdateResult])
    paired = pair_rows(["A", "B"], decoded)
    assert {k: (v.aciklama if v else None) for k, v in paired.items()} == expected


# --------------------------------------------------------------------------------------------
# Errors and faults
# --------------------------------------------------------------------------------------------


async def test_wrong_credentials_are_an_auth_error_carrying_the_platforms_text(
    sandbox: C2CSandbox, served: ServedSandbox, http: HttpClient
) -> None:
    client = make_client(
        served, http, credentials={**CREDENTIALS, "api_password": "yanlis-parola-9"}
    )
    with pytest.raises(AuthError) as info:
        await client.fetch_order("SP-000001")
    assert info.value.platform_message == rules.ERR_AUTH
    assert info.value.status == 200 and not info.value.retriable
    (result,) = await client.apply([_set("SP-000001", S.PREPARING)])
    assert result.outcome is Outcome.FAILED and not result.retriable


async def test_the_rate_limit_refusal_in_a_200_body_is_rate_limited(
    clock: ManualClock, http: HttpClient
) -> None:
    sandbox = C2CSandbox(
        clock=clock, settings=SandboxSettings(seed=1, initial_orders=3), per_minute=1
    )
    async with serve([sandbox]) as running:
        client = make_client(running[0], http)
        await _all(client.fetch_all())
        with pytest.raises(RateLimited, match="too many requests"):
            await _all(client.fetch_all())


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (FaultRule(kind="status", status=502), RetryableError, "HTTP 502"),
        (FaultRule(kind="rate_limited", retry_after=7), RateLimited, "429"),
        (FaultRule(kind="malformed_json"), PlatformDecodeError, "malformed JSON"),
        (FaultRule(kind="html_error", style="iis"), RetryableError, "502"),
        (FaultRule(kind="html_error", status=502, style="nginx"), RetryableError, "502"),
        (FaultRule(kind="timeout"), RetryableError, "timed out"),
    ],
)
async def test_faults_end_in_typed_errors_quickly(
    sandbox: C2CSandbox, client: C2CClient, fault: FaultRule, error: type[PlatformError], text: str
) -> None:
    sandbox.faults.add(fault)
    with pytest.raises(error, match=text) as info:
        await _all(client.fetch_orders(START - dt.timedelta(hours=1), START))
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after == 7


def _response(body: bytes) -> HttpResponse:
    return HttpResponse(200, {}, body, 0.0, "/x", START)


CTX = RequestContext("c2c", "main", "GetAll")


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b'{"hata": "Sipari\xc5\x9f bulunamad\xc4\xb1."}', RejectedError, "Sipariş bulunamadı."),
        (b'{"Hata": "ApiKey hatal\xc4\xb1"}', AuthError, "ApiKey hatalı"),
        (b'{"hata": true, "mesaj": "Yetkisiz eri\xc5\x9fim"}', AuthError, "Yetkisiz erişim"),
        (b'{"hata": true}', RejectedError, "hata: True"),
        (b'{"Message": "An error has occurred."}', RejectedError, "An error has occurred."),
        (b'\xef\xbb\xbf {"hata": "\xc3\x87ok fazla istek"}', RateLimited, None),
        (b'{"basarili": false}', PlatformDecodeError, None),
    ],
)
def test_error_objects_in_a_200_body(
    body: bytes, error: type[PlatformError], message: str | None
) -> None:
    with pytest.raises(error) as info:
        C2CClassifier().classify(CTX, _response(body))
    if message is not None:
        assert info.value.platform_message == message


def test_lists_pass_the_classifier_and_a_hata_row_is_an_error(http: HttpClient) -> None:
    C2CClassifier().classify(CTX, _response(b'[{"siparisKodu": "1"}]'))
    C2CClassifier().classify(CTX, _response(b"<html>502</html>"))  # decode() reports it later
    client = C2CClient(
        account="main",
        base_url="http://127.0.0.1:9",
        credentials=CREDENTIALS,
        http=http,
        budget=RateBudget(RateLimit.from_config(per_minute=10)),
    )
    with pytest.raises(RejectedError, match="Geçersiz istek"):
        client.rows(CTX, _response(b'[{"hata": "Ge\xc3\xa7ersiz istek"}]'))
    assert client.rows(CTX, _response(b"null")) == []
    assert client.rows(CTX, _response(b"[]")) == []


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


async def test_credentials_never_reach_logs_or_exception_text(
    clock: ManualClock, http: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = {
        "domain": "gizli-magaza.example",
        "api_key": "ak-7f3e9c1d5b",
        "api_password": "pw-Zx81Qr44",
    }
    sandbox = C2CSandbox(clock=clock, settings=SandboxSettings(seed=1, initial_orders=5))
    sandbox.add_tenant("secret", secrets, initial_orders=5)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with serve([sandbox]) as running:
        good = make_client(running[0], http, credentials=secrets)
        bad = make_client(running[0], http, credentials={**secrets, "api_password": "pw-WRONG-991"})
        await _all(good.fetch_orders(START - dt.timedelta(days=8), START))
        sandbox.override_fields(
            sandbox.tenants["secret"].world.orders[0].id,
            {"siparisTarihi": f"{secrets['api_key']} {secrets['api_password']}"},
            tenant="secret",
        )
        records = await _all(good.fetch_orders(START - dt.timedelta(days=8), START))
        texts += [r.error for r in records if isinstance(r, Malformed)]
        for client, fault in ((bad, None), (good, FaultRule(kind="malformed_json"))):
            if fault:
                sandbox.faults.add(fault)
            try:
                await client.fetch_order("SP-000001")
            except PlatformError as exc:
                texts += [str(exc), repr(exc), exc.platform_message or ""]
        results = await bad.apply([_set("SP-000001", S.PREPARING)])
        texts += [r.error or "" for r in results] + [repr(good), repr(bad)]
    exported = msgspec.json.encode(sandbox.log.export()).decode()
    haystack = "\n".join([caplog.text, *texts, exported])
    assert texts and "malformed order" in caplog.text
    for value in (*secrets.values(), "pw-WRONG-991"):
        assert value not in haystack
