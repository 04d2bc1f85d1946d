"""Sample label contents: for previews, the contact sheet, golden tests and benchmarks.

Each locale gets a normal item sold by weight, a promotion with its Omnibus prior price, a
clearance item, one sold by volume, one with no optional field at all, and one with a name far too
long for any label. Nothing in production reads this module.
"""

from __future__ import annotations

from decimal import Decimal

from label_renderer.content import (
    LabelContent,
    Money,
    PriceKind,
    Rating,
    StockBadge,
    Unit,
    UnitPrice,
)
from label_renderer.gtin import check_digit

_QR = "https://store.example/q/{store}/{sku}"
_CURRENCY = {"tr-TR": "TRY", "az-AZ": "AZN", "en-US": "USD"}

_NAMES = {
    "tr-TR": {
        "normal": ("Pınar Süzme Peynir Tam Yağlı", "Pınar", "500 g"),
        "promotion": ("Eti Çikolatalı Gofret Şölen", "Eti", "6 x 36 g"),
        "clearance": ("Arçelik Çaydanlık İnox Çelik Gövde", "Arçelik", "1,7 l"),
        "volume": ("Sırma Doğal Kaynak Suyu", "Sırma", "1,5 l"),
        "minimal": ("Ekmek", None, None),
        "long": (
            "Yayla Organik Yerli Üretim Gün Kurusu Kırmızı Biber Salçası Acılı Ev Yapımı "
            "Geleneksel Tarifli Büyük Boy Cam Kavanoz Ekonomik Aile Paketi",
            "Yayla",
            "2 x 1.650 g",
        ),
    },
    "az-AZ": {
        "normal": ("Şəki halvası qozlu", "Şəki Şirniyyat", "400 q"),
        "promotion": ("Azərçay Buket qara çay", "Azərçay", "250 q"),
        "clearance": ("Gəncə çini dəsti, 6 nəfərlik", "Gəncə Çini", "18 ədəd"),
        "volume": ("Sirab qazlı mineral su", "Sirab", "1 l"),
        "minimal": ("Təndir çörəyi", None, None),
        "long": (
            "Qəbələ bağlarından əl ilə yığılmış üzvi nar şirəsi, şəkərsiz, "
            "soyuq sıxılmış, ailə üçün böyük şüşə qab, məhdud buraxılış",
            "Qəbələ",
            "3 x 1 l",
        ),
    },
    "en-US": {
        "normal": ("Honeycrisp Apples", "Orchard Valley", "per lb bag, 3 lb"),
        "promotion": ("Dark Roast Ground Coffee", "Blue Ridge", "340 g"),
        "clearance": ("Stainless Steel Electric Kettle", "Kitchenly", "1.7 l"),
        "volume": ("Extra Virgin Olive Oil", "Santa Rosa", "750 ml"),
        "minimal": ("Baguette", None, None),
        "long": (
            "Organic Cold-Pressed Unfiltered Extra Virgin Olive Oil from Family Groves, "
            "Limited Harvest Edition in a Large Tin for Professional Kitchens",
            "Santa Rosa",
            "5 l",
        ),
    },
}

# (price, prior price, unit price per, unit price) per kind, in each currency's own scale
_PRICES = {
    "TRY": {
        "normal": ("189.90", None, Unit.KG, "379.80"),
        "promotion": ("99.90", "129.90", Unit.KG, "462.50"),
        "clearance": ("1299.90", "1899.00", None, None),
        "volume": ("24.75", None, Unit.LITRE, "16.50"),
        "minimal": ("15.00", None, None, None),
        "long": ("349.50", None, Unit.KG, "105.91"),
    },
    "AZN": {
        "normal": ("12.50", None, Unit.KG, "31.25"),
        "promotion": ("6.80", "8.50", Unit.KG, "27.20"),
        "clearance": ("89.00", "129.00", None, None),
        "volume": ("1.20", None, Unit.LITRE, "1.20"),
        "minimal": ("0.80", None, None, None),
        "long": ("24.90", None, Unit.LITRE, "8.30"),
    },
    "USD": {
        "normal": ("4.99", None, Unit.KG, "3.67"),
        "promotion": ("8.99", "11.49", Unit.KG, "26.44"),
        "clearance": ("1299.90", "1599.00", None, None),
        "volume": ("12.49", None, Unit.LITRE, "16.65"),
        "minimal": ("2.49", None, None, None),
        "long": ("89.00", None, Unit.LITRE, "17.80"),
    },
}

_GTINS = {
    "normal": "8690504012345",
    "promotion": "8690526081234",
    "clearance": "8690842012344",
    "volume": "8690558000018",
    "long": "8691234567891",
}

SAMPLE_KINDS = ("normal", "promotion", "clearance", "volume", "minimal", "long")
LOCALES = ("tr-TR", "az-AZ", "en-US")


def sample_content(locale: str, kind: str, store: str = "ist-kadikoy") -> LabelContent:
    """A realistic item of `kind` (see SAMPLE_KINDS) in `locale`."""
    name, brand, variant = _NAMES[locale][kind]
    currency = _CURRENCY[locale]
    price, prior, per, unit = _PRICES[currency][kind]
    sku = f"{locale[:2].upper()}-{kind.upper()}-001"
    price_kind = {"promotion": PriceKind.PROMOTION, "clearance": PriceKind.CLEARANCE}.get(
        kind, PriceKind.NORMAL
    )
    if kind == "minimal":
        return LabelContent(
            sku=sku, name=name, locale=locale, price=Money(Decimal(price), currency)
        )
    gtin = _GTINS[kind][:12]
    return LabelContent(
        sku=sku,
        name=name,
        locale=locale,
        price=Money(Decimal(price), currency),
        kind=price_kind,
        brand=brand,
        variant=variant,
        prior_price=Money(Decimal(prior), currency) if prior else None,
        promo_ends={"tr-TR": "30.11", "az-AZ": "30.11", "en-US": "11/30"}[locale]
        if kind == "promotion"
        else None,
        unit_price=UnitPrice(Money(Decimal(unit), currency), per) if per and unit else None,
        qr_url=_QR.format(store=store, sku=sku),
        gtin=gtin + str(check_digit(gtin)),
        rating=Rating(Decimal("4.5"), 1284) if kind in {"normal", "promotion"} else None,
        stock={"clearance": StockBadge.LOW, "promotion": StockBadge.ONLINE}.get(kind),
        origin={"tr-TR": "Türkiye", "az-AZ": "Azərbaycan", "en-US": "USA"}[locale],
    )


def all_samples() -> list[LabelContent]:
    return [sample_content(locale, kind) for locale in LOCALES for kind in SAMPLE_KINDS]
