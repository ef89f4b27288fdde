"""Softtr (per-shop ``https://<shop>/api``): Basic auth, a day-filtered order list without
statuses or dates, order details, and batched status writes.

:mod:`.payloads` wire Structs and code tables, :mod:`.mapping` raw → canonical, :mod:`.client`
auth, paging, windows and the status memory, :mod:`.commands` batched writes, :mod:`.sandbox`
the simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.softtr.client import CAPABILITIES, SofttrClient
from pipeline.platforms.softtr.payloads import RATE_LIMIT

SPEC = PlatformSpec(
    id="softtr",
    credential_keys=frozenset({"username", "password"}),
    default_limit=RATE_LIMIT,
    capabilities=CAPABILITIES,
    client=SofttrClient,
    sandbox="pipeline.platforms.softtr.sandbox:SofttrSandbox",
)
