"""What the chaos driver sends: sandbox faults over the control API and command bursts (valid
commands for orders that exist, invalid ones, poison bytes).

The bursts stay within what the accounts' command budgets can serve (:func:`command_rates`): a
chaos run tests the promises under faults, not a backlog that no budget could drain before the
settle bound (a platform that allows a few writes a minute would leave commands unanswered
however well the pipeline behaved; ``pipeline bench apply`` measures throughput).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import msgspec

from pipeline.ratelimit import RateLimit
from pipeline.testbed import SandboxAccount
from schemas import (
    AnyCommand,
    AttachInvoice,
    OrderStatus,
    SetStatus,
    Ship,
    topics,
)

__all__ = [
    "BASE_FAULTS",
    "COMMAND_COST",
    "DRIVE_SHARE",
    "Bursts",
    "SandboxControl",
    "command_rates",
]

#: Requests one command of the driver's costs a platform at most, faults aside (``pipeline bench
#: apply``: a Pazarama shipment reads the order and the carriers before it writes, and now and
#: then needs a token; e-Çarşı reads before it ships; Softtr and C2C batch up to 100 commands in a
#: request; Web Servis has no write API, its commands are answered without a request).
COMMAND_COST: Final[Mapping[str, float]] = {
    "pazarama": 4.0,
    "ecarsi": 2.5,
    "softtr": 0.25,  # a burst's commands for one account go out together
    "c2c": 0.25,
    "webservis": 0.0,
}
#: The part of a platform's command capacity the bursts use: kills, broker cuts and fault storms
#: pause writes, and retries after faults cost requests of their own.
DRIVE_SHARE: Final = 0.4


def command_rates(
    limits: Mapping[str, RateLimit], accounts: Mapping[str, int], seconds: float
) -> dict[str, float]:
    """Commands a minute the driver may send each platform over a run of ``seconds``: the
    commands share each window allows in the run (a started window counts whole: a 10-minute
    run meets one day), for every account of the platform -- a per-IP window once -- divided by
    :data:`COMMAND_COST`, times :data:`DRIVE_SHARE`. ``limits``: per platform, as the workers
    see them (commands share and ``processes_per_ip`` applied). No entry: no limit."""
    rates: dict[str, float] = {}
    for platform, limit in limits.items():
        cost = COMMAND_COST.get(platform, 4.0)
        if cost <= 0:
            continue
        n = max(1, accounts.get(platform, 1))
        allowed = min(
            w.command_share * math.ceil(seconds / w.period) * (1 if w.shared else n)
            for w in limit.windows
        )
        rates[platform] = DRIVE_SHARE * allowed / cost * 60.0 / seconds
    return rates


#: Always on during the chaos (every platform): edge errors the handler never sees, answers lost
#: after a write landed, slow and cut-short reads. The workers' HTTP total timeout is 5 s.
BASE_FAULTS: Final[tuple[dict[str, Any], ...]] = (
    {"kind": "status", "status": 503, "probability": 0.03},
    {"kind": "rate_limited", "retry_after": 1, "probability": 0.02},
    {"kind": "html_error", "status": 502, "probability": 0.02, "style": "iis"},
    {"kind": "timeout", "method": "GET", "seconds": 6, "probability": 0.01},
    {"kind": "timeout", "method": "POST,PUT", "seconds": 6, "applied": True, "probability": 0.03},
    {"kind": "malformed_json", "method": "GET", "probability": 0.02},
)


class SandboxControl:
    """The control API of the chaos sandboxes (one per platform)."""

    def __init__(self, roots: dict[str, str], session: aiohttp.ClientSession) -> None:
        self.roots = roots  # platform → root URL
        self.session = session

    async def _call(self, method: str, platform: str, path: str, body: Any = None) -> Any:
        url = f"{self.roots[platform]}/_sandbox{path}"
        data = None if body is None else msgspec.json.encode(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        async with self.session.request(method, url, data=data, headers=headers) as response:
            payload = await response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {url}: HTTP {response.status} {payload[:200]!r}")
            return msgspec.json.decode(payload) if payload else None

    async def add_fault(self, platform: str, rule: dict[str, Any]) -> int:
        answer = await self._call("POST", platform, "/faults", rule)
        return int(answer["id"])

    async def remove_fault(self, platform: str, fault_id: int) -> None:
        await self._call("DELETE", platform, f"/faults/{fault_id}")

    async def clear_faults(self) -> None:
        for platform in self.roots:
            await self._call("DELETE", platform, "/faults")

    async def base_faults(self) -> None:
        for platform in self.roots:
            for rule in BASE_FAULTS:
                await self.add_fault(platform, rule)

    async def expire_tokens(self, platform: str) -> int:
        return int((await self._call("POST", platform, "/tokens/expire"))["revoked"])

    async def order_ids(self, platform: str, tenant: str = "main") -> list[str]:
        state = await self._call("GET", platform, f"/state?tenant={tenant}")
        return [str(o["id"]) for o in state[tenant]["orders"]]


@dataclass
class Bursts:
    """Command bursts over the accounts: each shipment names an order only once (a second one
    would be a legitimate second parcel), one e-Çarşı command per burst (a daily budget), and no
    platform more than its ``rates`` (commands a minute, :func:`command_rates`) allow."""

    accounts: Sequence[SandboxAccount]
    seed: int
    rates: Mapping[str, float] = field(default_factory=dict)
    rng: random.Random = field(init=False)
    sent: int = 0
    invalid: int = 0
    poison: int = 0
    by_platform: dict[str, int] = field(default_factory=dict)
    _shipped: set[tuple[str, str]] = field(default_factory=set)
    #: Commands each rate-limited platform may still be sent (refilled by the clock).
    _allowance: dict[str, float] = field(default_factory=dict)
    _last: float | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(f"bursts|{self.seed}")
        self._allowance = dict.fromkeys(self.rates, 1.0)

    def _refill(self, now: float) -> None:
        elapsed = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        for platform, rate in self.rates.items():
            # At most a minute's worth saved up: a quiet stretch does not license a flood.
            cap = max(1.0, rate)
            self._allowance[platform] = min(cap, self._allowance[platform] + rate * elapsed / 60)

    def _id(self) -> str:
        self.sent += 1
        return f"chaos-{self.seed}-{self.sent}"

    def commands(
        self, size: int, orders: dict[str, list[str]], at: float = 0.0
    ) -> list[AnyCommand]:
        """Up to ``size`` valid commands for orders that exist (fewer when the rates run out),
        then an invalid and an expired one. ``at``: seconds on a monotonic clock."""
        self._refill(at)
        now = dt.datetime.now(dt.UTC)
        out: list[AnyCommand] = []
        ecarsi = 0
        for _ in range(size * 3):
            if len(out) >= size:
                break
            account = self.rng.choice(self.accounts)
            p = account.platform
            candidates = orders.get(p, [])
            if p in {"pazarama", "ecarsi"}:
                candidates = [o for o in candidates if (p, o) not in self._shipped]
            if not candidates or (p == "ecarsi" and ecarsi):
                continue
            if p in self._allowance:
                if self._allowance[p] < 1.0:
                    continue
                self._allowance[p] -= 1.0
            order = self.rng.choice(candidates)
            base: dict[str, Any] = {
                "command_id": self._id(),
                "platform": p,
                "account": account.label,
                "order_id": order,
                "issued_at": now,
            }
            command: AnyCommand
            if p == "softtr":
                status = self.rng.choice([OrderStatus.PREPARING, OrderStatus.SHIPPED])
                command = SetStatus(**base, status=status)
            elif p == "c2c":
                command = SetStatus(**base, status=OrderStatus.SHIPPED)
            elif p in {"pazarama", "ecarsi"}:
                self._shipped.add((p, order))
                ecarsi += p == "ecarsi"
                number = f"CH{self.seed % 1000:03d}{self.sent:06d}"
                command = Ship(**base, carrier="Yurtiçi Kargo", tracking_number=number, desi=2)
            else:
                command = AttachInvoice(**base, url="https://fatura.example/1.pdf")
            self.by_platform[p] = self.by_platform.get(p, 0) + 1
            out.append(command)
        first = self.accounts[0]
        ghost: dict[str, Any] = {
            "platform": first.platform,
            "order_id": "1",
            "issued_at": now,
            "url": "https://fatura.example/2.pdf",
        }
        out.append(AttachInvoice(command_id=self._id(), account="ghost", **ghost))
        out.append(
            AttachInvoice(
                command_id=self._id(),
                account=first.label,
                expires_at=now - dt.timedelta(seconds=1),
                **ghost,
            )
        )
        self.invalid += 2
        return out

    def poison_records(self) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
        """Bytes that are no command: one naming itself by ``ce_id``, sometimes one not."""
        first = self.accounts[0]
        key = topics.account_key(first.platform, first.label)
        self.poison += 1
        ce_id = f"chaos-{self.seed}-poison-{self.poison}".encode()
        records = [(key, b'{"type": "order.ship", "command_id": \xff', [("ce_id", ce_id)])]
        if self.rng.random() < 0.5:
            self.poison += 1
            records.append((key, b"\x00\x01 not json at all", []))
        return records
