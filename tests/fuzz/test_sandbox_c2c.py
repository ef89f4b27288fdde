"""The C2C simulator as a state machine: random status writes (any of the document's statuses,
known and unknown codes, several codes per call) and time passing, over HTTP.

Invariants (c2c.txt: UpdateOrderStateByOrderCode takes only "Onay Bekliyor", "Hazırlanıyor" and
"Kargoya Verildi"; our reading moves an order only forward, see ``sandbox_rules``): no target
outside the three is ever applied; a code answers "Başarılı" only for a move the seller table
allows (or a repeat of the current status); a refused code leaves its order as it was; the
per-store limit, when switched on, answers in C2C's own shape (HTTP 200 with ``hata``).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c import sandbox_rules as rules
from pipeline.platforms.c2c.sandbox import C2CSandbox

from .budget import fuzz_settings
from .machine import Served

PER_MINUTE = 8
CREDENTIALS = {
    "Domain": "sandbox-domain",
    "ApiKey": "sandbox-api_key",
    "ApiPassword": "sandbox-api_password",
}
TARGETS = st.sampled_from([*raw.ORDER_STATUSES, "Kargoya verildi", "", "Hazirlaniyor"])


class C2CWrites(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.box = Served(C2CSandbox, orders=8, per_minute=PER_MINUTE)
        self.in_minute = 0  # requests in the current (stood-still) minute

    def teardown(self) -> None:
        self.box.close()

    def statuses(self) -> dict[str, str]:
        return {o.id: o.status for o in self.box.sandbox.world.orders}

    def _post(self, body: dict[str, object]) -> tuple[int, object]:
        status, doc, _ = self.box.call("POST", raw.UPDATE_STATE_BY_CODES, {**CREDENTIALS, **body})
        self.in_minute += 1
        return status, doc

    @rule(data=st.data(), to=TARGETS, unknown=st.booleans())
    def update(self, data: st.DataObject, to: str, unknown: bool) -> None:
        target = to
        before = self.statuses()
        codes = data.draw(
            st.lists(st.sampled_from(sorted(before)), min_size=1, max_size=3, unique=True)
        )
        if unknown:
            codes.append("SP-999999")
        status, doc = self._post({"SiparisKodlari": codes, "SiparisDurumu": target})
        after = self.statuses()
        assert status == 200, doc
        if self.in_minute > PER_MINUTE:
            assert doc == {"hata": rules.ERR_RATE}
            assert after == before
            return
        if target not in raw.WRITABLE_STATUSES:
            assert isinstance(doc, dict) and doc.get("hata"), doc
            assert after == before
            return
        assert isinstance(doc, list) and len(doc) == len(codes), doc
        for code, row in zip(codes, doc, strict=True):
            source = before.get(code)
            allowed = source is not None and (
                source == target or target in rules.SELLER.get(source, frozenset())
            )
            if row["Durum"] == rules.UPDATE_OK:
                assert allowed, (code, source, target, row)
                assert after[code] == target
            else:
                assert row["Durum"] == rules.UPDATE_FAILED and code in row["Aciklama"], row
                assert not allowed, (code, source, target, row)
                if source is not None:
                    assert after[code] == source
        untouched = set(before) - set(codes)
        assert all(after[c] == before[c] for c in untouched)

    @rule(seconds=st.sampled_from([61, 3600, 86400, 3 * 86400]))
    def wait(self, seconds: float) -> None:
        self.box.advance(seconds)
        self.in_minute = 0

    @precondition(lambda self: self.in_minute <= PER_MINUTE)
    @rule()
    def too_many_codes_type(self) -> None:
        """Codes that are not a list of strings are refused as a whole."""
        before = self.statuses()
        status, doc = self._post({"SiparisKodlari": "SP-1", "SiparisDurumu": "Hazırlanıyor"})
        assert status == 200 and isinstance(doc, dict) and doc.get("hata"), doc
        assert self.statuses() == before

    @invariant()
    def only_writable_targets_ever_written(self) -> None:
        for write in self.box.sandbox.world.writes:
            if write.outcome != "rejected" and write.kind == "status":
                assert write.details.get("status") in raw.WRITABLE_STATUSES, write


TestC2CWrites = C2CWrites.TestCase
TestC2CWrites.settings = fuzz_settings(12, stateful_step_count=15)


def test_a_state_filter_in_odd_digits_is_refused_not_a_500() -> None:
    box = Served(C2CSandbox, orders=2)
    try:
        for value in ("²", "٣", "3 ", "9", "-1"):
            status, doc, _ = box.call(
                "POST", raw.GET_ORDERS_BY_STATE, {**CREDENTIALS, "SiparisDurumu": value}
            )
            assert status == 200, (value, doc)
            if value == "3 ":
                assert isinstance(doc, list), doc
            else:
                assert isinstance(doc, dict) and doc.get("hata"), (value, doc)
    finally:
        box.close()
