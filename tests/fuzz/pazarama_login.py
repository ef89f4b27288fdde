"""Logging in to the served Pazarama sandbox from a state machine: the client-credentials token
request (pazarama.txt 2 "Token Alma": ``POST /connect/token``, HTTP Basic with the client id and
secret), sent as written, with no adapter in between."""

from __future__ import annotations

import base64

from pipeline.platforms.pazarama import payloads as raw

from .machine import Served

#: The sandbox's client id and secret as an HTTP Basic credential.
BASIC = base64.b64encode(b"sandbox-client_id:sandbox-client_secret").decode()


def pazarama_token(box: Served) -> str:
    """A fresh access token from ``box``'s sandbox; the login must succeed."""

    async def token() -> str:
        async with box.session.post(
            box.served.root_url + "/connect/token",
            data={"grant_type": "client_credentials", "scope": raw.TOKEN_SCOPE},
            headers={"Authorization": f"Basic {BASIC}"},
        ) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["access_token"])

    return box.runner.run(token())
