"""The webservis simulator as a state machine: two shops, random reads (whole paging walks with
every ``order/lists`` filter, a slow walk that time passes under, ``order/show``), writes the
document does not offer, odd parameter values, bad credentials, the panel's switches (service,
user, method permissions) and time passing (short ticks inside the limit's window, long waits
in which orders move and new ones arrive), over HTTP.

Invariants (webservis.txt):

* **The limit** (3. Entegrasyon: "1 dakikada en fazla 25 istek … e-ticaret sitesi bazındadır"):
  in any 60 s a shop gets at most 25 answers other than AUTH004, whatever the methods; a shop's
  requests never use another shop's budget; over it the answer is HTTP 200 ``{"code": "AUTH004",
  "message": "Dakikalık erişim limiti aşıldı", "result": null}``. Our reading (the simulator's
  docstring): refused requests count too, requests the shop cannot attribute (AUTH001-003)
  do not, so a request is refused exactly when 25 counted ones fall in the last 60 s.
* **Nothing writes.** The document offers no order write (``order/fastSale`` creates, and is not
  simulated): no request of any kind changes any order, and the world's write log stays empty;
  an undocumented method or path is AUTH005 "Geçersiz metot", a documented but unsimulated one
  the invented SANDBOX001 — never a 2xx ``SUCCESS``, never a 500.
* **Paging** (4.4.1: ``pageStart`` an offset, ``pageSize`` max 100, default 0): while the clock
  stands still a walk sees every matching order exactly once, ``total`` is the number of
  matching orders on every page, each page holds ``pageSize`` rows, ordered by ``orderBy``
  (``id``, ``createdAt``, ``updatedAt``) in ``sort`` direction; ``status`` and the
  ``startDate``/``endDate`` window (the order date, our reading: both ends inclusive to the
  second) select exactly the ground truth's orders. A slow walk by ``id`` or ``createdAt``
  ascending, with time passing between pages, loses no order that existed when it began and
  repeats none.
* **Statuses** (4.4.1/4.4.2: 1-5): every status shown is one of the five; the document prints
  no transitions, so orders move only along the simulator's reading (its docstring's
  "Lifecycle", copied into ``MOVES``), never by a request; ``updatedAt`` never goes back and
  moves with every status change (to the second); ``createdAt`` and ``code`` never change.
* **Parameters** outside the documented domains are refused with ORDERLISTS001 (invented: the
  document prints only SUCCESS), never a 500; an integer is ASCII digits, as a PHP service reads
  it (``"٣"`` is not 3).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pipeline.platforms.webservis import payloads as raw
from pipeline.platforms.webservis.sandbox import WebservisSandbox, wire_time
from pipeline.sandbox import ISTANBUL, Tenant

from .budget import fuzz_settings
from .machine import Served

PER_MINUTE = raw.REQUESTS_PER_MINUTE  # the document's own limit, switched on by default
SHOPS = ("main", "second")
#: The document prints the five statuses but no transition: these are the simulator's reading
#: (its docstring's "Lifecycle"), written down here so the simulator cannot widen them unseen.
MOVES = {("1", "2"), ("1", "5"), ("2", "3"), ("2", "4"), ("3", "4"), ("4", "5")}
STATUSES = {str(code) for code in raw.ORDER_STATUS}
ENVELOPE = {"code", "message", "result"}

#: Writes the document does not offer, and documented methods called with the wrong verb.
FORBIDDEN = st.tuples(
    st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
    st.sampled_from(
        ["/order/lists", "/order/show/{n}", "/order/update/{n}", "/order/status/{n}",
         "/order/{n}", "/order/cancel/{n}", "/order/show/{n}/status", "/auth"]
    ),
) | st.tuples(
    st.just("GET"),
    st.sampled_from(["/order/fastSale", "/order/update/{n}", "/dealer/limits/{n}", "/orders"]),
)  # fmt: skip
#: Documented methods outside the simulator (SANDBOX001, 501): still nothing may change.
UNSIMULATED = st.sampled_from(
    [("POST", "/order/fastSale"), ("POST", "/product/updateStocks"),
     ("POST", "/product/updatePrices"), ("POST", "/product/save"), ("POST", "/dealer/limits/{n}"),
     ("GET", "/order/summary1"), ("GET", "/product/lists"), ("GET", "/category/show/{n}")]
)  # fmt: skip

#: Reads for a burst of requests, with the permission each needs (AUTH005 for the unknown one).
BURST: dict[str, str | None] = {
    "/auth": None,
    "/order/lists?pageSize=1": "order/lists",
    "/order/show/2": "order/show",
    "/nope": None,
}

#: The panel's switches (2. Web Servis Kullanıcısı: "Kullanıcı Durumu", "Yetkiler").
PANEL = st.sampled_from(
    [("service_active", False), ("user_active", False), ("permissions", frozenset()),
     ("permissions", frozenset({"order/lists"})), ("permissions", frozenset({"order/show"})),
     ("permissions", frozenset({"order/lists", "order/show"}))]
)  # fmt: skip

#: ``order/lists`` values outside the documented domains (4.4.1), and some inside.
ODD_VALUES: dict[str, list[str]] = {
    "pageStart": ["-1", "x", "1.5", "٣", "²", "1e3"],
    "pageSize": ["-1", "101", "x", "1.5", "٣", "²", "1e2"],
    "status": ["6", "-1", "x", "٣", "²", "1.0"],
    "dealerId": ["-1", "x", "٣", "²"],
    "orderBy": ["ID", "updated_at", "code", "status", "createdAt;"],
    "sort": ["ASC", "up", "descending", "1"],
    "startDate": ["2026-03-01", "2026-03-01T10:00:00", "2026-02-30 10:00:00",
                  "2026-03-01 24:00:00", "01-03-2026 10:00:00", "٢٠٢٦-٠٣-٠١ ١٠:٠٠:٠٠"],
    "endDate": ["2026-03-01 10:00", "2026-13-01 10:00:00", "2026-03-01 10:00:00Z"],
}  # fmt: skip
GOOD_VALUES: dict[str, list[str]] = {
    "pageStart": ["0", "3", "1000"],
    "pageSize": ["0", "1", "100"],
    "status": ["0", "1", "5"],
    "dealerId": ["0", "12"],
    "orderBy": ["id", "createdAt", "updatedAt"],
    "sort": ["asc", "desc"],
    "startDate": ["2026-03-01 00:00:00"],
    "endDate": ["2026-03-02 23:59:59"],
}


def _reachable() -> dict[str, set[str]]:
    """Every status reachable from each status through the simulator's table."""
    reach = {s: {t for (f, t) in MOVES if f == s} for s in STATUSES}
    changed = True
    while changed:
        changed = False
        for targets in reach.values():
            more = set().union(*(reach[t] for t in targets)) - targets if targets else set()
            if more:
                targets |= more
                changed = True
    return reach


REACHABLE = _reachable()


class WebservisShop(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.box = Served(WebservisSandbox, orders=30, seed=5)
        sandbox = self.box.sandbox
        sandbox.add_tenant("second", initial_orders=8)
        for tenant in sandbox.tenants.values():
            tenant.world.arrival_rate_per_hour = 0.5  # new orders arrive while time passes
        self.headers = {
            label: {"apikey": t.credentials["api_key"], "apisecret": t.credentials["api_secret"]}
            for label, t in sandbox.tenants.items()
        }
        self.counted: dict[str, list[float]] = {s: [] for s in SHOPS}  # in the limit's window
        self.admitted: dict[str, list[float]] = {s: [] for s in SHOPS}  # answered, not AUTH004
        self.seen: dict[tuple[str, int], tuple[int, str, str, str, str]] = {}
        self.history_seen: dict[tuple[str, int], int] = {}

    def teardown(self) -> None:
        self.box.close()

    # -- the ground truth -----------------------------------------------------------------------

    def tenant(self, shop: str) -> Tenant:
        return self.box.sandbox.tenants[shop]

    def truth(self) -> dict[tuple[str, int], tuple[str, dt.datetime, int]]:
        return {
            (label, o.number): (o.status, o.updated_at, len(o.history))
            for label, t in self.box.sandbox.tenants.items()
            for o in t.world.orders
        }

    def now(self) -> dt.datetime:
        return self.box.clock.now()

    # -- one request ----------------------------------------------------------------------------

    def send(
        self,
        shop: str,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        permission: str | None = None,
    ) -> tuple[int, dict[str, Any]] | None:
        """Send one request and check what every request must satisfy; None when it was
        refused at the door (AUTH001-004, AUTH006), else the HTTP status and the envelope."""
        if params is not None:
            path += "?" + urllib.parse.urlencode(params)
        before = self.truth()
        status, doc, _ = self.box.call(
            method, path, None, self.headers[shop] if headers is None else headers
        )
        assert self.truth() == before, (method, path)
        assert all(not t.world.writes for t in self.box.sandbox.tenants.values())
        assert status != 500 and isinstance(doc, dict) and set(doc) == ENVELOPE, (status, doc)
        door = self.door(shop, headers)
        if door is not None:
            assert (status, doc) == (200, refusal(door)), (method, path, door, doc)
            return None
        now = self.now().timestamp()
        window = [t for t in self.counted[shop] if t > now - 60]
        self.counted[shop] = [*window, now]  # refused requests count too (our reading)
        if len(window) >= PER_MINUTE:
            assert (status, doc) == (200, refusal("AUTH004")), (method, path, doc)
            return None
        assert doc["code"] != "AUTH004", (len(window), doc)
        admitted = [t for t in self.admitted[shop] if t > now - 60]
        self.admitted[shop] = [*admitted, now]
        assert len(self.admitted[shop]) <= PER_MINUTE  # the document's own words
        if permission is not None and self.denied(shop, permission):
            assert (status, doc) == (200, refusal("AUTH006")), (method, path, doc)
            return None
        return status, doc

    def door(self, shop: str, headers: dict[str, str] | None) -> str | None:
        """The code a request is refused with before the limit counts it, if any."""
        if headers is not None and headers != self.headers[shop]:
            return "AUTH002"
        data = self.tenant(shop).data
        if not data["service_active"]:
            return "AUTH001"
        if not data["user_active"]:
            return "AUTH003"
        return None

    def denied(self, shop: str, permission: str) -> bool:
        allowed = self.tenant(shop).data["permissions"]
        return allowed is not None and permission not in allowed

    def observe(self, shop: str, row: dict[str, Any]) -> None:
        """A row of order/lists (or the order of order/show) against the ground truth and
        against what was seen of the same order before."""
        order = self.tenant(shop).world.by_number(row["id"])
        assert order is not None, row
        assert str(row["status"]) in STATUSES, row
        assert (row["code"], str(row["status"])) == (order.id, order.status), row
        assert (row["createdAt"], row["updatedAt"]) == (
            wire_time(order.created_at),
            wire_time(order.updated_at),
        )
        assert row["createdAt"] <= row["updatedAt"], row
        now = wire_time(self.now())
        assert row["updatedAt"] <= now  # type: ignore[operator]
        key = (shop, row["id"])
        last = self.seen.get(key)
        if last is not None:
            status, code, created, updated, at = last
            assert (row["code"], row["createdAt"]) == (code, created), (last, row)
            assert row["updatedAt"] >= updated, (last, row)
            if row["status"] != status:
                assert str(row["status"]) in REACHABLE[str(status)], (last, row)
                # A change after the last look carries a later second, unless the last look
                # was within the second the earlier update happened in.
                assert row["updatedAt"] > updated or updated == at, (last, row)
        self.seen[key] = (row["status"], row["code"], row["createdAt"], row["updatedAt"], now)

    # -- paging -------------------------------------------------------------------------------

    def matching(
        self, shop: str, status: int, dealer: int, since: str | None, until: str | None
    ) -> set[int]:
        def inside(moment: dt.datetime) -> bool:
            text = wire_time(moment)
            assert text is not None
            return (since is None or text >= since) and (until is None or text <= until)

        return {
            o.number
            for o in self.tenant(shop).world.orders
            if (status == 0 or o.status == str(status)) and dealer == 0 and inside(o.created_at)
        }

    def budget(self, shop: str) -> int:
        now = self.now().timestamp()
        return PER_MINUTE - sum(1 for t in self.counted[shop] if t > now - 60)

    @rule(
        data=st.data(),
        shop=st.sampled_from(SHOPS),
        size=st.sampled_from([0, 1, 2, 3, 5, 7, 10, 50, 100, None]),
        order_by=st.sampled_from(["id", "createdAt", "updatedAt", None]),
        sort=st.sampled_from(["asc", "desc", None]),
        status=st.sampled_from([0, 0, 1, 2, 3, 4, 5, None]),
        dealer=st.sampled_from([None, None, 0, 7]),
    )
    def walk(
        self,
        data: st.DataObject,
        shop: str,
        size: int | None,
        order_by: str | None,
        sort: str | None,
        status: int | None,
        dealer: int | None,
    ) -> None:
        """Page through order/lists to the end while the clock stands still."""
        orders = self.tenant(shop).world.orders
        moments = [wire_time(o.created_at) for o in orders]
        near = st.builds(shift, st.sampled_from(moments), st.sampled_from([-1, 0, 1]))
        since, until = data.draw(st.none() | near), data.draw(st.none() | near)
        expected = self.matching(shop, status or 0, dealer or 0, since, until)
        left = self.budget(shop)
        if size and left > 0:  # fit the walk in what is left of the minute
            size = min(raw.ORDER_PAGE_SIZE_MAX, max(size, -(-len(expected) // left)))
        params = {
            k: str(v)
            for k, v in {
                "pageSize": size,
                "orderBy": order_by,
                "sort": sort,
                "status": status,
                "dealerId": dealer,
                "startDate": since,
                "endDate": until,
            }.items()
            if v is not None
        }
        rows: list[dict[str, Any]] = []
        start = 0
        while True:
            answer = self.send(
                shop, "GET", "/order/lists", {**params, "pageStart": str(start)},
                permission="order/lists",
            )  # fmt: skip
            if answer is None:
                return  # refused at the door or over the limit: checked by send
            code, doc = answer
            assert code == 200 and doc["code"] == raw.SUCCESS, doc
            result = doc["result"]
            assert result["total"] == len(expected), (params, result["total"], len(expected))
            assert result["pageSize"] == len(result["list"]) <= (size or 0), result
            if not size:  # the documented default 0 lists nothing
                assert result["list"] == []
                return
            for row in result["list"]:
                self.observe(shop, row)
            rows += result["list"]
            start += size
            if start >= result["total"]:
                break
        ids = [row["id"] for row in rows]
        assert len(ids) == len(set(ids)), ids  # nothing repeated
        assert set(ids) == expected, (params, sorted(set(ids) ^ expected))  # nothing lost
        key = {"id": "id", "createdAt": "createdAt", "updatedAt": "updatedAt"}[order_by or "id"]
        keys = [row[key] for row in rows]
        assert keys == sorted(keys, reverse=sort == "desc"), (order_by, sort, keys)

    @rule(
        data=st.data(),
        shop=st.sampled_from(SHOPS),
        size=st.sampled_from([3, 5, 8, 13]),
        order_by=st.sampled_from(["id", "createdAt"]),
    )
    def slow_walk(self, data: st.DataObject, shop: str, size: int, order_by: str) -> None:
        """Page through order/lists while time passes between pages (ascending id or order
        date: a new order sorts last, a status change moves nothing)."""
        existing = {o.number for o in self.tenant(shop).world.orders}
        params = {"pageSize": str(size), "orderBy": order_by, "sort": "asc"}
        ids: list[int] = []
        keys: list[object] = []
        waits = data.draw(st.lists(st.sampled_from([0, 1, 61, 3600, 86400]), max_size=4))
        while True:
            answer = self.send(
                shop, "GET", "/order/lists", {**params, "pageStart": str(len(ids))},
                permission="order/lists",
            )  # fmt: skip
            if answer is None:
                if self.door(shop, None) is not None or self.denied(shop, "order/lists"):
                    return  # the panel shut the door: the walk cannot go on
                self.box.advance(61)  # over the limit: wait for the window to move on
                continue
            rows = answer[1]["result"]["list"]
            for row in rows:
                self.observe(shop, row)
            ids += [row["id"] for row in rows]
            keys += [row[order_by] for row in rows]
            if len(rows) < size:
                break
            if waits:  # a few pauses only, or new orders would outrun the walk
                self.box.advance(waits.pop())
        assert len(ids) == len(set(ids)), ids  # nothing repeated
        assert existing <= set(ids), sorted(existing - set(ids))  # nothing lost
        assert keys == sorted(keys), (order_by, keys)

    @rule(
        shop=st.sampled_from(SHOPS),
        count=st.integers(1, 30),
        calls=st.lists(st.sampled_from(sorted(BURST.items())), min_size=1, max_size=4),
    )
    def burst(self, shop: str, count: int, calls: list[tuple[str, str | None]]) -> None:
        """Many requests within the same second, methods mixed: the limit is the shop's,
        "kullanıcı veya metot bazlı değil"."""
        for n in range(count):
            self.read(shop, *calls[n % len(calls)])

    def read(self, shop: str, path: str, permission: str | None) -> None:
        """One of the BURST reads, with the answer it must get once past the door."""
        answer = self.send(shop, "GET", path, permission=permission)
        if answer is None:
            return
        status, doc = answer
        if path == "/nope":
            assert (status, doc) == (200, refusal("AUTH005")), doc
        elif path == "/auth":
            assert (status, doc) == (200, refusal(raw.SUCCESS)), doc  # 4.1: "Erişim başarılı"
        else:
            assert status == 200 and doc["code"] == raw.SUCCESS, doc
            rows = (
                doc["result"]["list"] if permission == "order/lists" else [doc["result"]["order"]]
            )
            for row in rows:
                self.observe(shop, row)

    # -- other reads --------------------------------------------------------------------------

    @rule(
        data=st.data(),
        shop=st.sampled_from(SHOPS),
        odd=st.sampled_from([None, None, None, "0", "999999", "abc", "-1", "1.0", "٣", "²", ""]),
    )
    def show(self, data: st.DataObject, shop: str, odd: str | None) -> None:
        numbers = sorted(o.number for o in self.tenant(shop).world.orders)
        text = str(data.draw(st.sampled_from(numbers))) if odd is None else odd
        permission = None if text == "" else "order/show"  # "" is no method: AUTH005 first
        answer = self.send(shop, "GET", f"/order/show/{text}", permission=permission)
        if answer is None:
            return
        status, doc = answer
        if odd == "":  # /order/show/ names no order: the path is not a method of the document
            assert (status, doc) == (200, refusal("AUTH005")), doc
            return
        if odd is not None and not (odd.isascii() and odd.isdigit() and int(odd) in numbers):
            assert (status, doc) == (200, refusal("ORDERSHOW001")), (odd, doc)
            return
        assert status == 200 and doc["code"] == raw.SUCCESS, doc
        order = doc["result"]["order"]
        assert order["id"] == int(text)
        self.observe(shop, order)
        shipped = order["status"] == 3 or order["shipmentDate"] is not None
        assert shipped == bool(order["shipmentCode2"]), order  # tracking from 3 on, not before

    @rule(shop=st.sampled_from(SHOPS), name=st.sampled_from(sorted(ODD_VALUES)), data=st.data())
    def odd_parameter(self, shop: str, name: str, data: st.DataObject) -> None:
        odd = data.draw(st.booleans())
        value = data.draw(st.sampled_from(ODD_VALUES[name] if odd else GOOD_VALUES[name]))
        params = {"pageSize": "3", name: value}
        answer = self.send(shop, "GET", "/order/lists", params, permission="order/lists")
        if answer is None:
            return
        status, doc = answer
        assert status == 200, doc
        if odd:
            assert doc["code"] == "ORDERLISTS001" and doc["result"] is None, (name, value, doc)
            assert name in doc["message"], doc
        else:
            assert doc["code"] == raw.SUCCESS, (name, value, doc)
            for row in doc["result"]["list"]:
                self.observe(shop, row)

    # -- what must not work -------------------------------------------------------------------

    @rule(
        shop=st.sampled_from(SHOPS),
        call=FORBIDDEN.map(lambda c: (*c, 200, "AUTH005"))
        | UNSIMULATED.map(lambda c: (*c, 501, "SANDBOX001")),
        number=st.sampled_from([1, 2, 3, 99999]),
    )
    def write(self, shop: str, call: tuple[str, str, int, str], number: int) -> None:
        """A write: one the document does not offer (AUTH005), or a documented method the
        simulator does not serve (SANDBOX001); either way nothing changes (checked by send)."""
        method, path, status, code = call
        answer = self.send(shop, method, path.format(n=number))
        if answer is not None:
            assert answer == (status, refusal(code)), (method, path, answer)

    @rule(
        shop=st.sampled_from(SHOPS),
        path=st.sampled_from(["/auth", "/order/lists?pageSize=5", "/order/show/1"]),
        kind=st.sampled_from(["none", "key only", "wrong secret", "other shop's secret"]),
    )
    def bad_credentials(self, shop: str, path: str, kind: str) -> None:
        own, other = self.headers[shop], self.headers[SHOPS[1 - SHOPS.index(shop)]]
        headers = {
            "none": {},
            "key only": {"apikey": own["apikey"]},
            "wrong secret": {**own, "apisecret": own["apisecret"] + "x"},
            "other shop's secret": {**own, "apisecret": other["apisecret"]},
        }[kind]
        assert self.send(shop, "GET", path, headers=headers) is None

    @rule(
        shop=st.sampled_from(SHOPS),
        switch=PANEL,
        calls=st.lists(st.sampled_from(sorted(BURST.items())), min_size=1, max_size=3),
    )
    def panel(
        self, shop: str, switch: tuple[str, object], calls: list[tuple[str, str | None]]
    ) -> None:
        """The shop's panel (2. Web Servis Kullanıcısı) switches the service or the user off,
        or narrows the user's methods, for a few requests (send checks AUTH001/003/006)."""
        name, value = switch
        settings = self.tenant(shop).data
        saved, settings[name] = settings[name], value
        try:
            for path, permission in calls:
                self.read(shop, path, permission)
        finally:
            settings[name] = saved

    # -- time -----------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 5, 20, 30, 59, 60, 61]))
    def tick(self, seconds: int) -> None:
        self.box.advance(seconds)

    @rule(seconds=st.sampled_from([3600, 6 * 3600, 86400, 4 * 86400]))
    def wait(self, seconds: int) -> None:
        self.box.advance(seconds)

    @invariant()
    def orders_move_only_along_the_table_and_never_by_request(self) -> None:
        for label, tenant in self.box.sandbox.tenants.items():
            for order in tenant.world.orders:
                assert order.status in STATUSES, order.status
                key = (label, order.number)
                for change in order.history[self.history_seen.get(key, 0) :]:
                    assert change.request_id is None, change
                    if change.source is not None:
                        assert (change.source, change.target) in MOVES, change
                self.history_seen[key] = len(order.history)


def refusal(code: str) -> dict[str, Any]:
    """The envelope of an answer with no result: the code and its message."""
    messages = {**raw.RESPONSE_CODES, "ORDERSHOW001": "Hatalı sipariş ID",
                "SANDBOX001": "Bu metot sandbox'ta simüle edilmiyor"}  # fmt: skip
    return {"code": code, "message": messages[code], "result": None}


def shift(moment: str | None, seconds: int) -> str:
    """``moment`` (wire time) moved by ``seconds``: the window's edges on and next to orders."""
    assert moment is not None
    naive = dt.datetime.strptime(moment, raw.DATETIME_FORMAT)  # noqa: DTZ007 - Istanbul time
    text = wire_time(naive.replace(tzinfo=ISTANBUL) + dt.timedelta(seconds=seconds))
    assert text is not None
    return text


TestWebservisShop = WebservisShop.TestCase
TestWebservisShop.settings = fuzz_settings(25, stateful_step_count=25)


def test_every_value_outside_the_documented_domains_is_refused() -> None:
    """4.4.1's parameters and 4.4.2's order id, value by value (the state machine samples
    them): an integer is ASCII digits."""
    box = Served(WebservisSandbox, orders=4)
    box.sandbox.limits.rules.clear()
    headers = {"apikey": "sandbox-api_key", "apisecret": "sandbox-api_secret"}
    try:
        for table, code in ((ODD_VALUES, "ORDERLISTS001"), (GOOD_VALUES, raw.SUCCESS)):
            for name, values in table.items():
                for value in values:
                    query = urllib.parse.urlencode({"pageSize": "3", name: value})
                    status, doc, _ = box.call("GET", f"/order/lists?{query}", None, headers)
                    assert (status, doc["code"]) == (200, code), (name, value, doc)
        for text, code in (("3", raw.SUCCESS), ("٣", "ORDERSHOW001"), ("²", "ORDERSHOW001")):
            status, doc, _ = box.call("GET", f"/order/show/{text}", None, headers)
            assert (status, doc["code"]) == (200, code), (text, doc)
    finally:
        box.close()
