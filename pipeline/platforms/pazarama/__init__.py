"""Pazarama (isortagimapi.pazarama.com): wire Structs and code tables in :mod:`.payloads`."""
