import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.dates import DateParseError, format_local, parse_platform_datetime, turkish_fold

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-25 15:22", dt.datetime(2023, 1, 25, 12, 22, tzinfo=UTC)),
        ("6 Ekim 2021 14:53", dt.datetime(2021, 10, 6, 11, 53, tzinfo=UTC)),
        ("1 Mart 2024 10:12", dt.datetime(2024, 3, 1, 7, 12, tzinfo=UTC)),
        ("6Ekim2021 14 :53", dt.datetime(2021, 10, 6, 11, 53, tzinfo=UTC)),
        ("12 ŞUBAT 2024", dt.datetime(2024, 2, 11, 21, 0, tzinfo=UTC)),
        ("3 AĞUSTOS 2025 09:00", dt.datetime(2025, 8, 3, 6, 0, tzinfo=UTC)),
        ("2 Aralık 2025 23:59:59", dt.datetime(2025, 12, 2, 20, 59, 59, tzinfo=UTC)),
        (
            "2024-01-26T12:30:08.2638204+03:00",
            dt.datetime(2024, 1, 26, 9, 30, 8, 263820, tzinfo=UTC),
        ),
        ("2023-01-03T19:00:00", dt.datetime(2023, 1, 3, 16, 0, tzinfo=UTC)),
        ("2023-12-28T09:12:16.333", dt.datetime(2023, 12, 28, 6, 12, 16, 333000, tzinfo=UTC)),
        ("2023-01-01T00:00:01.768Z", dt.datetime(2023, 1, 1, 0, 0, 1, 768000, tzinfo=UTC)),
        ("05.10.2019 11:12", dt.datetime(2019, 10, 5, 8, 12, tzinfo=UTC)),
        ("28-09-2022", dt.datetime(2022, 9, 27, 21, 0, tzinfo=UTC)),
        ("2024-05-01 10:00:00+0000", dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_documented_spellings(text: str, expected: dt.datetime) -> None:
    assert parse_platform_datetime(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2023-13-01", "32 Ocak 2024", "5 Brumaire 2024", "2023-02-30 10:00"]
)
def test_bad_dates_raise_naming_the_value(text: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_platform_datetime(text)
    assert repr(text) in str(info.value) or "Brumaire" in str(info.value)


def test_turkish_fold_is_not_str_lower() -> None:
    assert turkish_fold("İPTAL EDİLDİ") == "iptal edildi"
    assert turkish_fold("KARGOYA VERILDI") == "kargoya verıldı"
    assert "İ".lower() != "i"


@given(st.datetimes(min_value=dt.datetime(2017, 1, 1), max_value=dt.datetime(2060, 1, 1)))
def test_formats_round_trip(local: dt.datetime) -> None:
    local = local.replace(microsecond=0)
    moment = local.replace(tzinfo=dt.timezone(dt.timedelta(hours=3))).astimezone(UTC)
    for pattern in (
        "%Y-%m-%d %H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
        "%d-%m-%Y %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ):
        assert parse_platform_datetime(format_local(moment, pattern)) == moment
