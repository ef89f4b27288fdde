"""E-Çarşı (api.e-carsi.com): e-mail/password login, orders on a 1000-requests-a-day budget,
shipping records as the only write.

:mod:`.payloads` wire Structs, code tables and messages, :mod:`.mapping` raw → canonical,
:mod:`.client` auth, paging and error parsing, :mod:`.commands` writes, :mod:`.sandbox` the
simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.ecarsi.client import CAPABILITIES, EcarsiClient
from pipeline.platforms.ecarsi.payloads import RATE_LIMIT

SPEC = PlatformSpec(
    id="ecarsi",
    credential_keys=frozenset({"email", "password"}),
    default_limit=RATE_LIMIT,
    capabilities=CAPABILITIES,
    client=EcarsiClient,
    sandbox="pipeline.platforms.ecarsi.sandbox:EcarsiSandbox",
)
