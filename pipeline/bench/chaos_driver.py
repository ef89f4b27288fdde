"""What the chaos driver sends: sandbox faults over the control API and command bursts (valid
commands for orders that exist, invalid ones, poison bytes)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import msgspec

from pipeline.testbed import SandboxAccount
from schemas import (
    AnyCommand,
    AttachInvoice,
    OrderStatus,
    SetStatus,
    Ship,
    topics,
)

__all__ = ["BASE_FAULTS", "Bursts", "SandboxControl"]

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
    would be a legitimate second parcel), one e-Çarşı command per burst (a daily budget)."""

    accounts: Sequence[SandboxAccount]
    seed: int
    rng: random.Random = field(init=False)
    sent: int = 0
    invalid: int = 0
    poison: int = 0
    by_platform: dict[str, int] = field(default_factory=dict)
    _shipped: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"bursts|{self.seed}")

    def _id(self) -> str:
        self.sent += 1
        return f"chaos-{self.seed}-{self.sent}"

    def commands(self, size: int, orders: dict[str, list[str]]) -> list[AnyCommand]:
        """``size`` valid commands for orders that exist, then an invalid and an expired one."""
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
