"""Real Turkish provinces (il) with real districts (ilçe), plate codes and tax offices.

Every (il, ilçe) pair below exists; adapters and downstream consumers may validate addresses
against such lists, so the generator never invents one. Neighbourhood and street names are the
common ones found in almost every district (Atatürk Mah., Cumhuriyet Cad.), which keeps
generated addresses plausible without claiming a street exists in a given district.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Province(NamedTuple):
    name: str
    plate: int
    districts: tuple[str, ...]
    tax_offices: tuple[str, ...]
    weight: int  # rough share of e-commerce orders, so Istanbul dominates as it does in life


PROVINCES: Final[tuple[Province, ...]] = (
    Province(
        "İstanbul",
        34,
        (
            "Kadıköy",
            "Beşiktaş",
            "Üsküdar",
            "Şişli",
            "Bakırköy",
            "Ataşehir",
            "Esenyurt",
            "Pendik",
            "Beylikdüzü",
            "Sarıyer",
            "Ümraniye",
            "Fatih",
            "Esenler",
            "Başakşehir",
        ),
        (
            "Kadıköy",
            "Beşiktaş",
            "Mecidiyeköy",
            "Zincirlikuyu",
            "Kozyatağı",
            "Üsküdar",
            "Atışalanı",
            "Bakırköy",
            "Beyoğlu",
        ),
        30,
    ),
    Province(
        "Ankara",
        6,
        ("Çankaya", "Keçiören", "Yenimahalle", "Etimesgut", "Mamak", "Polatlı", "Sincan"),
        ("Çankaya", "Kavaklıdere", "Maltepe", "Ulus", "Yenimahalle"),
        10,
    ),
    Province(
        "İzmir",
        35,
        ("Konak", "Karşıyaka", "Bornova", "Buca", "Çiğli", "Bayraklı", "Torbalı"),
        ("Konak", "Karşıyaka", "Bornova", "Kordon", "Hasan Tahsin"),
        8,
    ),
    Province(
        "Bursa",
        16,
        ("Osmangazi", "Nilüfer", "Yıldırım", "İnegöl", "Mudanya", "Gemlik"),
        ("Osmangazi", "Nilüfer", "Yıldırım", "Ertuğrulgazi"),
        5,
    ),
    Province(
        "Antalya",
        7,
        ("Muratpaşa", "Konyaaltı", "Kepez", "Alanya", "Manavgat"),
        ("Muratpaşa", "Kalekapı", "Antalya Kurumlar", "Alanya"),
        4,
    ),
    Province(
        "Adana",
        1,
        ("Seyhan", "Çukurova", "Yüreğir", "Ceyhan", "Aladağ", "Kozan"),
        ("Seyhan", "Ziyapaşa", "Çukurova", "Yüreğir"),
        3,
    ),
    Province(
        "Konya",
        42,
        ("Selçuklu", "Meram", "Karatay", "Ereğli", "Akşehir"),
        ("Selçuk", "Meram", "Mevlana", "Alaaddin"),
        3,
    ),
    Province(
        "Gaziantep",
        27,
        ("Şahinbey", "Şehitkamil", "Nizip", "İslahiye"),
        ("Şahinbey", "Şehitkamil", "Gazikent", "Suburcu"),
        3,
    ),
    Province(
        "Kocaeli",
        41,
        ("İzmit", "Gebze", "Darıca", "Gölcük", "Körfez"),
        ("Tepecik", "Gebze İlyasbey", "Kocaeli İhtisas", "Alemdağ"),
        3,
    ),
    Province(
        "Mersin",
        33,
        ("Yenişehir", "Mezitli", "Tarsus", "Toroslar", "Akdeniz"),
        ("İstiklal", "Uray", "Liman", "Tarsus"),
        2,
    ),
    Province(
        "Kayseri",
        38,
        ("Melikgazi", "Kocasinan", "Talas", "Develi"),
        ("Gevher Nesibe", "Erciyes", "Kaleönü", "Mimar Sinan"),
        2,
    ),
    Province(
        "Eskişehir",
        26,
        ("Odunpazarı", "Tepebaşı", "Sivrihisar"),
        ("Anadolu", "Osmangazi", "Eskişehir İhtisas"),
        2,
    ),
    Province(
        "Samsun",
        55,
        ("İlkadım", "Atakum", "Bafra", "Çarşamba"),
        ("19 Mayıs", "Gazi", "Zafer"),
        2,
    ),
    Province(
        "Trabzon",
        61,
        ("Ortahisar", "Akçaabat", "Of", "Yomra"),
        ("Karadeniz", "Hızırbey", "Boztepe"),
        1,
    ),
    Province(
        "Diyarbakır",
        21,
        ("Bağlar", "Kayapınar", "Yenişehir", "Sur"),
        ("Gökalp", "Süleyman Nazif", "Cahit Sıtkı Tarancı"),
        1,
    ),
    Province(
        "Tekirdağ",
        59,
        ("Çorlu", "Çerkezköy", "Süleymanpaşa", "Ergene"),
        ("Süleymanpaşa", "Çorlu", "Çerkezköy"),
        2,
    ),
    Province(
        "Muğla",
        48,
        ("Bodrum", "Fethiye", "Menteşe", "Marmaris", "Milas"),
        ("Muğla", "Bodrum", "Fethiye", "Marmaris"),
        1,
    ),
    Province(
        "Kütahya",
        43,
        ("Merkez", "Tavşanlı", "Simav", "Gediz"),
        ("30 Ağustos", "Çinili", "Tavşanlı"),
        1,
    ),
    Province(
        "Erzurum",
        25,
        ("Yakutiye", "Palandöken", "Aziziye", "Oltu"),
        ("Aziziye", "Kazımkarabekir"),
        1,
    ),
    Province(
        "Denizli",
        20,
        ("Pamukkale", "Merkezefendi", "Çivril", "Sarayköy"),
        ("Pamukkale", "Saraylar", "Gökpınar"),
        1,
    ),
    Province(
        "Manisa",
        45,
        ("Yunusemre", "Şehzadeler", "Akhisar", "Turgutlu", "Salihli"),
        ("Alaybey", "Mesir", "Akhisar", "Turgutlu"),
        1,
    ),
    Province(
        "Sakarya",
        54,
        ("Adapazarı", "Serdivan", "Erenler", "Hendek"),
        ("Gümrükönü", "Ali Fuat Cebesoy", "Sakarya İhtisas"),
        1,
    ),
    Province(
        "Balıkesir",
        10,
        ("Karesi", "Altıeylül", "Bandırma", "Edremit", "Ayvalık"),
        ("Karesi", "Kurtdereli", "Bandırma", "Edremit"),
        1,
    ),
    Province(
        "Aydın",
        9,
        ("Efeler", "Kuşadası", "Nazilli", "Didim", "Söke"),
        ("Efeler", "Güzelhisar", "Kuşadası", "Nazilli"),
        1,
    ),
    Province(
        "Hatay",
        31,
        ("Antakya", "İskenderun", "Defne", "Dörtyol"),
        ("Antakya", "Şükrükanatlı", "Sahil", "Asım Gündüz"),
        1,
    ),
    Province(
        "Zonguldak",
        67,
        ("Ereğli", "Çaycuma", "Devrek", "Alaplı"),
        ("Uzun Mehmet", "Karaelmas", "Ereğli"),
        1,
    ),
    Province(
        "Van",
        65,
        ("İpekyolu", "Tuşba", "Edremit", "Erciş"),
        ("Van", "Erciş"),
        1,
    ),
    Province(
        "Çanakkale",
        17,
        ("Merkez", "Biga", "Gelibolu", "Çan"),
        ("Çanakkale", "Biga"),
        1,
    ),
)

NEIGHBOURHOODS: Final[tuple[str, ...]] = (
    "Atatürk Mah.",
    "Cumhuriyet Mah.",
    "Fatih Mah.",
    "Yeni Mah.",
    "İstiklal Mah.",
    "Bahçelievler Mah.",
    "Yavuz Selim Mah.",
    "Gazi Osman Paşa Mah.",
    "Fevzi Çakmak Mah.",
    "Mimar Sinan Mah.",
    "Hürriyet Mah.",
    "Barbaros Mah.",
    "Şirinevler Mah.",
    "Güzelyalı Mah.",
)

STREETS: Final[tuple[str, ...]] = (
    "Gül Sk.",
    "Lale Sk.",
    "Menekşe Sk.",
    "Çınar Sk.",
    "Okul Sk.",
    "Zambak Sk.",
    "İnönü Cad.",
    "Atatürk Cad.",
    "Cumhuriyet Cad.",
    "Gazi Blv.",
    "Şehit Er Sk.",
    "Papatya Sk.",
    "Değirmen Sk.",
    "Karanfil Sk.",
    "Ihlamur Sk.",
)

# (il, ilçe) pairs, for tests and for adapters' own address checks.
PROVINCE_DISTRICT_PAIRS: Final[frozenset[tuple[str, str]]] = frozenset(
    (p.name, d) for p in PROVINCES for d in p.districts
)

# Every tax office is named "<name> Vergi Dairesi" on documents; platforms often drop the suffix.
TAX_OFFICES: Final[frozenset[str]] = frozenset(
    f"{office} Vergi Dairesi" for p in PROVINCES for office in p.tax_offices
)
