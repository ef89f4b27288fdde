"""Aware datetimes only. Platforms speak Europe/Istanbul local time; the contract speaks UTC.

Every time in the contract is timezone-aware (the JSON Schema says so and decoding refuses a
naive time). :func:`from_istanbul` attaches the platforms' zone to a naive local time; a time
that is already aware is converted, never reinterpreted.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final
from zoneinfo import ZoneInfo

import msgspec

ISTANBUL: Final = ZoneInfo("Europe/Istanbul")
UTC: Final = dt.UTC

#: A datetime that must carry a timezone (msgspec refuses a naive one when decoding).
AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


def from_istanbul(local: dt.datetime) -> dt.datetime:
    """A platform's naive local time → aware UTC. An aware input is converted to UTC."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=ISTANBUL)
    return local.astimezone(UTC)


def to_istanbul(moment: dt.datetime) -> dt.datetime:
    """An aware time → Europe/Istanbul local (aware). A naive input is an error."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the contract only carries aware times")
    return moment.astimezone(ISTANBUL)


def ensure_aware(moment: dt.datetime, *, field: str = "time") -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware, got naive {moment.isoformat()}")
    return moment
