"""Webservis (the generic "E-Ticaret API Web Servis" V2.0.3, one shop per account): header
auth, answer codes in HTTP 200 bodies, 25 requests a minute per shop, orders read-only.

:mod:`.payloads` wire Structs and code tables, :mod:`.mapping` raw → canonical, :mod:`.client`
auth, paging, detail calls and the updated-since sweep, :mod:`.commands` (every command
unsupported), :mod:`.sandbox` the simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.webservis.client import CAPABILITIES, WebservisClient
from pipeline.platforms.webservis.payloads import RATE_LIMIT

SPEC = PlatformSpec(
    id="webservis",
    credential_keys=frozenset({"api_key", "api_secret"}),
    default_limit=RATE_LIMIT,
    capabilities=CAPABILITIES,
    client=WebservisClient,
    sandbox="pipeline.platforms.webservis.sandbox:WebservisSandbox",
)
