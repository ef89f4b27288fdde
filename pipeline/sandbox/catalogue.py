"""What the generated buyers order and how it travels: a small realistic product catalogue,
the cargo companies with their tracking-number shapes, payment types, sales channels and the
reasons customers give for cancelling or returning.

VAT (KDV) rates are today's: 20 (general), 10 (clothing, shoes, home textiles), 1 (basic food),
0 (books here, so adapters meet a zero rate). Prices are VAT-inclusive TL, as every Turkish
marketplace quotes them. Keys such as ``credit_card`` or ``yurtici`` are the sandbox's own
vocabulary; each platform simulator maps them to its document's codes and labels.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from typing import Final, NamedTuple

from pipeline.sandbox import identifiers


class Product(NamedTuple):
    sku: str
    barcode: str
    name: str
    brand: str
    category: str
    vat_rate: int
    price: Decimal
    variants: tuple[str, ...] = ()


def _product(
    sku: str,
    barcode12: str,
    name: str,
    brand: str,
    category: str,
    vat_rate: int,
    price: str,
    variants: tuple[str, ...] = (),
) -> Product:
    barcode = barcode12 + identifiers.ean13_check_digit(barcode12)
    return Product(sku, barcode, name, brand, category, vat_rate, Decimal(price), variants)


_SIZES = ("S", "M", "L", "XL")
CATALOGUE: Final[tuple[Product, ...]] = (
    _product("PHL-HD9270", "869100027001", "Philips 3000 Serisi Airfryer XL HD9270/90", "Philips",
             "Küçük Ev Aletleri", 20, "3499.00"),
    _product("ARZ-OK004", "869041200415", "Arzum Okka Minio Türk Kahvesi Makinesi", "Arzum",
             "Küçük Ev Aletleri", 20, "1899.90", ("Siyah", "Bakır")),
    _product("XMI-RB5", "869312004512", "Xiaomi Redmi Buds 5 Kablosuz Kulaklık", "Xiaomi",
             "Elektronik", 20, "1299.00", ("Siyah", "Beyaz")),
    _product("SMS-A15-128", "869880115128", "Samsung Galaxy A15 128 GB", "Samsung",
             "Cep Telefonu", 20, "8999.00", ("Siyah", "Mavi", "Sarı")),
    _product("LGT-M185", "869577018500", "Logitech M185 Kablosuz Mouse", "Logitech",
             "Bilgisayar", 20, "449.90"),
    _product("ANK-PC10K", "869212010000", "Anker PowerCore 10000 mAh Powerbank", "Anker",
             "Elektronik", 20, "899.00"),
    _product("FKR-VYR-XL", "869003345210", "Fakir Veyron Turbo XL Elektrikli Süpürge", "Fakir",
             "Küçük Ev Aletleri", 20, "4299.00"),
    _product("LCW-TS-BSC", "869220114470", "LC Waikiki Erkek Basic Tişört", "LC Waikiki",
             "Giyim", 10, "199.99", _SIZES),
    _product("MAV-MOM-JN", "869180432001", "Mavi Kadın Mom Jean Pantolon", "Mavi",
             "Giyim", 10, "1299.95", ("26", "27", "28", "29", "30")),
    _product("KTN-TRK-KZK", "869195512340", "Koton Kadın Triko Kazak", "Koton",
             "Giyim", 10, "699.99", _SIZES),
    _product("DFC-CCK-ESF", "869242110087", "DeFacto Çocuk Eşofman Takımı", "DeFacto",
             "Çocuk Giyim", 10, "459.99", ("5-6 Yaş", "7-8 Yaş", "9-10 Yaş")),
    _product("HTC-DRB-BOT", "869135000742", "Hotiç Kadın Hakiki Deri Bot", "Hotiç",
             "Ayakkabı", 10, "2499.00", ("36", "37", "38", "39", "40")),
    _product("TAC-NVR-CK", "869061711205", "Taç Pamuk Saten Nevresim Takımı Çift Kişilik", "Taç",
             "Ev Tekstili", 10, "1199.00", ("Gri", "Lacivert", "Ekru")),
    _product("ENH-BMB-HVL", "869283301190", "English Home Bambu Banyo Havlusu 70x140",
             "English Home",
             "Ev Tekstili", 10, "299.99"),
    _product("TRS-ZYT-1L", "869060100101", "Tariş Naturel Sızma Zeytinyağı 1 L", "Tariş",
             "Gıda", 1, "389.90"),
    _product("KME-TK-500", "869061202500", "Kurukahveci Mehmet Efendi Türk Kahvesi 500 g",
             "Kurukahveci Mehmet Efendi", "Gıda", 1, "349.50"),
    _product("ULK-GFR-36", "869050003601", "Ülker Çikolatalı Gofret 36'lı Paket", "Ülker",
             "Gıda", 1, "289.00"),
    _product("DGD-YSL-20", "869001452020", "Doğadan Yeşil Çay 20'li", "Doğadan",
             "Gıda", 1, "54.90"),
    _product("BLP-CCK-850", "869064400850", "Balparmak Çiçek Balı 850 g", "Balparmak",
             "Gıda", 1, "449.00"),
    _product("EST-LMN-400", "869086000400", "Eyüp Sabri Tuncer Limon Kolonyası 400 ml",
             "Eyüp Sabri Tuncer", "Kişisel Bakım", 20, "149.90"),
    _product("PSB-CAY-6", "869013400606", "Paşabahçe Çay Bardağı 6'lı", "Paşabahçe",
             "Mutfak", 20, "129.90"),
    _product("LEG-10696", "869370610696", "LEGO Classic Orta Boy Yaratıcı Yapım Kutusu 10696",
             "LEGO", "Oyuncak", 20, "749.90"),
    _product("YKY-KMM", "978975080686", "Sabahattin Ali - Kürk Mantolu Madonna",
             "Yapı Kredi Yayınları", "Kitap", 0, "95.00"),
    _product("YKY-INCM1", "978975080090", "Yaşar Kemal - İnce Memed 1", "Yapı Kredi Yayınları",
             "Kitap", 0, "240.00"),
)  # fmt: skip


class Carrier(NamedTuple):
    code: str
    name: str
    tracking: Callable[[random.Random], str]
    url_template: str  # {tracking} is replaced; platforms may give their own URL instead

    def tracking_url(self, tracking_number: str) -> str:
        return self.url_template.format(tracking=tracking_number)


# Tracking-number shapes are the ones these carriers print on labels as far as integrators
# report them; PTT's registered items follow UPU S10 with its real check digit.
CARRIERS: Final[tuple[Carrier, ...]] = (
    Carrier("yurtici", "Yurtiçi Kargo", lambda r: identifiers.digits(r, 12, "3"),
            "https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code={tracking}"),
    Carrier("aras", "Aras Kargo", lambda r: identifiers.digits(r, 11, "1"),
            "https://kargotakip.araskargo.com.tr/mainpage.aspx?code={tracking}"),
    Carrier("mng", "MNG Kargo", lambda r: identifiers.digits(r, 13, "7"),
            "https://kargotakip.mngkargo.com.tr/?takipNo={tracking}"),
    Carrier("ptt", "PTT Kargo", identifiers.s10,
            "https://gonderitakip.ptt.gov.tr/Track/Verify?q={tracking}"),
    Carrier("surat", "Sürat Kargo", lambda r: identifiers.digits(r, 10, "6"),
            "https://www.suratkargo.com.tr/KargoTakip/?kargotakipno={tracking}"),
    Carrier("trendyol_express", "Trendyol Express", lambda r: identifiers.digits(r, 16, "733"),
            "https://www.trendyolexpress.com/gonderi-takip?code={tracking}"),
    Carrier("hepsijet", "HepsiJET", lambda r: "HJ" + identifiers.digits(r, 10),
            "https://www.hepsijet.com/gonderi-takibi/{tracking}"),
)  # fmt: skip
CARRIERS_BY_CODE: Final[dict[str, Carrier]] = {c.code: c for c in CARRIERS}
CARRIER_WEIGHTS: Final[tuple[int, ...]] = (30, 22, 15, 8, 7, 10, 8)

# key → Turkish label as buyers see it on most platforms.
PAYMENT_TYPES: Final[dict[str, str]] = {
    "credit_card": "Kredi Kartı",
    "bank_transfer": "Havale/EFT",
    "cash_on_delivery": "Kapıda Nakit Ödeme",
    "card_on_delivery": "Kapıda Kredi Kartı ile Ödeme",
    "wallet": "Cüzdan",
}
PAYMENT_WEIGHTS: Final[tuple[int, ...]] = (68, 9, 9, 6, 8)
INSTALLMENT_CHOICES: Final[tuple[int, ...]] = (1, 1, 1, 1, 2, 3, 3, 6, 9, 12)

SALES_CHANNELS: Final[dict[str, int]] = {
    "website": 40,
    "mobile_app": 30,
    "trendyol": 10,
    "hepsiburada": 8,
    "n11": 6,
    "ciceksepeti": 6,
}

COUPONS: Final[tuple[tuple[str, Decimal], ...]] = (
    ("HOSGELDIN50", Decimal("50.00")),
    ("YAZ100", Decimal("100.00")),
    ("Moda100", Decimal("100.00")),
    ("SEPETTE25", Decimal("25.00")),
)

RETURN_REASONS: Final[tuple[str, ...]] = (
    "Beden uymadı",
    "Ürün hasarlı geldi",
    "Ürün açıklamadaki gibi değil",
    "Yanlış ürün gönderildi",
    "Vazgeçtim",
    "Ürün kusurlu / arızalı",
)
CANCEL_REASONS: Final[tuple[str, ...]] = (
    "Vazgeçtim",
    "Yanlış ürün sipariş ettim",
    "Teslimat süresi çok uzun",
    "Daha uygun fiyat buldum",
    "Adres değişikliği",
)

ORDER_NOTES: Final[tuple[str, ...]] = (
    "Zili çalmayın, bebek uyuyor.",
    "Kapıcıya bırakabilirsiniz.",
    "Hediye paketi yapılabilir mi?",
    "Mesai saatlerinde teslim ediniz.",
)
