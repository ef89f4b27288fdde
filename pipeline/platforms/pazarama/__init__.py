"""Pazarama (isortagimapi.pazarama.com): token auth, per-item statuses, refunds, cancellations.

:mod:`.payloads` wire Structs and code tables, :mod:`.mapping` raw → canonical, :mod:`.client`
auth, paging and windows, :mod:`.commands` writes, :mod:`.sandbox` the simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.pazarama.client import CAPABILITIES, PazaramaClient
from pipeline.ratelimit import DEFAULT_LIMITS

SPEC = PlatformSpec(
    id="pazarama",
    credential_keys=frozenset({"client_id", "client_secret"}),
    default_limit=DEFAULT_LIMITS["pazarama"],
    capabilities=CAPABILITIES,
    client=PazaramaClient,
    sandbox="pipeline.platforms.pazarama.sandbox:PazaramaSandbox",
)
