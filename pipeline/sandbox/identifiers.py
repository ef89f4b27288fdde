"""Turkish personal and commercial identifiers with their real check digits.

The sandboxes hand these to adapters, which must mask them (TC kimlik no, VKN, phone) and may
validate them; a generator that produced numbers a real validator rejects would hide bugs.

- TC kimlik no: 11 digits, first non-zero; digit 10 = (7·(d1+d3+d5+d7+d9) − (d2+d4+d6+d8)) mod 10,
  digit 11 = (d1+…+d10) mod 10. e-Arşiv invoices for an unidentified buyer use the placeholder
  11111111111, which fails the second check on purpose.
- VKN (vergi kimlik no): 10 digits, the last a check digit over the first nine (GİB algorithm).
- EAN-13: weights 1,3,1,3… over the first twelve digits; Turkish GS1 prefixes are 868 and 869.
- UPU S10 (PTT's registered items, ``RR123456785TR``): weights 8,6,4,2,3,5,9,7 mod 11.
"""

from __future__ import annotations

import random

E_ARSIV_PLACEHOLDER_TC = "11111111111"
TURKISH_GS1_PREFIXES = ("868", "869")


def tc_kimlik_check_digits(first_nine: str) -> str:
    """The two check digits that complete a nine-digit TC kimlik prefix."""
    d = [int(c) for c in first_nine]
    tenth = ((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10
    eleventh = (sum(d) + tenth) % 10
    return f"{tenth}{eleventh}"


def is_valid_tc_kimlik(value: str) -> bool:
    if len(value) != 11 or not value.isdigit() or value[0] == "0":
        return False
    return value[9:] == tc_kimlik_check_digits(value[:9])


def tc_kimlik(rng: random.Random) -> str:
    first_nine = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    return first_nine + tc_kimlik_check_digits(first_nine)


def vkn_check_digit(first_nine: str) -> str:
    total = 0
    for i, char in enumerate(first_nine):
        shifted = (int(char) + 9 - i) % 10
        weighted = (shifted * 2 ** (9 - i)) % 9
        total += 9 if shifted != 0 and weighted == 0 else weighted
    return str((10 - total % 10) % 10)


def is_valid_vkn(value: str) -> bool:
    if len(value) != 10 or not value.isdigit():
        return False
    return value[9] == vkn_check_digit(value[:9])


def vkn(rng: random.Random) -> str:
    first_nine = "".join(str(rng.randint(0, 9)) for _ in range(9))
    return first_nine + vkn_check_digit(first_nine)


def ean13_check_digit(first_twelve: str) -> str:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first_twelve))
    return str((10 - total % 10) % 10)


def is_valid_ean13(value: str) -> bool:
    if len(value) != 13 or not value.isdigit():
        return False
    return value[12] == ean13_check_digit(value[:12])


def ean13(rng: random.Random, prefix: str | None = None) -> str:
    head = prefix if prefix is not None else rng.choice(TURKISH_GS1_PREFIXES)
    body = head + "".join(str(rng.randint(0, 9)) for _ in range(12 - len(head)))
    return body + ean13_check_digit(body)


_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> str:
    remainder = 11 - sum(int(c) * w for c, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: "0", 11: "5"}.get(remainder, str(remainder))


def is_valid_s10(value: str) -> bool:
    if len(value) != 13 or not value[2:10].isdigit() or not value[10].isdigit():
        return False
    return value[10] == s10_check_digit(value[2:10])


def s10(rng: random.Random, service: str = "RR", country: str = "TR") -> str:
    serial = "".join(str(rng.randint(0, 9)) for _ in range(8))
    return f"{service}{serial}{s10_check_digit(serial)}{country}"


def digits(rng: random.Random, count: int, first: str = "") -> str:
    """A run of ``count`` random digits starting with ``first`` (a fixed prefix)."""
    return first + "".join(str(rng.randint(0, 9)) for _ in range(count - len(first)))
