"""The C2C Mağaza simulator: the six POST endpoints under ``/api/c2c/StoreOrderServices``.

Faithful to the document where it speaks, strict where it is silent (the status rules and the
status readings are in :mod:`.sandbox_rules`):

* **Credentials** are read from every body (``Domain``, ``ApiKey``, ``ApiPassword``; property
  names matched case-insensitively, as ASP.NET model binding does). The default tenant accepts
  ``sandbox-domain`` / ``sandbox-api_key`` / ``sandbox-api_password``.
* **Every error is HTTP 200 with ``{"hata": "<Turkish text>"}``** (field notes; the document
  prints no error). The texts are invented (:mod:`.sandbox_rules`, ``ERR_*``): unreadable body,
  wrong credentials, missing/empty/non-string ``SiparisKodlari``, more codes than ``max_codes``
  (only when set: no limit is documented), dates not exactly ``dd.MM.yyyy HH:mm``, a start
  after the end, a ``SiparisDurumu`` filter outside 1–8 (a JSON string or number), a target
  other than the three writable statuses (exact spelling).
* **GetOrdersDate** returns orders with ``BaslangicTarihi <= siparisTarihi < BitisTarihi``
  (Istanbul wall time; the end is exclusive — the stricter reading for a client). Lists are
  unpaged; ``null`` is never sent, an empty result is ``[]``.
* **By-codes reads** return the known codes in request order, each once; unknown codes are
  left out.
* **UpdateOrderStateByOrderCode** answers one ``{Durum, Aciklama}`` per code sent, in order:
  ``Durum`` is "Başarılı" or "Başarısız", ``Aciklama`` names the code (texts invented). A move
  the seller table refuses, or an unknown code, fails that code only. Setting "Kargoya
  Verildi" books a shipment with the order's checkout carrier and a tracking number the
  platform generates (there is no field to send one).
* **Money** is rendered like a .NET ``double``: ``50.0``, ``23.19``; the grand total is the
  double sum of goods and shipping, so float noise such as ``65.00000000000001`` appears as a
  real service would send it. TRY is written ``TL``. Payment types: ``bankTransfer`` for bank
  transfers, ``IYZICO Pool`` for everything else; iyzico's 2.79 % and the marketplace's 10 %
  make up ``siparisIyzicoKomisyonu`` / ``siparisUyeIsYeri`` (invented shares).
* **Order codes** look like ``SP-000123`` (the document shows none); ``urunKargoTeslimTarihi``
  is the ship-by date, two days after the order (as in the sample).
* **Rate limit**: none is documented, so none by default; ``per_minute`` switches one on per
  store, refused with HTTP 200 and ``{"hata": ERR_RATE}``.
* **Request log**: exported bodies are masked by value; besides the tenants' credentials the
  simulator registers every credential value any request carried (a wrong password too), since
  the framework masks only values it knows.
* **Test hook**: :meth:`C2CSandbox.override_fields` replaces fields of one order's rendering
  (a malformed record among good ones).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from pipeline.clock import Clock
from pipeline.platforms.c2c import payloads as raw
from pipeline.platforms.c2c import sandbox_rules as rules
from pipeline.sandbox import (
    ANONYMOUS,
    CARRIERS_BY_CODE,
    ISTANBUL,
    GeneratorSettings,
    Identity,
    Order,
    OrderGenerator,
    RateLimitRule,
    Sandbox,
    SandboxSettings,
    Tenant,
    TransitionRejected,
    local,
    per_tenant,
)
from pipeline.sandbox.model import money

_DATE = re.compile(r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}$")
_IYZICO_SHARE = Decimal("0.0279")
_MARKETPLACE_SHARE = Decimal("0.10")
_CURRENCIES = {"TRY": 90, "EUR": 6, "USD": 4}
Handler = Callable[[web.Request, Tenant, dict[str, Any]], Awaitable[Any]]


class _Refused(Exception):
    """Answer ``{"hata": message}`` (HTTP 200)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def double(value: Decimal) -> Decimal:
    """``value`` as a .NET ``double`` prints in JSON (``50.0``, ``23.19``)."""
    return Decimal(repr(float(value)))


class C2CGenerator(OrderGenerator):
    """Orders as C2C has them: paid by iyzico (card) or bank transfer; a transfer waits for its
    money ("Ödeme Bekliyor"), one order in twenty is an unfinished checkout ("Tamamlanmamış")."""

    def order(
        self,
        rng: random.Random,
        *,
        number: int,
        order_id: str,
        created_at: dt.datetime,
        status: str,
    ) -> Order:
        order = super().order(
            rng, number=number, order_id=order_id, created_at=created_at, status=status
        )
        if order.payment_type != "bank_transfer":
            order.payment_type = "credit_card"
            order.installments = max(1, order.installments)
        start = status
        if order.payment_type == "bank_transfer":
            start = rules.AWAITING_PAYMENT
        elif rng.random() < 0.05:
            start = rules.INCOMPLETE
        if start != status:
            for item in order.items:
                item.status = start
            order.status = start
            order.history[0].target = start
        return order


class C2CSandbox(Sandbox):
    platform = "c2c"
    credential_keys = ("domain", "api_key", "api_password")
    base_path = raw.BASE_PATH
    lifecycle = rules.LIFECYCLE

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        settings: SandboxSettings | None = None,
        per_minute: int | None = None,
        max_codes: int | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.max_codes = max_codes
        self._seen_credentials: set[str] = set()
        super().__init__(clock=clock, settings=settings)

    # -- framework hooks ------------------------------------------------------------------------

    def rate_limit_rules(self) -> Sequence[RateLimitRule]:
        if self.per_minute is None:
            return ()
        return [
            RateLimitRule(
                "per-store",
                limit=self.per_minute,
                window=60.0,
                key=per_tenant,
                respond=lambda refusal: self.json({"hata": rules.ERR_RATE}),
            )
        ]

    def make_generator(self) -> OrderGenerator:
        settings = self.settings.generator
        if settings.currencies == GeneratorSettings().currencies:
            settings = msgspec.structs.replace(settings, currencies=dict(_CURRENCIES))
        return C2CGenerator(settings)

    def format_order_id(self, number: int, created_at: dt.datetime, rng: random.Random) -> str:
        return f"SP-{number:06d}"

    def setup_tenant(self, tenant: Tenant) -> None:
        tenant.data["store"] = f"Sandbox Mağaza ({tenant.label})"
        tenant.data["overrides"] = {}

    def _secret_values(self) -> list[str]:
        return [*super()._secret_values(), *self._seen_credentials]

    def identify(self, request: web.Request, body: bytes) -> Identity:
        doc = _json_object(body)
        if doc is None:
            return ANONYMOUS
        creds = {
            key: doc.get(name)
            for key, name in (
                ("domain", "domain"),
                ("api_key", "apikey"),
                ("api_password", "apipassword"),
            )
        }
        given = {k: v for k, v in creds.items() if isinstance(v, str)}
        self._seen_credentials.update(given.values())
        if not given:
            return ANONYMOUS
        tenant = self.tenant_for(**given) if len(given) == len(creds) else None
        return Identity(f"{tenant.label}:body", tenant) if tenant else Identity("invalid:body")

    def routes(self) -> Iterable[web.RouteDef]:
        return [
            web.post(raw.GET_ALL, self._endpoint(self.get_all)),
            web.post(raw.GET_ORDER_INFO_BY_CODES, self._endpoint(self.order_info)),
            web.post(raw.GET_STATES_BY_CODES, self._endpoint(self.order_states)),
            web.post(raw.GET_ORDERS_BY_DATE, self._endpoint(self.orders_by_date)),
            web.post(raw.GET_ORDERS_BY_STATE, self._endpoint(self.orders_by_state)),
            web.post(raw.UPDATE_STATE_BY_CODES, self._endpoint(self.update_state)),
        ]

    # -- test hooks -----------------------------------------------------------------------------

    def override_fields(
        self, order_id: str, fields: Mapping[str, Any], *, tenant: str = "main"
    ) -> None:
        """Render ``fields`` instead of the real values of one order (e.g. a broken date)."""
        self.tenants[tenant].data["overrides"][order_id] = dict(fields)

    # -- plumbing -------------------------------------------------------------------------------

    def _endpoint(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            try:
                tenant, doc = self._caller(request)
                return self.json(await handler(request, tenant, doc))
            except _Refused as refused:
                return self.json({"hata": refused.message})

        return serve

    def _caller(self, request: web.Request) -> tuple[Tenant, dict[str, Any]]:
        doc = _json_object(self.body(request))
        if doc is None:
            raise _Refused(rules.ERR_BODY)
        tenant = self.identity(request).tenant
        if tenant is None:
            raise _Refused(rules.ERR_AUTH)
        return tenant, doc

    def _codes(self, doc: Mapping[str, Any]) -> list[str]:
        codes = doc.get("sipariskodlari")
        if (
            not isinstance(codes, list)
            or not codes
            or not all(isinstance(c, str) and c for c in codes)
        ):
            raise _Refused(rules.ERR_CODES)
        if self.max_codes is not None and len(codes) > self.max_codes:
            raise _Refused(rules.ERR_TOO_MANY_CODES.format(limit=self.max_codes))
        return codes

    @staticmethod
    def _known(tenant: Tenant, codes: Sequence[str]) -> list[Order]:
        found = (tenant.world.get(code) for code in dict.fromkeys(codes))
        return [order for order in found if order is not None]

    # -- reads ----------------------------------------------------------------------------------

    async def get_all(self, request: web.Request, tenant: Tenant, doc: dict[str, Any]) -> Any:
        return [self.render(tenant, order) for order in tenant.world.orders]

    async def order_info(self, request: web.Request, tenant: Tenant, doc: dict[str, Any]) -> Any:
        return [self.render(tenant, order) for order in self._known(tenant, self._codes(doc))]

    async def order_states(self, request: web.Request, tenant: Tenant, doc: dict[str, Any]) -> Any:
        return [
            {"siparisKodu": order.id, "siparisDurumu": rules.coarse_state(order.status)}
            for order in self._known(tenant, self._codes(doc))
        ]

    async def orders_by_date(
        self, request: web.Request, tenant: Tenant, doc: dict[str, Any]
    ) -> Any:
        start = _local_minute(doc.get("baslangictarihi"))
        end = _local_minute(doc.get("bitistarihi"))
        if start > end:
            raise _Refused(rules.ERR_RANGE)
        orders = tenant.world.orders_between(start, end)
        return [self.render(tenant, order) for order in orders]

    async def orders_by_state(
        self, request: web.Request, tenant: Tenant, doc: dict[str, Any]
    ) -> Any:
        value = doc.get("siparisdurumu")
        # ASCII digits only: "²".isdigit() is True and int("²") raised (a 500, found by fuzzing).
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value not in rules.STATE_FILTERS
        ):
            raise _Refused(rules.ERR_FILTER)
        wanted = rules.STATE_FILTERS[value]
        return [self.render(tenant, o) for o in tenant.world.orders if o.status in wanted]

    # -- the write ------------------------------------------------------------------------------

    async def update_state(self, request: web.Request, tenant: Tenant, doc: dict[str, Any]) -> Any:
        codes = self._codes(doc)
        target = doc.get("siparisdurumu")
        if target not in raw.WRITABLE_STATUSES:
            raise _Refused(rules.ERR_TARGET)
        assert isinstance(target, str)  # noqa: S101 - checked just above
        request_id = self.request_id(request)
        return [self._write(tenant, code, target, request_id) for code in codes]

    def _write(
        self, tenant: Tenant, code: str, target: str, request_id: str | None
    ) -> dict[str, str]:
        world = tenant.world
        order = world.get(code)
        if order is None:
            world.log_write(
                "status", code, [], {"status": target}, "rejected", request_id, reason="unknown"
            )
            return _row(rules.UPDATE_FAILED, rules.MSG_NOT_FOUND.format(code=code))
        source = order.status
        try:
            if target == rules.SHIPPED and source != rules.SHIPPED:
                carrier = CARRIERS_BY_CODE[order.carrier_code]
                world.ship(
                    code,
                    carrier_code=carrier.code,
                    tracking_number=tracking_number(order),
                    status=target,
                    request_id=request_id,
                )
            else:
                world.set_status(code, target, request_id=request_id)
        except TransitionRejected:
            text = rules.MSG_NOT_ALLOWED.format(code=code, source=source, target=target)
            return _row(rules.UPDATE_FAILED, text)
        return _row(rules.UPDATE_OK, rules.MSG_UPDATED.format(code=code, target=target))

    # -- rendering ------------------------------------------------------------------------------

    def render(self, tenant: Tenant, order: Order) -> dict[str, Any]:
        """One order in the document's JSON."""
        currency = "TL" if order.currency == "TRY" else order.currency
        shipped = any(change.target == rules.SHIPPED for change in order.history)
        carrier = CARRIERS_BY_CODE[order.carrier_code]
        ship_by = local(order.created_at + dt.timedelta(days=2)).strftime("%d.%m.%Y")
        products = []
        for item in order.items:
            shipment = item.shipment
            tracking = shipment.tracking_number if shipment else None
            carrier_name = shipment.carrier_name if shipment else None
            if shipped and shipment is None:  # shipped from the web panel: same number
                tracking, carrier_name = tracking_number(order), carrier.name
            name = f"{item.name} - {item.variant}" if item.variant else item.name
            products.append(
                {
                    "urunAdi": name,
                    "urunAdet": item.quantity,
                    "urunFiyat": double(item.unit_price),
                    "urunIndirim": double(item.discount),
                    "urunTutar": double(item.total),
                    "urunParaBirimi": currency,
                    "urunKargoTeslimTarihi": ship_by,
                    "urunKargoTakipNo": tracking or "",
                    "urunKargo": carrier_name or "",
                }
            )
        totals = order.totals
        goods = totals.subtotal - totals.discount
        grand = money(goods + totals.shipping_fee)
        iyzico = order.payment_type != "bank_transfer"
        commission = money(grand * _IYZICO_SHARE) if iyzico else Decimal("0.00")
        marketplace = money(grand * _MARKETPLACE_SHARE)
        installment = money(grand / order.installments) if order.installments > 1 else Decimal(0)
        rendered: dict[str, Any] = {
            "siparisKodu": order.id,
            "siparisTarihi": local(order.created_at).strftime(raw.DATE_TIME_FORMAT),
            "siparisSatici": tenant.data.get("store", ""),
            "siparisAliciAdi": order.buyer.full_name,
            "siparisAliciMail": order.buyer.email,
            "siparisOdemeTuru": "IYZICO Pool" if iyzico else "bankTransfer",
            "siparisUrunleri": products,
            "siparisTutari": double(goods),
            "siparisKargoTutari": double(totals.shipping_fee),
            # A .NET service adding doubles: the noise is the platform's, not ours.
            "siparisToplamTutar": Decimal(repr(float(goods) + float(totals.shipping_fee))),
            "siparisTaksitSayisi": order.installments,
            "siparisTaksitTutari": double(installment),
            "siparisAltUyeIsYeri": double(grand - commission - marketplace),
            "siparisUyeIsYeri": double(marketplace),
            "siparisIyzicoKomisyonu": double(commission),
            "siparisParaBirimi": currency,
            "siparisTeslimatAdresi": _address(order.shipping_address),
            "siparisFaturaAdresi": _address(order.billing_address),
            "siparisNotu": order.note or "",
            "siparisDurumu": order.status,
        }
        rendered.update(tenant.data.get("overrides", {}).get(order.id, {}))
        return rendered


def tracking_number(order: Order) -> str:
    """The tracking number the platform's contracted carrier gives an order (deterministic)."""
    return CARRIERS_BY_CODE[order.carrier_code].tracking(random.Random(f"{order.id}|tracking"))


def _row(durum: str, aciklama: str) -> dict[str, str]:
    return {"Durum": durum, "Aciklama": aciklama}


def _address(address: Any) -> str:
    return f"{address.display} {address.postal_code}"


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as an object with lower-cased keys, or None. Property names are ASCII and .NET
    binds them case-insensitively in the invariant culture, so ``str.lower`` is right here."""
    try:
        doc = msgspec.json.decode(body.removeprefix(b"\xef\xbb\xbf"))
    except msgspec.DecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    return {str(k).lower(): v for k, v in doc.items()}


def _local_minute(value: Any) -> dt.datetime:
    if not isinstance(value, str) or not _DATE.match(value):
        raise _Refused(rules.ERR_DATE)
    try:
        naive = dt.datetime.strptime(value, raw.DATE_TIME_FORMAT)  # noqa: DTZ007 - Istanbul next
    except ValueError:
        raise _Refused(rules.ERR_DATE) from None
    return naive.replace(tzinfo=ISTANBUL)
