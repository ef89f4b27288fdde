"""E-Çarşı (api.e-carsi.com): e-mail/password login, orders on a 1000-requests-a-day budget,
shipping records as the only write.

:mod:`.payloads` wire Structs, code tables and messages, :mod:`.mapping` raw → canonical,
:mod:`.client` auth, paging and error parsing, :mod:`.commands` writes, :mod:`.sandbox` the
simulator.
"""

from pipeline.adapter import PlatformSpec
from pipeline.platforms.ecarsi.client import CAPABILITIES, EcarsiClient
from pipeline.ratelimit import DEFAULT_LIMITS

SPEC = PlatformSpec(
    id="ecarsi",
    credential_keys=frozenset({"email", "password"}),
    default_limit=DEFAULT_LIMITS["ecarsi"],
    capabilities=CAPABILITIES,
    client=EcarsiClient,
    sandbox="pipeline.platforms.ecarsi.sandbox:EcarsiSandbox",
)
