"""Who is calling: tenants (the merchant accounts a simulator holds) and the identity a request
resolved to, plus parsers for the credential carriers platforms use (Basic, Bearer, headers).

By default a simulator holds one tenant, ``main``, whose credentials are ``sandbox-<key>`` for
every credential key the platform declares (``sandbox-client_id``), so a configuration for the
sandboxes is predictable; :meth:`~pipeline.sandbox.app.Sandbox.add_tenant` adds others.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pipeline.sandbox.tokens import IssuedToken, TokenState
from pipeline.sandbox.world import World

DEFAULT_TENANT = "main"


def default_credentials(keys: tuple[str, ...], label: str = DEFAULT_TENANT) -> dict[str, str]:
    if label == DEFAULT_TENANT:
        return {key: f"sandbox-{key}" for key in keys}
    return {key: f"sandbox-{label}-{key}" for key in keys}


@dataclass(eq=False)
class Tenant:
    label: str
    credentials: dict[str, str]
    world: World
    data: dict[str, Any] = field(default_factory=dict)  # the simulator's own per-account state

    def matches(self, values: Mapping[str, str | None]) -> bool:
        """True when every given credential equals this tenant's (and at least one is given)."""
        return bool(values) and all(
            v is not None and self.credentials.get(k) == v for k, v in values.items()
        )


@dataclass(frozen=True)
class Identity:
    """What a request authenticated as. ``tenant`` None = not (validly) authenticated."""

    label: str  # safe to log: "main:basic", "main/token#3", "anonymous", "invalid:bearer"
    tenant: Tenant | None = None
    token: IssuedToken | None = None
    token_state: TokenState | None = None

    @property
    def authenticated(self) -> bool:
        return self.tenant is not None


ANONYMOUS = Identity("anonymous")


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
