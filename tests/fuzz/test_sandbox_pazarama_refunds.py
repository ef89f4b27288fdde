"""The Pazarama simulator's refund (return) decisions as a state machine: random
``POST /order/updateRefund`` calls (approve, reject, send to review and statuses the seller may
not write; every field the rules name, present, missing, blank or out of range; known, split,
unknown, malformed ids and a cancellation's id), buyers opening returns, the refund list, and
time passing (automatic moves, token expiry), over HTTP.

Invariants (pazarama.txt):

* **Who decides what** (3.18: "güncelleme işlemi için sadece Onaylama (Statü:2) ve Ret
  (Statü:3)", 3.29 adds 9 "İncelemeye Gönder"): a decision is accepted only with status 2, 3 or
  9 and only for a refund awaiting the seller (1, "Onay Bekliyor"); once decided, every further
  decision is refused (``ORD_REFUND_NOT_PENDING`` for an otherwise valid one) and changes nothing.
* **What a decision needs**: a rejection needs a ``RefundRejectType`` 1-12 (3.18: "Tedarikçi
  Tarafından Reddedildi statüsü için RefundRejectType Status iletilmelidir") and a description
  (3.29: "Reddetme sürecinde: açıklama alanı her bir seçim için zorunludur") and an image unless
  the reason is 10 or 11 (3.29, "21 Şubat itibariyle" — always enforced, our reading); a review
  needs a ``RefundReviewType`` 1-3 and, for 3 ("Diğer"), a description; at most 3 files (3.29);
  ``quantity``, when sent, is 1 to the refund's quantity (our reading).
* **Unknown ids**: an id that names no refund — a cancellation request's included (3.23 is a
  different service) — is refused; a malformed GUID is refused as a bad request.
* **Refusals** are HTTP 400 in Pazarama's envelope (``data`` null, ``success`` false, a
  ``messageCode``; the codes are ours) and leave every refund, cancellation and item as it was.
* **Accepted decisions** move the refund to the status sent and its items as the "İade Akışı"
  table says (2 → item 8, 3 → item 9; a review keeps 7).
* **Time** moves refunds only as the document describes: 1 → 6 "Auto Approved" ("İade
  tedarikçi tarafından işleme alınmaz ise"), 3 → 4/5 (a rejection "Backoffice (Admin)
  ekranlarına düşmektedir", which approves or rejects), and our readings 1 → 7 (the buyer
  withdraws: "Talep İptal Edildi") and 9 → 4/5 (a review ends in the backoffice); 2, 4, 5, 6 and
  7 never move again. Items follow the table at every step (1/7, 2/8, 3/9, 4/8, 5/9; 6 counts as
  approved; 8 may go on to 10 "İade Edildi"; 7 restores 11).
* **Tokens** live one hour: a decision with an expired, unknown or missing token is HTTP 401
  with an empty body (integrators' field note) and changes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.sandbox import PazaramaSandbox
from pipeline.platforms.pazarama.sandbox_render import record_quantity, request_ids
from pipeline.platforms.pazarama.sandbox_rules import ERRORS, REFUND_STATUS_LABELS
from pipeline.sandbox import ISTANBUL, Record

from .budget import fuzz_settings
from .machine import START, Served
from .pazarama_login import BASIC, pazarama_token

#: "NOT: Alınan Access Token değerinin geçerlilik süresi 1 saattir."
TOKEN_TTL = dt.timedelta(hours=1)
DECISIONS = {"2", "3", str(raw.REFUND_REVIEW_STATUS)}
#: 3.18/3.29: what the seller's accepted decision does to the refund's items.
DECISION_ITEM = {"2": "8", "3": "9", "9": None}  # None: the items stay where they are (7)
#: How a refund moves without the seller (see the module docstring for the sources).
AUTOMATIC = {("1", "6"), ("3", "4"), ("3", "5"), ("1", "7"), ("9", "4"), ("9", "5")}
#: The "İade Akışı" table: a refund's status → the status its items may show.
ITEMS_FOR = {
    "1": {"7"},
    "2": {"8", "10"},
    "3": {"9"},
    "4": {"8", "10"},
    "5": {"9"},
    "6": {"8", "10"},
    "7": {"11"},
    "9": {"7"},
}
IMAGE = {"name": "kanit.png", "bytes": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()}
EMPTY_IMAGE = {"name": "bos.png", "bytes": ""}
MISSING = object()

REJECT_TYPES = st.sampled_from([MISSING, None, 0, 1, 2, 5, 9, 10, 11, 12, 13])
DESCRIPTIONS = st.sampled_from([MISSING, None, "", "   ", "Ürün kullanılmış"])
DOCUMENTS = st.sampled_from(
    [MISSING, None, [], [IMAGE], [IMAGE] * 3, [IMAGE] * 4, [EMPTY_IMAGE], [IMAGE, EMPTY_IMAGE]]
)
REVIEW_TYPES = st.sampled_from([MISSING, None, 0, 1, 2, 3, 4])
QUANTITIES = st.sampled_from([MISSING, None, 0, 1, "all", "more"])
#: One requirement of a decision broken at a time: (status, field, values breaking it, code).
INCOMPLETE = st.sampled_from(
    [
        # 3.18: "Tedarikçi Tarafından Reddedildi statüsü için RefundRejectType … iletilmelidir"
        (3, "refundRejectType", [MISSING, None, 0, 13], "ORD_REJECT_TYPE_REQUIRED"),
        # 3.29: "Reddetme sürecinde: açıklama alanı her bir seçim için zorunludur."
        (3, "description", [MISSING, None, "", "   "], "ORD_DESCRIPTION_REQUIRED"),
        # 3.29: images for every reason but "iade paketi boş geldi" / "… elime ulaşmadı"
        (3, "documentObjects", [MISSING, None, []], "ORD_DOCUMENT_REQUIRED"),
        # 3.29: "Bir ürün için en fazla 3 dosya ekleyebilir"
        (3, "documentObjects", [[IMAGE] * 4], "ORD_DOCUMENT_LIMIT"),
        (9, "documentObjects", [[IMAGE] * 5], "ORD_DOCUMENT_LIMIT"),
        # 3.29: RefundReviewType 1-3 for a review
        (9, "refundReviewType", [MISSING, None, 0, 4], "ORD_REVIEW_TYPE_REQUIRED"),
        # 3.29: "Diğer seçeneği seçilmesi durumunda 'Problem detayı' girişi zorunludur"
        (9, "description", [MISSING, None, ""], "ORD_DESCRIPTION_REQUIRED"),
    ]
)


class PazaramaRefunds(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.box = Served(PazaramaSandbox, orders=3)
        world = self.box.sandbox.world
        [preparing] = world.spawn(1)
        world.set_status(preparing.id, "12")
        self.cancellation = world.open_record(
            "cancellation", preparing.id, [1], reason="Vazgeçtim", actor="customer"
        )
        for line in (1, 2, 3):
            self.returned(line)
        self.decided = 0  # decisions the simulator accepted
        self.login()

    def teardown(self) -> None:
        self.box.close()

    # -- the ground truth -----------------------------------------------------------------------

    def returned(self, line: int) -> Record:
        """The buyer returns a delivered item (what the seller API cannot do). One refund per
        item, as Pazarama's refund rows are (one product each)."""
        world = self.box.sandbox.world
        [order] = world.spawn(1)
        world.set_status(order.id, "12")
        world.ship(order.id, carrier_code="aras", tracking_number="12345678901", status="5")
        world.set_status(order.id, "11")
        chosen = [min(line, len(order.items))]
        return world.open_record(
            "refund", order.id, chosen, reason="Beden uymadı", actor="customer"
        )

    def state(self) -> tuple[dict[str, Any], dict[str, str], dict[tuple[str, int], str]]:
        world = self.box.sandbox.world
        return (
            {r.id: (r.status, len(r.history), r.note) for r in world.refunds},
            {c.id: c.status for c in world.cancellations},
            {(o.id, i.line): i.status for o in world.orders for i in o.items},
        )

    # -- the token ------------------------------------------------------------------------------

    def login(self) -> None:
        self.token = pazarama_token(self.box)
        self.token_at = self.box.clock.now()

    def unauthorised(self, authorization: str | None) -> None:
        """A decision without a valid token: 401, empty body, nothing changed."""
        before = self.state()
        refund = self.box.sandbox.world.refunds[0]
        headers = {} if authorization is None else {"Authorization": authorization}
        body = {"refundId": refund.id, "status": 2}
        status, doc, _ = self.box.call("POST", "/order/updateRefund", body, headers)
        assert (status, doc) == (401, None), (status, doc)
        assert self.state() == before

    # -- decisions ------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        which=st.sampled_from(["pending", "pending", "any", "split", "unknown", "malformed",
                                "cancellation"]),
        status=st.sampled_from([2, 3, 9, 2, 3, 9, 2, 3, 9, 1, 4, 6, 0]),
        aimed=st.sampled_from([True, True, False]),
        pascal=st.booleans(),
    )  # fmt: skip
    def decide(
        self, data: st.DataObject, which: str, status: int, aimed: bool, pascal: bool
    ) -> None:
        self.fresh_token()
        world = self.box.sandbox.world
        refunds = world.refunds
        pending = [r for r in refunds if r.status == "1"]
        record: Record | None = None
        if which == "pending" and pending:
            record = data.draw(st.sampled_from(pending))
            refund_id = record.id
        elif which in ("pending", "any"):
            record = data.draw(st.sampled_from(refunds))
            refund_id = record.id
        elif which == "split":  # 3.25: with SplitItems each unit has a refundId of its own
            record = data.draw(st.sampled_from(refunds))
            ids = request_ids(record, record_quantity(world.order(record.order_id), record))
            refund_id = data.draw(st.sampled_from(ids))
        elif which == "unknown":
            refund_id = str(uuid.UUID(int=data.draw(st.integers(0, 2**128 - 1))))
        elif which == "malformed":
            refund_id = data.draw(st.sampled_from(["x", "", "12345", "59eff35d-b399-407d"]))
        else:
            refund_id = self.cancellation.id
        quantity = (
            record_quantity(world.order(record.order_id), record) if record is not None else 1
        )

        fields: dict[str, Any] = {
            "RefundRejectType" if pascal else "refundRejectType": data.draw(REJECT_TYPES),
            "description": data.draw(DESCRIPTIONS),
            "documentObjects": data.draw(DOCUMENTS),
            "refundReviewType": data.draw(REVIEW_TYPES),
            "quantity": {"all": quantity, "more": quantity + 1}.get(q := data.draw(QUANTITIES), q),
        }
        if aimed:  # two calls in three well formed for their status, so decisions happen
            fields = aimed_fields(data, status, pascal)
        body = {"refundId": refund_id, "status": status} | {
            k: v for k, v in fields.items() if v is not MISSING
        }
        codes = self.refusals(body, record, which, quantity)

        before = self.state()
        previous = record.status if record is not None else None
        code, doc = self.post(body)
        after = self.state()
        if code == 200:
            assert not codes, (body, previous, doc)
            assert record is not None and previous == "1", (body, previous)
            assert doc["success"] is True and doc["messageCode"] == "ORD0", doc
            assert doc["data"]["refundId"] == record.id, doc
            assert doc["data"]["refundStatus"] == REFUND_STATUS_LABELS[str(status)], doc
            self.decided += 1
            assert after[0][record.id][0] == str(status)
            expected_items = dict(before[2])
            effect = DECISION_ITEM[str(status)]
            for line in record.item_lines:
                if effect is not None:
                    expected_items[(record.order_id, line)] = effect
            assert after[2] == expected_items, (body, record.item_lines)
            others = {k: v for k, v in after[0].items() if k != record.id}
            assert others == {k: v for k, v in before[0].items() if k != record.id}
            assert after[1] == before[1]
        else:
            assert code == 400, (code, doc)
            assert codes, (body, previous, doc)
            assert doc["success"] is False and doc["data"] is None, doc
            assert doc["messageCode"] in codes, (body, previous, doc["messageCode"], codes)
            assert doc["userMessage"] == ERRORS[doc["messageCode"]], doc
            assert after == before, (body, doc)

    @staticmethod
    def refusals(
        body: dict[str, Any], record: Record | None, which: str, quantity: int
    ) -> set[str]:
        """The codes the document's rules would refuse ``body`` with (empty: accept). The
        document states no order among the checks, so any of them may be the one reported."""
        if which == "malformed":
            return {"ORD_REQUEST_INVALID"}
        if record is None:
            return {"ORD_REFUND_NOT_FOUND"}
        codes: set[str] = set()
        folded = {k.casefold(): v for k, v in body.items()}
        sent = {k: v for k, v in folded.items() if v is not None}
        status = body["status"]
        if "quantity" in sent and not 1 <= sent["quantity"] <= quantity:
            codes.add("ORD_QUANTITY_INVALID")
        if str(status) not in DECISIONS:
            codes.add("ORD_REFUND_STATUS_INVALID")
        description = str(sent.get("description", "")).strip()
        documents = sent.get("documentobjects", [])
        if status == 3:
            reason = sent.get("refundrejecttype")
            if reason not in raw.REFUND_REJECT_TYPE:
                codes.add("ORD_REJECT_TYPE_REQUIRED")
            if not description:
                codes.add("ORD_DESCRIPTION_REQUIRED")
            if not documents and reason not in raw.REJECT_TYPES_WITHOUT_IMAGES:
                codes.add("ORD_DOCUMENT_REQUIRED")
        if status == raw.REFUND_REVIEW_STATUS:
            review = sent.get("refundreviewtype")
            if review not in raw.REFUND_REVIEW_TYPE:
                codes.add("ORD_REVIEW_TYPE_REQUIRED")
            if review in raw.REVIEW_TYPES_NEEDING_DESCRIPTION and not description:
                codes.add("ORD_DESCRIPTION_REQUIRED")
        if len(documents) > raw.REFUND_MAX_DOCUMENTS:
            codes.add("ORD_DOCUMENT_LIMIT")
        if any(not d["bytes"] for d in documents):
            codes.add("ORD_REQUEST_INVALID")
        if record.status != "1":
            codes.add("ORD_REFUND_NOT_PENDING")
        return codes

    @rule(data=st.data(), case=INCOMPLETE, complete_it=st.booleans(), pascal=st.booleans())
    def incomplete_decision(
        self,
        data: st.DataObject,
        case: tuple[int, str, list[Any], str],
        complete_it: bool,
        pascal: bool,
    ) -> None:
        """A decision missing exactly one thing the document requires is refused with that
        reason and changes nothing; completed, it is accepted."""
        self.fresh_token()
        status, field, breaking, code = case
        world = self.box.sandbox.world
        record = data.draw(
            st.sampled_from([r for r in world.refunds if r.status == "1"] or [self.returned(1)])
        )
        if status == 3:
            reasons = sorted(raw.REFUND_REJECT_TYPE)
            if code == "ORD_DOCUMENT_REQUIRED":
                reasons = [r for r in reasons if r not in raw.REJECT_TYPES_WITHOUT_IMAGES]
            complete: dict[str, Any] = {
                "refundRejectType": data.draw(st.sampled_from(reasons)),
                "description": "Ürün kullanılmış",
                "documentObjects": [IMAGE],
            }
        else:
            review = 3 if field == "description" else data.draw(st.sampled_from([1, 2, 3]))
            complete = {"refundReviewType": review, "description": "Ürün servise gönderildi"}
        broken = complete | {field: data.draw(st.sampled_from(breaking))}

        def body(fields: dict[str, Any]) -> dict[str, Any]:
            named = {
                ("RefundRejectType" if pascal and k == "refundRejectType" else k): v
                for k, v in fields.items()
            }
            return {"refundId": record.id, "status": status} | {
                k: v for k, v in named.items() if v is not MISSING
            }

        before = self.state()
        answer, doc = self.post(body(broken))
        assert (answer, doc["messageCode"], doc["success"]) == (400, code, False), (broken, doc)
        assert self.state() == before
        if complete_it:
            answer, doc = self.post(body(complete))
            assert (answer, doc["success"]) == (200, True), (complete, doc)
            assert record.status == str(status)
            self.decided += 1

    def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        status, doc, _ = self.box.call(
            "POST", "/order/updateRefund", body, {"Authorization": f"Bearer {self.token}"}
        )
        return status, doc

    @rule(data=st.data(), status=st.sampled_from([2, 3, 9]), pascal=st.booleans())
    def decide_again(self, data: st.DataObject, status: int, pascal: bool) -> None:
        """A well-formed decision on a refund that is not awaiting one: refused as such."""
        self.fresh_token()
        decided = [r for r in self.box.sandbox.world.refunds if r.status != "1"]
        if not decided:
            return
        record = data.draw(st.sampled_from(decided))
        fields = aimed_fields(data, status, pascal)
        body = {"refundId": record.id, "status": status} | {
            k: v for k, v in fields.items() if v is not MISSING
        }
        before = self.state()
        code, doc = self.post(body)
        assert (code, doc["messageCode"]) == (400, "ORD_REFUND_NOT_PENDING"), (record.status, doc)
        assert doc["success"] is False and doc["data"] is None, doc
        assert self.state() == before

    @rule(authorization=st.sampled_from([None, "Bearer", "Bearer nope", f"Basic {BASIC}"]))
    def decide_without_a_token(self, authorization: str | None) -> None:
        self.unauthorised(authorization)

    # -- the buyer, the list, time --------------------------------------------------------------

    @rule(line=st.integers(1, 3))
    def buyer_returns(self, line: int) -> None:
        record = self.returned(line)
        assert record.status == "1"

    @rule(status=st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 9]), split=st.booleans())
    def list_refunds(self, status: int | None, split: bool) -> None:
        """getRefund (3.17) shows every refund once, in its current status."""
        self.fresh_token()
        tomorrow = (self.box.clock.now().astimezone(ISTANBUL) + dt.timedelta(days=1)).date()
        body: dict[str, Any] = {
            "pageSize": 500,
            "pageNumber": 1,
            "requestStartDate": (START - dt.timedelta(days=30)).date().isoformat(),
            "requestEndDate": tomorrow.isoformat(),
            "SplitItems": split,
        }
        if status is not None:
            body["refundStatus"] = status
        before = self.state()
        code, doc, _ = self.box.call(
            "POST", "/order/getRefund", body, {"Authorization": f"Bearer {self.token}"}
        )
        assert code == 200 and doc["success"] is True, doc
        assert self.state() == before
        world = self.box.sandbox.world
        expected = {r.id for r in world.refunds if status is None or r.status == str(status)}
        units = {
            unit: r
            for r in world.refunds
            for unit in (
                request_ids(r, record_quantity(world.order(r.order_id), r)) if split else [r.id]
            )
        }
        rows = doc["data"]["refundList"]
        ids = [row["refundId"] for row in rows]
        assert len(ids) == len(set(ids)), ids  # no row twice
        assert {units[i].id for i in ids} == expected, (status, split)
        assert set(ids) == {u for u, r in units.items() if r.id in expected}  # every unit
        for row in rows:
            assert str(row["refundStatus"]) == units[row["refundId"]].status, row

    @rule(seconds=st.sampled_from([60, 1800, 3599, 3600, 6 * 3600, 86400, 3 * 86400, 5 * 86400]))
    def wait(self, seconds: int) -> None:
        self.box.advance(seconds)
        self.fresh_token()

    def fresh_token(self) -> None:
        """Log in again once the token's hour is over ("Access Token değerinin geçerlilik süresi
        1 saattir"), after checking that the old one no longer works (every other call checks
        that a token within its hour does)."""
        if self.box.clock.now() - self.token_at >= TOKEN_TTL:
            self.unauthorised(f"Bearer {self.token}")
            self.login()

    # -- what holds after every step ------------------------------------------------------------

    @invariant()
    def refunds_move_only_by_decision_or_as_documented(self) -> None:
        decisions = 0
        for record in self.box.sandbox.world.refunds:
            for change in record.history[1:]:
                move = (change.source, change.target)
                if change.request_id is not None:  # a seller decision, over the API
                    assert change.source == "1" and change.target in DECISIONS, change
                    decisions += 1
                else:
                    assert move in AUTOMATIC, (record.id, change)
        assert decisions == self.decided

    @invariant()
    def items_follow_the_refund_table(self) -> None:
        world = self.box.sandbox.world
        latest: dict[tuple[str, int], Record] = {}
        for record in world.refunds:  # in the order they were opened
            for line in record.item_lines:
                latest[(record.order_id, line)] = record
        for (order_id, line), record in latest.items():
            item = world.order(order_id).item(line)
            assert item.status in ITEMS_FOR[record.status], (record.status, item.status)


def aimed_fields(data: st.DataObject, status: int, pascal: bool) -> dict[str, Any]:
    """A body the document's rules accept for ``status`` (2, 3 or 9; others stay refused)."""
    key = "RefundRejectType" if pascal else "refundRejectType"
    if status == 3:
        reason = data.draw(st.sampled_from(sorted(raw.REFUND_REJECT_TYPE)))
        images = data.draw(st.sampled_from([[IMAGE], [IMAGE] * 3]))
        if reason in raw.REJECT_TYPES_WITHOUT_IMAGES:
            images = data.draw(st.sampled_from([MISSING, [], images]))
        return {key: reason, "description": "Kullanılmış", "documentObjects": images}
    if status == raw.REFUND_REVIEW_STATUS:
        review = data.draw(st.sampled_from(sorted(raw.REFUND_REVIEW_TYPE)))
        description = "Diğer sorun" if review == 3 else data.draw(DESCRIPTIONS)
        return {key: 0, "refundReviewType": review, "description": description, "quantity": 1}
    return {"quantity": data.draw(st.sampled_from([MISSING, 1]))}


TestPazaramaRefunds = PazaramaRefunds.TestCase
TestPazaramaRefunds.settings = fuzz_settings(40, stateful_step_count=25)
