"""Parsing the date strings platforms send, into aware UTC datetimes.

Platforms send Europe/Istanbul wall time in many spellings: ISO 8601 with or without offset and
with up to 7 fractional digits (.NET), ``2023-01-25 15:22``, ``05.10.2019 11:12``,
``28-09-2022``, and Turkish month names (``6 Ekim 2021 14:53``). A naive value is Istanbul
time; a value with an offset is converted, never reinterpreted. Anything else raises
:class:`DateParseError` naming the value, so a mapping can report the field and account.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from schemas.times import ISTANBUL

UTC: Final = dt.UTC

#: Turkish month names (and common short forms), folded to lower case without dots on i.
TURKISH_MONTHS: Final[dict[str, int]] = {
    "ocak": 1,
    "şubat": 2,
    "mart": 3,
    "nisan": 4,
    "mayıs": 5,
    "haziran": 6,
    "temmuz": 7,
    "ağustos": 8,
    "eylül": 9,
    "ekim": 10,
    "kasım": 11,
    "aralık": 12,
    "oca": 1,
    "şub": 2,
    "mar": 3,
    "nis": 4,
    "may": 5,
    "haz": 6,
    "tem": 7,
    "ağu": 8,
    "eyl": 9,
    "eki": 10,
    "kas": 11,
    "ara": 12,
}

_NUMERIC = re.compile(
    r"""^(?:
        (?P<y1>\d{4})-(?P<m1>\d{1,2})-(?P<d1>\d{1,2})      # 2023-01-25
      | (?P<d2>\d{1,2})[./-](?P<m2>\d{1,2})[./-](?P<y2>\d{4})  # 25.01.2023, 25-01-2023, 25/01/2023
    )
    (?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d+))?)?)?
    \s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$""",
    re.VERBOSE,
)
_WORDS = re.compile(
    r"^(?P<d>\d{1,2})\s*(?P<mon>[^\W\d_]+)\.?\s*(?P<y>\d{4})"
    r"(?:[ ,]+(?P<H>\d{1,2})\s*:\s*(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)


class DateParseError(ValueError):
    """A date string in none of the known spellings."""


def turkish_fold(text: str) -> str:
    """Lower-case Turkish text correctly: ``İ`` → ``i``, ``I`` → ``ı`` (``str.lower`` is wrong)."""
    return text.replace("İ", "i").replace("I", "ı").lower()


def _tz(text: str | None) -> dt.tzinfo:
    if text is None:
        return ISTANBUL
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_platform_datetime(text: str) -> dt.datetime:
    """Parse a platform's date/time string into an aware UTC datetime."""
    raw = " ".join(text.split())
    match = _NUMERIC.match(raw)
    try:
        if match:
            g = match.groupdict()
            year = int(g["y1"] or g["y2"])
            month = int(g["m1"] or g["m2"])
            day = int(g["d1"] or g["d2"])
            micro = int((g["F"] or "0")[:6].ljust(6, "0"))
            local = dt.datetime(
                year,
                month,
                day,
                int(g["H"] or 0),
                int(g["M"] or 0),
                int(g["S"] or 0),
                micro,
                tzinfo=_tz(g["tz"]),
            )
            return local.astimezone(UTC)
        words = _WORDS.match(raw)
        if words:
            g = words.groupdict()
            named = TURKISH_MONTHS.get(turkish_fold(g["mon"]))
            if named is None:
                raise DateParseError(f"unknown month name {g['mon']!r} in {text!r}")
            local = dt.datetime(
                int(g["y"]),
                named,
                int(g["d"]),
                int(g["H"] or 0),
                int(g["M"] or 0),
                int(g["S"] or 0),
                tzinfo=ISTANBUL,
            )
            return local.astimezone(UTC)
    except ValueError as exc:
        if isinstance(exc, DateParseError):
            raise
        raise DateParseError(f"invalid date {text!r}: {exc}") from None
    raise DateParseError(f"unrecognised date {text!r}")


def format_local(moment: dt.datetime, pattern: str) -> str:
    """Format an aware time as Istanbul wall time with a ``strftime`` pattern."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(ISTANBUL).strftime(pattern)


def split_window(
    start: dt.datetime, end: dt.datetime, size: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[start, end)`` cut into consecutive windows no longer than ``size`` (aware times)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("windows need aware datetimes")
    if size <= dt.timedelta(0):
        raise ValueError("window size must be positive")
    out = []
    cursor = start
    while cursor < end:
        nxt = min(cursor + size, end)
        out.append((cursor, nxt))
        cursor = nxt
    return out
