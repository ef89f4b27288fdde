"""The C2C simulator over real HTTP: every endpoint, every rejection, the status rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.clock import ManualClock
from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c import sandbox_rules as rules
from pipeline.platforms.c2c.sandbox import C2CSandbox
from pipeline.sandbox import ISTANBUL, SandboxSettings, ServedSandbox, serve

from .conftest import BODY, START, post

DATA = Path(__file__).resolve().parents[2] / "data" / "c2c"
ORDER_KEYS = set(json.loads((DATA / "GetAll.response.json").read_bytes())[0])
PRODUCT_KEYS = set(
    json.loads((DATA / "GetAll.response.json").read_bytes())[0]["siparisUrunleri"][0]
)
DATE = re.compile(r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}$")


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(ISTANBUL).strftime("%d.%m.%Y %H:%M")


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


async def test_get_all_renders_every_order_in_the_documents_shape(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    status, orders = await post(session, served, raw.GET_ALL, BODY)
    assert status == 200 and isinstance(orders, list)
    assert [o["siparisKodu"] for o in orders] == [o.id for o in sandbox.world.orders]
    for order in orders:
        assert set(order) == ORDER_KEYS
        assert DATE.match(order["siparisTarihi"])
        assert order["siparisDurumu"] in raw.ORDER_STATUSES
        assert order["siparisParaBirimi"] in raw.CURRENCIES
        assert order["siparisOdemeTuru"] in raw.PAYMENT_TYPES
        for product in order["siparisUrunleri"]:
            assert set(product) == PRODUCT_KEYS
            assert isinstance(product["urunFiyat"], float)  # a JSON number, like the sample
            assert re.match(r"^\d{2}\.\d{2}\.\d{4}$", product["urunKargoTeslimTarihi"])


async def test_money_is_rendered_like_a_dotnet_double_and_adds_up(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(
        served.base_url + raw.GET_ALL, data=msgspec.json.encode(BODY)
    ) as response:
        body = await response.read()
    orders = msgspec.json.decode(body, type=list[raw.Order])
    for order, truth in zip(orders, sandbox.world.orders, strict=True):
        goods = truth.totals.subtotal - truth.totals.discount
        assert order.siparis_tutari == goods
        assert order.siparis_toplam_tutar is not None
        assert abs(order.siparis_toplam_tutar - truth.totals.total) < Decimal("1e-9")
        shares = (
            order.siparis_alt_uye_is_yeri,
            order.siparis_uye_is_yeri,
            order.siparis_iyzico_komisyonu,
        )
        assert sum(s for s in shares if s is not None) == truth.totals.total
    assert b".0," in body  # 50.0, as the sample prints an integral double


async def test_orders_by_date_is_start_inclusive_end_exclusive_in_istanbul_time(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    order = sandbox.world.orders[40]
    minute = order.created_at.replace(second=0, microsecond=0)
    body = {**BODY, "BaslangicTarihi": _stamp(minute - dt.timedelta(hours=1))}
    _, before = await post(
        session, served, raw.GET_ORDERS_BY_DATE, {**body, "BitisTarihi": _stamp(minute)}
    )
    _, through = await post(
        session,
        served,
        raw.GET_ORDERS_BY_DATE,
        {**body, "BitisTarihi": _stamp(minute + dt.timedelta(minutes=1))},
    )
    assert order.id not in {o["siparisKodu"] for o in before}
    assert order.id in {o["siparisKodu"] for o in through}
    expected = sandbox.world.orders_between(
        minute - dt.timedelta(hours=1), minute + dt.timedelta(minutes=1)
    )
    assert [o["siparisKodu"] for o in through] == [o.id for o in expected]


async def test_the_documents_own_date_request_is_accepted(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    sample = json.loads((DATA / "GetOrdersDate.request.json").read_bytes())
    status, answer = await post(session, served, raw.GET_ORDERS_BY_DATE, {**sample, **BODY})
    assert status == 200 and answer == []  # April 2022: long before the sandbox's orders


@pytest.mark.parametrize("value", ["1", 1, "7", 8, " 6 "])
async def test_orders_by_state_filters_as_the_document_lists(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession, value: Any
) -> None:
    status, orders = await post(
        session, served, raw.GET_ORDERS_BY_STATE, {**BODY, "SiparisDurumu": value}
    )
    number = int(str(value).strip())
    wanted = rules.STATE_FILTERS[number]
    assert status == 200
    assert [o["siparisKodu"] for o in orders] == [
        o.id for o in sandbox.world.orders if o.status in wanted
    ]
    assert all(o["siparisDurumu"] in wanted for o in orders)


async def test_order_info_by_codes_returns_known_codes_once_in_request_order(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    a, b = sandbox.world.orders[5].id, sandbox.world.orders[2].id
    _, orders = await post(
        session,
        served,
        raw.GET_ORDER_INFO_BY_CODES,
        {**BODY, "SiparisKodlari": [a, "SP-999999", b, a]},
    )
    assert [o["siparisKodu"] for o in orders] == [a, b]


async def test_states_by_codes_answer_in_the_coarse_vocabulary(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    codes = [o.id for o in sandbox.world.orders]
    _, rows = await post(
        session, served, raw.GET_STATES_BY_CODES, {**BODY, "SiparisKodlari": codes}
    )
    assert [r["siparisKodu"] for r in rows] == codes
    for row, order in zip(rows, sandbox.world.orders, strict=True):
        assert set(row) == {"siparisKodu", "siparisDurumu"}
        assert row["siparisDurumu"] in raw.STATE_VOCABULARY
        assert row["siparisDurumu"] == rules.coarse_state(order.status)


async def test_credential_names_are_matched_case_insensitively(
    served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    body = {"domain": BODY["Domain"], "APIKEY": BODY["ApiKey"], "apiPassword": BODY["ApiPassword"]}
    status, orders = await post(session, served, raw.GET_ALL, body)
    assert status == 200 and isinstance(orders, list) and orders


# --------------------------------------------------------------------------------------------
# Rejections: all HTTP 200 with {"hata": ...}
# --------------------------------------------------------------------------------------------

UPDATED = "kodlu siparişin durumu 'Hazırlanıyor' olarak güncellendi."
REFUSED = "kodlu siparişin durumu 'Teslim Edildi' iken 'Hazırlanıyor' olamaz."
WRONG = {**BODY, "ApiPassword": "yanlis-parola-123"}


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    [
        (raw.GET_ALL, b"not json", rules.ERR_BODY),
        (raw.GET_ALL, b"[1, 2]", rules.ERR_BODY),
        (raw.GET_ALL, {}, rules.ERR_AUTH),
        (raw.GET_ALL, WRONG, rules.ERR_AUTH),
        (raw.GET_ALL, {k: v for k, v in BODY.items() if k != "Domain"}, rules.ERR_AUTH),
        (raw.GET_ORDER_INFO_BY_CODES, BODY, rules.ERR_CODES),
        (raw.GET_ORDER_INFO_BY_CODES, {**BODY, "SiparisKodlari": []}, rules.ERR_CODES),
        (raw.GET_ORDER_INFO_BY_CODES, {**BODY, "SiparisKodlari": "SP-000001"}, rules.ERR_CODES),
        (raw.GET_STATES_BY_CODES, {**BODY, "SiparisKodlari": [1, 2]}, rules.ERR_CODES),
        (raw.GET_STATES_BY_CODES, {**BODY, "SiparisKodlari": [""]}, rules.ERR_CODES),
        (raw.GET_ORDERS_BY_DATE, BODY, rules.ERR_DATE),
        (
            raw.GET_ORDERS_BY_DATE,
            {**BODY, "BaslangicTarihi": "2026-01-01 00:00", "BitisTarihi": "02.01.2026 00:00"},
            rules.ERR_DATE,
        ),
        (
            raw.GET_ORDERS_BY_DATE,
            {**BODY, "BaslangicTarihi": "01.01.2026", "BitisTarihi": "02.01.2026"},
            rules.ERR_DATE,
        ),
        (
            raw.GET_ORDERS_BY_DATE,
            {**BODY, "BaslangicTarihi": "31.02.2026 00:00", "BitisTarihi": "02.03.2026 00:00"},
            rules.ERR_DATE,
        ),
        (
            raw.GET_ORDERS_BY_DATE,
            {**BODY, "BaslangicTarihi": "02.01.2026 00:00", "BitisTarihi": "01.01.2026 00:00"},
            rules.ERR_RANGE,
        ),
        (raw.GET_ORDERS_BY_STATE, BODY, rules.ERR_FILTER),
        (raw.GET_ORDERS_BY_STATE, {**BODY, "SiparisDurumu": "0"}, rules.ERR_FILTER),
        (raw.GET_ORDERS_BY_STATE, {**BODY, "SiparisDurumu": 9}, rules.ERR_FILTER),
        (raw.GET_ORDERS_BY_STATE, {**BODY, "SiparisDurumu": 3.0}, rules.ERR_FILTER),
        (raw.GET_ORDERS_BY_STATE, {**BODY, "SiparisDurumu": True}, rules.ERR_FILTER),
        (raw.GET_ORDERS_BY_STATE, {**BODY, "SiparisDurumu": "İptal"}, rules.ERR_FILTER),
        (
            raw.UPDATE_STATE_BY_CODES,
            {**BODY, "SiparisKodlari": ["SP-000001"], "SiparisDurumu": "Teslim Edildi"},
            rules.ERR_TARGET,
        ),
        (
            raw.UPDATE_STATE_BY_CODES,
            {**BODY, "SiparisKodlari": ["SP-000001"], "SiparisDurumu": "hazırlanıyor"},
            rules.ERR_TARGET,
        ),
        (raw.UPDATE_STATE_BY_CODES, {**BODY, "SiparisDurumu": "Hazırlanıyor"}, rules.ERR_CODES),
    ],
)
async def test_refusals_are_http_200_with_a_hata_text(
    sandbox: C2CSandbox,
    served: ServedSandbox,
    session: aiohttp.ClientSession,
    endpoint: str,
    body: Any,
    message: str,
) -> None:
    before = [o.status for o in sandbox.world.orders]
    status, answer = await post(session, served, endpoint, body)
    assert (status, answer) == (200, {"hata": message})
    assert [o.status for o in sandbox.world.orders] == before


async def test_code_limit_when_one_is_set(clock: ManualClock) -> None:
    sandbox = C2CSandbox(
        clock=clock, settings=SandboxSettings(seed=1, initial_orders=5), max_codes=3
    )
    async with serve([sandbox]) as running, aiohttp.ClientSession() as session:
        body = {**BODY, "SiparisKodlari": ["a", "b", "c", "d"]}
        _, answer = await post(session, running[0], raw.GET_STATES_BY_CODES, body)
        assert answer == {"hata": rules.ERR_TOO_MANY_CODES.format(limit=3)}
        _, answer = await post(
            session, running[0], raw.GET_STATES_BY_CODES, {**body, "SiparisKodlari": ["a"]}
        )
        assert answer == []


async def test_rate_limit_answers_in_the_vendors_error_shape(clock: ManualClock) -> None:
    sandbox = C2CSandbox(
        clock=clock, settings=SandboxSettings(seed=1, initial_orders=2), per_minute=3
    )
    async with serve([sandbox]) as running, aiohttp.ClientSession() as session:
        answers = [(await post(session, running[0], raw.GET_ALL, BODY))[1] for _ in range(4)]
        assert all(isinstance(a, list) for a in answers[:3])
        assert answers[3] == {"hata": rules.ERR_RATE}
        assert sandbox.limits.violations["per-store"] == 1
        sandbox.advance(61)
        assert isinstance((await post(session, running[0], raw.GET_ALL, BODY))[1], list)
        # wrong credentials are not the store's budget
        assert (await post(session, running[0], raw.GET_ALL, WRONG))[1] == {"hata": rules.ERR_AUTH}


# --------------------------------------------------------------------------------------------
# The write
# --------------------------------------------------------------------------------------------


async def test_update_answers_one_row_per_code_and_moves_only_allowed_orders(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    approval = [o for o in sandbox.world.orders if o.status == rules.APPROVAL][:2]
    delivered = next(o for o in sandbox.world.orders if o.status == rules.DELIVERED)
    codes = [approval[0].id, "SP-999999", delivered.id, approval[1].id]
    status, rows = await post(
        session,
        served,
        raw.UPDATE_STATE_BY_CODES,
        {**BODY, "SiparisKodlari": codes, "SiparisDurumu": "Hazırlanıyor"},
    )
    assert status == 200
    assert rows == [
        {
            "Durum": "Başarılı",
            "Aciklama": f"{approval[0].id} {UPDATED}",
        },
        {"Durum": "Başarısız", "Aciklama": "SP-999999 kodlu sipariş bulunamadı."},
        {
            "Durum": "Başarısız",
            "Aciklama": f"{delivered.id} {REFUSED}",
        },
        {
            "Durum": "Başarılı",
            "Aciklama": f"{approval[1].id} {UPDATED}",
        },
    ]
    assert approval[0].status == approval[1].status == rules.PREPARING
    assert delivered.status == rules.DELIVERED
    writes = sandbox.world.writes
    assert [w.outcome for w in writes] == ["applied", "rejected", "rejected", "applied"]
    (entry,) = sandbox.log.matching("POST", raw.BASE_PATH + raw.UPDATE_STATE_BY_CODES)
    assert {w.request_id for w in writes} == {entry.id}


async def test_shipping_books_a_shipment_the_list_then_shows(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    order = next(
        o
        for o in sandbox.world.orders
        if o.status == rules.PREPARING and o.items[0].shipment is None
    )
    _, rows = await post(
        session,
        served,
        raw.UPDATE_STATE_BY_CODES,
        {**BODY, "SiparisKodlari": [order.id], "SiparisDurumu": "Kargoya Verildi"},
    )
    assert rows[0]["Durum"] == "Başarılı"
    assert order.status == rules.SHIPPED
    assert all(item.shipment is not None for item in order.items)
    _, (shown,) = await post(
        session, served, raw.GET_ORDER_INFO_BY_CODES, {**BODY, "SiparisKodlari": [order.id]}
    )
    tracking = order.items[0].shipment.tracking_number  # type: ignore[union-attr]
    assert {p["urunKargoTakipNo"] for p in shown["siparisUrunleri"]} == {tracking}
    assert shown["siparisUrunleri"][0]["urunKargo"] == order.items[0].shipment.carrier_name  # type: ignore[union-attr]


async def test_writing_the_current_status_is_accepted_and_changes_nothing(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    order = next(o for o in sandbox.world.orders if o.status == rules.PREPARING)
    history = len(order.history)
    _, rows = await post(
        session,
        served,
        raw.UPDATE_STATE_BY_CODES,
        {**BODY, "SiparisKodlari": [order.id], "SiparisDurumu": "Hazırlanıyor"},
    )
    assert rows[0]["Durum"] == "Başarılı"
    assert len(order.history) == history and sandbox.world.writes[-1].outcome == "noop"


def test_every_status_is_reachable_and_the_seller_table_only_has_writable_targets() -> None:
    starts = {rules.APPROVAL, rules.AWAITING_PAYMENT, rules.INCOMPLETE}
    edges: dict[str, set[str]] = {}
    for rule in rules.AUTOMATIC:
        edges.setdefault(rule.source, set()).add(rule.target)
    for source, targets in rules.SELLER.items():
        edges.setdefault(source, set()).update(targets)
        assert targets <= set(raw.WRITABLE_STATUSES)
    seen, queue = set(starts), deque(starts)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert seen == set(raw.ORDER_STATUSES)
    assert {rules.coarse_state(s) for s in raw.ORDER_STATUSES} == set(raw.STATE_VOCABULARY)


writes = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=39),
        st.sampled_from([*raw.WRITABLE_STATUSES, "Teslim Edildi", "Tamamlandı"]),
        st.sampled_from([0.0, 600.0, 6 * 3600.0, 2 * 86400.0]),
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=25)
@given(writes)
def test_random_write_sequences_never_leave_the_seller_table(
    sequence: list[tuple[int, str, float]],
) -> None:
    async def run() -> C2CSandbox:
        sandbox = C2CSandbox(
            clock=ManualClock(START), settings=SandboxSettings(seed=3, initial_orders=40)
        )
        async with (
            serve([sandbox], shutdown_timeout=0.5) as running,
            aiohttp.ClientSession() as session,
        ):
            for index, target, wait in sequence:
                code = sandbox.world.orders[index].id
                await post(
                    session,
                    running[0],
                    raw.UPDATE_STATE_BY_CODES,
                    {**BODY, "SiparisKodlari": [code], "SiparisDurumu": target},
                )
                sandbox.advance(wait)
        return sandbox

    sandbox = asyncio.run(run())
    sent = [t for _, t, _ in sequence if t in raw.WRITABLE_STATUSES]
    assert [w.details["status"] for w in sandbox.world.writes] == sent
    for order in sandbox.world.orders:
        for change in order.history:
            if change.actor == "seller" and change.source is not None:
                assert change.target in rules.SELLER.get(change.source, frozenset()), change
                assert change.target in raw.WRITABLE_STATUSES


# --------------------------------------------------------------------------------------------
# The request log
# --------------------------------------------------------------------------------------------


async def test_exported_log_masks_every_credential_value_even_wrong_ones(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    await post(session, served, raw.GET_ALL, BODY)
    await post(session, served, raw.GET_ALL, WRONG)
    exported = msgspec.json.encode(sandbox.log.export()).decode()
    for secret in (*BODY.values(), WRONG["ApiPassword"]):
        assert secret not in exported
    assert exported.count('"ApiPassword\\":\\"***\\"') == 2
    assert [e.identity for e in sandbox.log.entries] == ["main:body", "invalid:body"]


async def test_malformed_record_hook_changes_one_rendering_only(
    sandbox: C2CSandbox, served: ServedSandbox, session: aiohttp.ClientSession
) -> None:
    target = sandbox.world.orders[3].id
    sandbox.override_fields(target, {"siparisTarihi": "yarın"})
    _, orders = await post(session, served, raw.GET_ALL, BODY)
    assert [o["siparisTarihi"] for o in orders if o["siparisKodu"] == target] == ["yarın"]
    assert all(DATE.match(o["siparisTarihi"]) for o in orders if o["siparisKodu"] != target)
