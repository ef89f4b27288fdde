"""C2C Mağaza store services (kmk.apiservisi.com/api/c2c/StoreOrderServices): credentials in
every POST body, unpaged order lists, many-codes state reads and status writes.

:mod:`.payloads` wire Structs and code tables, :mod:`.mapping` raw → canonical (the status
table), :mod:`.client` requests, errors in HTTP 200 bodies and windows, :mod:`.commands` status
writes, :mod:`.sandbox` the simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.c2c.client import CAPABILITIES, CREDENTIAL_KEYS, C2CClient
from pipeline.platforms.c2c.payloads import RATE_LIMIT

SPEC = PlatformSpec(
    id="c2c",
    credential_keys=CREDENTIAL_KEYS,
    default_limit=RATE_LIMIT,
    capabilities=CAPABILITIES,
    client=C2CClient,
    sandbox="pipeline.platforms.c2c.sandbox:C2CSandbox",
)
