import logging

from hypothesis import given
from hypothesis import strategies as st

from pipeline.masking import excerpt, mask_text, register_secret


@given(st.from_regex(r"[1-9]\d{10}", fullmatch=True))
def test_tc_kimlik_numbers_are_masked(tckn: str) -> None:
    masked = mask_text(f"customer {tckn} ordered")
    assert tckn not in masked
    assert masked.endswith(f"{tckn[-2:]} ordered")


@given(st.from_regex(r"5\d{9}", fullmatch=True), st.sampled_from(["0", "+90 ", "90", "+90", ""]))
def test_mobile_numbers_are_masked_in_common_spellings(number: str, prefix: str) -> None:
    spaced = f"{number[:3]} {number[3:6]} {number[6:8]} {number[8:]}"
    for form in (prefix + number, prefix + spaced):
        assert number[:8] not in mask_text(f"tel: {form}").replace(" ", "")


def test_email_keeps_only_first_letter_and_domain() -> None:
    assert mask_text("ayse.yilmaz@example.com.tr") == "a***@example.com.tr"


def test_money_amounts_and_short_numbers_survive() -> None:
    text = "total 1234567.89 TL, qty 3, order 12345"
    assert mask_text(text) == text


def test_registered_secret_and_secret_keys_are_masked() -> None:
    register_secret("Zx9-very-secret")
    text = mask_text('auth Zx9-very-secret {"client_secret": "abc", "ApiPassword": "p@ss"}')
    assert "Zx9-very-secret" not in text
    assert "abc" not in text and "p@ss" not in text


def test_bearer_tokens_are_masked() -> None:
    assert "eyJhbGciOi" not in mask_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")


def test_excerpt_truncates_and_masks() -> None:
    out = excerpt(b'{"tc":"12345678901",' + b"x" * 1000)
    assert "12345678901" not in out
    assert len(out) <= 201


def test_masked_text_in_a_log_record(caplog: object) -> None:
    logger = logging.getLogger("test.masking")
    with caplog.at_level(logging.INFO):  # type: ignore[attr-defined]
        logger.info("customer %s", mask_text("05321234567"))
    assert "05321234567" not in caplog.text  # type: ignore[attr-defined]


def test_a_fleet_of_secrets_is_masked_longest_first() -> None:
    # Past a hundred secrets (a worker of many accounts) the text is scanned once, not once per
    # secret; what is masked must not change.
    for n in range(150):
        register_secret(f"fleet-secret-{n:03d}-value")
    register_secret("fleet-secret-007-value-longer")
    text = "a fleet-secret-007-value-longer b fleet-secret-149-value c fleet-secret-000-valu"
    assert mask_text(text) == "a *** b *** c fleet-secret-000-valu"
