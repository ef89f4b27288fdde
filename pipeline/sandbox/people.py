"""Turkish buyers: names with the letters adapters get wrong (İ, I, Ş, Ğ, Ü, Ö, Ç), e-mail
addresses, mobile numbers and corporate buyers' trade names.

Mobile numbers are 11 digits ``05xxxxxxxxx`` with real operator prefixes (Turkcell 53x, Vodafone
54x, Türk Telekom 50x/55x); platforms strip or keep the leading 0, that is their choice.
"""

from __future__ import annotations

import random
from typing import Final

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Ahmet",
    "Mehmet",
    "Mustafa",
    "Ayşe",
    "Fatma",
    "Emine",
    "Hatice",
    "Zeynep",
    "Elif",
    "Özge",
    "Çağla",
    "Gökhan",
    "Şükrü",
    "Ümit",
    "İbrahim",
    "İsmail",
    "Ömer",
    "Öykü",
    "Gülşen",
    "Doğan",
    "Buğra",
    "Çiğdem",
    "Şule",
    "Tuğba",
    "Büşra",
    "Ilgın",
    "Işıl",
    "İrem",
    "Yağmur",
    "Ceren",
    "Burak",
    "Emre",
    "Oğuz",
    "Ağahan",
    "Süleyman",
    "Ünal",
    "Şeyma",
    "Gözde",
    "Barış",
    "Çağrı",
    "Ebru",
    "Hülya",
    "Kübra",
    "Sıla",
    "Tolga",
)

LAST_NAMES: Final[tuple[str, ...]] = (
    "Yılmaz",
    "Kaya",
    "Demir",
    "Şahin",
    "Çelik",
    "Yıldız",
    "Yıldırım",
    "Öztürk",
    "Aydın",
    "Özdemir",
    "Arslan",
    "Doğan",
    "Kılıç",
    "Aslan",
    "Çetin",
    "Kara",
    "Koç",
    "Kurt",
    "Özkan",
    "Şimşek",
    "Polat",
    "Erdoğan",
    "Güneş",
    "Akgül",
    "Ünal",
    "Bozkurt",
    "Ağaoğlu",
    "Işık",
    "İnce",
    "Türkoğlu",
    "Gündoğdu",
    "Çakır",
    "Sönmez",
    "Ölmez",
    "Uğurlu",
    "Ekşioğlu",
)

EMAIL_DOMAINS: Final[tuple[str, ...]] = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "yandex.com.tr",
    "windowslive.com",
)

# (prefix, operator) — 11-digit numbers start with 0 + these three digits.
MOBILE_PREFIXES: Final[tuple[str, ...]] = (
    "530",
    "531",
    "532",
    "533",
    "535",
    "536",
    "537",
    "538",
    "539",  # Turkcell
    "541",
    "542",
    "543",
    "544",
    "545",
    "546",
    "547",
    "548",
    "549",  # Vodafone
    "501",
    "505",
    "506",
    "507",
    "551",
    "552",
    "553",
    "554",
    "555",  # Türk Telekom
)

COMPANY_STEMS: Final[tuple[str, ...]] = (
    "Anadolu",
    "Boğaziçi",
    "Ege",
    "Karadeniz",
    "Yıldız",
    "Güneş",
    "Doğuş",
    "Özgür",
    "Işıklar",
    "Çağdaş",
    "Ünlü",
    "Birlik",
    "Marmara",
    "Akdeniz",
    "Şimşek",
    "Ergün",
)
COMPANY_TRADES: Final[tuple[str, ...]] = (
    "Bilişim",
    "Tekstil",
    "Gıda",
    "Yapı",
    "Lojistik",
    "Mobilya",
    "Elektronik",
    "Kırtasiye",
    "Otomotiv",
    "Danışmanlık",
    "Medikal",
    "Turizm",
)
COMPANY_FORMS: Final[tuple[str, ...]] = (
    "Ltd. Şti.",
    "San. ve Tic. Ltd. Şti.",
    "A.Ş.",
    "San. ve Tic. A.Ş.",
    "Tic. Ltd. Şti.",
)

# Turkish letters folded to ASCII for e-mail local parts. Folding first, lowering second:
# "İ".lower() is "i̇" (two code points) in Python.
_ASCII_FOLD = str.maketrans("ÇçĞğİıÖöŞşÜü", "CcGgIiOoSsUu")


def ascii_fold(text: str) -> str:
    return text.translate(_ASCII_FOLD)


def full_name(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(FIRST_NAMES)
    if rng.random() < 0.12:  # double given names are common: "Ayşe Gül", "Mehmet Ali"
        first = f"{first} {rng.choice(FIRST_NAMES)}"
    return first, rng.choice(LAST_NAMES)


def email(rng: random.Random, first: str, last: str) -> str:
    local_first = ascii_fold(first).lower().replace(" ", "")
    local_last = ascii_fold(last).lower()
    shape = rng.randrange(4)
    if shape == 0:
        local = f"{local_first}.{local_last}"
    elif shape == 1:
        local = f"{local_first}{local_last}{rng.randint(1, 99)}"
    elif shape == 2:
        local = f"{local_first[0]}{local_last}{rng.randint(1970, 2006)}"
    else:
        local = f"{local_first}_{local_last}"
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def mobile_phone(rng: random.Random) -> str:
    return "0" + rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randint(0, 9)) for _ in range(7))


def company_name(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_STEMS)} {rng.choice(COMPANY_TRADES)} {rng.choice(COMPANY_FORMS)}"
