"""Access tokens with an expiry on the sandbox clock, for platforms that issue them (OAuth2
client credentials, a login endpoint returning a Bearer token).

Token values come from a seeded stream, so a run is reproducible, and are opaque; the request
log names a token by its serial (``main/token#3``), never by value. :meth:`TokenIssuer.revoke_all`
is what the ``token_expiry`` fault calls: every token issued so far stops working at once, the
way a platform's key rotation or a cache flush looks to a client.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Literal

import msgspec

from pipeline.clock import Clock

TokenState = Literal["valid", "expired", "revoked", "unknown"]


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    value: str
    tenant: str
    serial: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    scope: str = ""

    @property
    def label(self) -> str:
        return f"{self.tenant}/token#{self.serial}"

    @property
    def lifetime(self) -> dt.timedelta:
        return self.expires_at - self.issued_at


class TokenIssuer:
    def __init__(self, clock: Clock, *, seed: int | str = 0, prefix: str = "sbx_") -> None:
        self._clock = clock
        self._rng = random.Random(f"{seed}|tokens")
        self._prefix = prefix
        self._tokens: dict[str, IssuedToken] = {}
        self._revoked: set[str] = set()

    def issue(self, tenant: str, ttl: dt.timedelta, *, scope: str = "") -> IssuedToken:
        now = self._clock.now()
        token = IssuedToken(
            value=f"{self._prefix}{self._rng.getrandbits(192):048x}",
            tenant=tenant,
            serial=len(self._tokens) + 1,
            issued_at=now,
            expires_at=now + ttl,
            scope=scope,
        )
        self._tokens[token.value] = token
        return token

    def state(self, value: str) -> TokenState:
        token = self._tokens.get(value)
        if token is None:
            return "unknown"
        if value in self._revoked:
            return "revoked"
        if self._clock.now() >= token.expires_at:
            return "expired"
        return "valid"

    def lookup(self, value: str) -> IssuedToken | None:
        """The token whatever its state (for labels and per-token limits)."""
        return self._tokens.get(value)

    def validate(self, value: str) -> IssuedToken | None:
        """The token if it may be used now, else None."""
        return self._tokens[value] if self.state(value) == "valid" else None

    def revoke(self, value: str) -> None:
        if value in self._tokens:
            self._revoked.add(value)

    def revoke_all(self) -> int:
        """Revoke every live token; returns how many were still valid."""
        live = [v for v in self._tokens if self.state(v) == "valid"]
        self._revoked.update(self._tokens)
        return len(live)

    @property
    def issued(self) -> list[IssuedToken]:
        return list(self._tokens.values())
