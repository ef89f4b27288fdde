import datetime as dt

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schemas import ISTANBUL, Order, from_istanbul, to_istanbul
from schemas.examples import sample_order

# Türkiye has kept UTC+3 all year since 2016-09-07; before that DST made some local times
# ambiguous, which is not what we test here.
naive_local = st.datetimes(min_value=dt.datetime(2016, 9, 8), max_value=dt.datetime(2090, 1, 1))


@given(naive_local)
def test_istanbul_local_round_trips_through_utc(local: dt.datetime) -> None:
    utc = from_istanbul(local)
    assert utc.tzinfo is dt.UTC
    assert utc == local.replace(tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert to_istanbul(utc).replace(tzinfo=None) == local


@given(st.datetimes(timezones=st.timezones()))
def test_aware_time_is_converted_never_reinterpreted(moment: dt.datetime) -> None:
    # Wall times inside a DST gap or fold compare unequal across zones by definition (PEP 495).
    assume(moment.replace(fold=1 - moment.fold).utcoffset() == moment.utcoffset())
    assert from_istanbul(moment) == moment


def test_naive_time_is_refused_by_to_istanbul() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_istanbul(dt.datetime(2024, 1, 1))


def test_decoding_a_naive_time_names_the_field() -> None:
    raw = msgspec.json.encode(sample_order()).replace(b"+03:00", b"", 1)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.created_at"):
        msgspec.json.decode(raw, type=Order)


def test_istanbul_zone_is_utc_plus_three() -> None:
    assert dt.datetime(2026, 7, 1, tzinfo=ISTANBUL).utcoffset() == dt.timedelta(hours=3)
