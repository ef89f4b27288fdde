"""Pazarama (isortagimapi.pazarama.com): token auth, per-item statuses, refunds, cancellations.

:mod:`.payloads` wire Structs and code tables, :mod:`.mapping` raw → canonical, :mod:`.client`
auth, paging and windows, :mod:`.commands` writes, :mod:`.sandbox` the simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.pazarama.client import CAPABILITIES, PazaramaClient
from pipeline.platforms.pazarama.payloads import RATE_LIMIT

SPEC = PlatformSpec(
    id="pazarama",
    credential_keys=frozenset({"client_id", "client_secret"}),
    default_limit=RATE_LIMIT,
    capabilities=CAPABILITIES,
    client=PazaramaClient,
    sandbox="pipeline.platforms.pazarama.sandbox:PazaramaSandbox",
)
