"""Masking stays linear in the text's length: a platform can echo a megabyte into an error text,
and every log line is masked at the formatter. (With an unbounded e-mail local part, a 40 kB run
of letters took 2 s and a megabyte about twenty minutes — the test timeout catches a relapse.)"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pipeline import masking
from pipeline.masking import mask_text

from .budget import fuzz_settings

# The unbounded pattern masking used before: the same answers on addresses of real length.
_UNBOUNDED = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def test_a_long_run_without_an_at_sign_is_masked_in_one_pass() -> None:
    for text in ("A" * 300_000 + " ali@example.com", "a.b" * 100_000, "9" * 300_000):
        masked = mask_text(text)
        assert "ali@" not in masked and abs(len(masked) - len(text)) < 10
    assert mask_text("A" * 200_000 + " ali@example.com").endswith(" a***@example.com")


def test_an_over_long_local_part_still_hides_the_address() -> None:
    masked = mask_text("x" * 500 + "@example.com")
    assert masked.endswith("***@example.com") and "x" * 70 not in masked[-80:]


@fuzz_settings(300)
@given(st.text(alphabet="ab.@-_ x+%1İcomt", max_size=60))
def test_addresses_of_real_length_are_masked_as_before(text: str) -> None:
    bounded = masking._EMAIL
    try:
        masking._EMAIL = _UNBOUNDED
        before = mask_text(text)
    finally:
        masking._EMAIL = bounded
    assert mask_text(text) == before
