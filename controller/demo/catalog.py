"""A seeded, realistic Turkish grocery and household catalog for the demo store.

Every item is what an HQ system would send (docs/catalog.md): Turkish names, brands and pack
sizes, TRY prices ending in ,50 / ,90 / ,95, GTIN-13s in Türkiye's GS1 range (869) with valid
check digits, loose produce sold by the kilogram with in-store codes (prefix 2), reviews and stock.

About 15% of the items are on promotion. Each such item carries a price history in which the
price was lower for a week inside the 30 days before the promotion started, so the label's
Omnibus prior price (Art. 6a: the lowest price of those 30 days) differs from the regular price
and the reduction is computed from it, as the law asks.

After the groceries comes a clothing section for the fitting rooms (clothing.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from typing import Any

from controller.catalog.items import CatalogItem
from controller.demo.clothing import clothing
from label_renderer.gtin import check_digit

PROMOTION_SHARE = 0.15
DEFAULT_SKUS = 360


@dataclass(frozen=True, slots=True)
class Family:
    """A kind of product; each (brand, pack) pair becomes one SKU."""

    name: str
    brands: tuple[str, ...]
    packs: tuple[tuple[str, str, str], ...]  # (variant, net value, net unit)
    price_per_base: float  # TRY per kg / l / piece, before each brand's own level
    base: str = "kg"  # what price_per_base is per: "kg", "l" or "piece"
    origin: str = "Türkiye"


@dataclass(frozen=True, slots=True)
class Produce:
    """Loose goods, priced per kilogram at the scale."""

    name: str
    price_per_kg: float
    origin: str


FAMILIES: tuple[Family, ...] = (
    Family(
        "Tam Yağlı Süt",
        ("Pınar", "Sütaş", "İçim", "Torku"),
        (("1 l", "1", "l"), ("500 ml", "500", "ml")),
        42,
        "l",
    ),
    Family("Yarım Yağlı Süt", ("Pınar", "Sütaş", "Dost"), (("1 l", "1", "l"),), 40, "l"),
    Family(
        "Beyaz Peynir Tam Yağlı",
        ("Pınar", "Sütaş", "Muratbey", "Tahsildaroğlu"),
        (("500 g", "500", "g"), ("1 kg", "1", "kg")),
        360,
    ),
    Family(
        "Kaşar Peyniri",
        ("Pınar", "Sütaş", "Muratbey"),
        (("400 g", "400", "g"), ("700 g", "700", "g")),
        420,
    ),
    Family(
        "Süzme Yoğurt",
        ("Sütaş", "Pınar", "Eker", "Danone"),
        (("1 kg", "1", "kg"), ("1,5 kg", "1.5", "kg")),
        95,
    ),
    Family(
        "Ayran", ("Sütaş", "Eker", "Pınar"), (("1 l", "1", "l"), ("300 ml", "300", "ml")), 38, "l"
    ),
    Family("Tereyağı", ("Pınar", "Sütaş", "Torku"), (("250 g", "250", "g"),), 520),
    Family(
        "Yumurta L Boy",
        ("Keskinoğlu", "Köy Tavuğu", "Banvit"),
        (("15'li", "15", "piece"), ("30'lu", "30", "piece")),
        6.2,
        "piece",
    ),
    Family(
        "Çikolatalı Gofret",
        ("Ülker", "Eti", "Tadelle"),
        (("6 x 36 g", "216", "g"), ("36 g", "36", "g")),
        560,
    ),
    Family(
        "Bisküvi",
        ("Eti", "Ülker", "Torku"),
        (("150 g", "150", "g"), ("3 x 150 g", "450", "g")),
        210,
    ),
    Family(
        "Sütlü Çikolata",
        ("Ülker", "Torku", "Nestlé"),
        (("80 g", "80", "g"), ("200 g", "200", "g")),
        620,
    ),
    Family(
        "Patates Cipsi",
        ("Lay's", "Ruffles", "Çerezza"),
        (("Süper Boy 150 g", "150", "g"), ("Parti Boy 230 g", "230", "g")),
        380,
    ),
    Family("Kuruyemiş Karışık", ("Tadım", "Peyman", "Çerezza"), (("180 g", "180", "g"),), 900),
    Family(
        "Spagetti Makarna",
        ("Filiz", "Barilla", "Piyale", "Nuh'un Ankara"),
        (("500 g", "500", "g"), ("1 kg", "1", "kg")),
        62,
    ),
    Family(
        "Baldo Pirinç",
        ("Yayla", "Reis", "Duru"),
        (("1 kg", "1", "kg"), ("2,5 kg", "2.5", "kg")),
        95,
    ),
    Family("Kırmızı Mercimek", ("Yayla", "Reis", "Duru"), (("1 kg", "1", "kg"),), 70),
    Family("Nohut", ("Yayla", "Reis", "Duru"), (("1 kg", "1", "kg"),), 85),
    Family("Un", ("Söke", "Sinangil", "Başak"), (("2 kg", "2", "kg"), ("5 kg", "5", "kg")), 32),
    Family(
        "Toz Şeker", ("Torku", "Bizim", "Türkşeker"), (("1 kg", "1", "kg"), ("3 kg", "3", "kg")), 48
    ),
    Family(
        "Ayçiçek Yağı",
        ("Yudum", "Komili", "Orkide", "Biryağ"),
        (("1 l", "1", "l"), ("5 l", "5", "l")),
        88,
        "l",
    ),
    Family(
        "Natürel Sızma Zeytinyağı",
        ("Komili", "Kristal", "Tariş", "Kırlangıç"),
        (("1 l", "1", "l"), ("500 ml", "500", "ml")),
        420,
        "l",
    ),
    Family(
        "Siyah Zeytin Gemlik",
        ("Marmarabirlik", "Tariş", "Kristal"),
        (("400 g", "400", "g"), ("800 g", "800", "g")),
        260,
    ),
    Family(
        "Domates Salçası",
        ("Tat", "Tamek", "Tukaş"),
        (("830 g", "830", "g"), ("1,65 kg", "1.65", "kg")),
        105,
    ),
    Family(
        "Çay Tiryaki",
        ("Çaykur", "Doğuş", "Lipton"),
        (("1 kg", "1", "kg"), ("500 g", "500", "g")),
        310,
    ),
    Family(
        "Türk Kahvesi",
        ("Kurukahveci Mehmet Efendi", "Tchibo", "Selamlique"),
        (("100 g", "100", "g"), ("250 g", "250", "g")),
        900,
    ),
    Family(
        "Hazır Kahve 3'ü 1 Arada",
        ("Nescafé", "Jacobs"),
        (("10 x 17,5 g", "175", "g"), ("48 x 17,5 g", "840", "g")),
        420,
    ),
    Family(
        "Doğal Kaynak Suyu",
        ("Erikli", "Hayat", "Pınar", "Saka"),
        (("5 l", "5", "l"), ("1,5 l", "1.5", "l")),
        5.5,
        "l",
    ),
    Family(
        "Doğal Maden Suyu",
        ("Beypazarı", "Kızılay", "Uludağ"),
        (("6 x 200 ml", "1.2", "l"),),
        30,
        "l",
    ),
    Family(
        "Gazlı İçecek Kola",
        ("Coca-Cola", "Pepsi", "Cola Turka"),
        (("2,5 l", "2.5", "l"), ("1 l", "1", "l")),
        24,
        "l",
    ),
    Family("Meyve Suyu Vişne", ("Dimes", "Cappy", "Meysu"), (("1 l", "1", "l"),), 52, "l"),
    Family(
        "Sucuk",
        ("Namet", "Pınar", "Apikoğlu", "Cumhuriyet"),
        (("250 g", "250", "g"), ("500 g", "500", "g")),
        720,
    ),
    Family("Piliç Bonfile", ("Banvit", "Şenpiliç", "Keskinoğlu"), (("1 kg", "1", "kg"),), 210),
    Family("Dana Kıyma", ("Namet", "Pınar", "Bonfilet"), (("500 g", "500", "g"),), 640),
    Family(
        "Çamaşır Deterjanı Toz",
        ("Omo", "Ariel", "Persil", "Bingo"),
        (("4 kg", "4", "kg"), ("7,5 kg", "7.5", "kg")),
        72,
    ),
    Family("Sıvı Çamaşır Deterjanı", ("Omo", "Ariel", "Persil"), (("2,5 l", "2.5", "l"),), 90, "l"),
    Family(
        "Bulaşık Deterjanı",
        ("Fairy", "Pril", "Yumoş Extra"),
        (("1,5 l", "1.5", "l"), ("750 ml", "750", "ml")),
        65,
        "l",
    ),
    Family(
        "Bulaşık Makinesi Tableti",
        ("Finish", "Fairy", "Pril"),
        (("40'lı", "40", "piece"), ("80'li", "80", "piece")),
        5.8,
        "piece",
    ),
    Family(
        "Çamaşır Yumuşatıcı",
        ("Yumoş", "Vernel", "Softlan"),
        (("1,44 l", "1.44", "l"), ("3 l", "3", "l")),
        60,
        "l",
    ),
    Family(
        "Tuvalet Kağıdı",
        ("Selpak", "Familia", "Solo"),
        (("16'lı", "16", "piece"), ("32'li", "32", "piece")),
        11,
        "piece",
    ),
    Family(
        "Kağıt Havlu",
        ("Selpak", "Familia", "Solo"),
        (("6'lı", "6", "piece"), ("12'li", "12", "piece")),
        22,
        "piece",
    ),
    Family(
        "Şampuan",
        ("Elidor", "Head & Shoulders", "Pantene", "Blendax"),
        (("500 ml", "500", "ml"), ("650 ml", "650", "ml")),
        320,
        "l",
    ),
    Family(
        "Diş Macunu",
        ("Colgate", "Signal", "Ipana", "Sensodyne"),
        (("75 ml", "75", "ml"), ("2 x 75 ml", "150", "ml")),
        900,
        "l",
    ),
    Family(
        "Sıvı Sabun",
        ("Duru", "Palmolive", "Hacı Şakir"),
        (("1,5 l", "1.5", "l"), ("500 ml", "500", "ml")),
        95,
        "l",
    ),
    Family(
        "Bebek Bezi",
        ("Prima", "Sleepy", "Molfix"),
        (("4 Numara 52'li", "52", "piece"), ("5 Numara 44'lü", "44", "piece")),
        8.5,
        "piece",
    ),
    Family(
        "Islak Mendil",
        ("Sleepy", "Uni Baby", "Selpak"),
        (("90'lı", "90", "piece"), ("3 x 90'lı", "270", "piece")),
        0.75,
        "piece",
    ),
    Family(
        "Süzme Çiçek Balı",
        ("Balparmak", "Anzer", "Koska"),
        (("450 g", "450", "g"), ("850 g", "850", "g")),
        900,
    ),
    Family(
        "Tahin",
        ("Koska", "Tahsildaroğlu", "Arifoğlu"),
        (("300 g", "300", "g"), ("600 g", "600", "g")),
        500,
    ),
    Family("Üzüm Pekmezi", ("Koska", "Balparmak", "Kırlangıç"), (("800 g", "800", "g"),), 250),
    Family("Vişne Reçeli", ("Tamek", "Koska", "Tukaş"), (("380 g", "380", "g"),), 280),
    Family(
        "Kakaolu Fındık Kreması",
        ("Nutella", "Sarelle", "Ülker"),
        (("350 g", "350", "g"), ("750 g", "750", "g")),
        450,
    ),
    Family(
        "Pilavlık Bulgur",
        ("Duru", "Yayla", "Reis"),
        (("1 kg", "1", "kg"), ("2,5 kg", "2.5", "kg")),
        55,
    ),
    Family("Mısır Gevreği", ("Nestlé", "Kellogg's", "Eti"), (("375 g", "375", "g"),), 320),
    Family("Tost Ekmeği", ("Uno", "Untad", "Efsane"), (("500 g", "500", "g"),), 90),
    Family("Kaymaklı Dondurma", ("Algida", "Panda", "Golf"), (("1,5 l", "1.5", "l"),), 150, "l"),
    Family(
        "Dondurulmuş Patates",
        ("Superfresh", "McCain", "Dardanel"),
        (("1 kg", "1", "kg"), ("2,5 kg", "2.5", "kg")),
        95,
    ),
    Family("Ton Balığı", ("Dardanel", "Superfresh", "Tukaş"), (("3 x 75 g", "225", "g"),), 900),
    Family("Piliç Sosis", ("Pınar", "Namet", "Banvit"), (("200 g", "200", "g"),), 400),
    Family("Kefir", ("Altınkılıç", "Sütaş", "Pınar"), (("1 l", "1", "l"),), 70, "l"),
    Family(
        "Labne", ("Pınar", "Sütaş", "Eker"), (("200 g", "200", "g"), ("400 g", "400", "g")), 300
    ),
    Family("Güllü Lokum", ("Hacı Bekir", "Koska", "Kahve Dünyası"), (("350 g", "350", "g"),), 500),
    Family("Gazoz", ("Uludağ", "Beypazarı", "Elvan"), (("1 l", "1", "l"),), 35, "l"),
    Family(
        "Şeftalili Soğuk Çay", ("Lipton", "Fuse Tea", "Doğuş"), (("1,5 l", "1.5", "l"),), 40, "l"
    ),
    Family(
        "Enerji İçeceği",
        ("Red Bull", "Monster", "Burn"),
        (("250 ml", "250", "ml"), ("500 ml", "500", "ml")),
        280,
        "l",
    ),
    Family("Çamaşır Suyu", ("ACE", "Domestos", "Marmara"), (("3,5 l", "3.5", "l"),), 25, "l"),
    Family(
        "Cam Temizleyici", ("Cif", "Mr. Muscle", "Parlak"), (("750 ml", "750", "ml"),), 130, "l"
    ),
    Family("Deodorant", ("Rexona", "Nivea", "Axe"), (("150 ml", "150", "ml"),), 800, "l"),
    Family(
        "Duş Jeli",
        ("Duru", "Palmolive", "Nivea"),
        (("500 ml", "500", "ml"), ("750 ml", "750", "ml")),
        220,
        "l",
    ),
    Family(
        "Yetişkin Kedi Maması",
        ("Whiskas", "Felix", "Pro Plan"),
        (("1,4 kg", "1.4", "kg"), ("3 kg", "3", "kg")),
        250,
    ),
    Family(
        "Yetişkin Köpek Maması",
        ("Pedigree", "Reflex", "Pro Plan"),
        (("3 kg", "3", "kg"), ("10 kg", "10", "kg")),
        180,
    ),
    Family("Çubuk Kraker", ("Eti", "Ülker", "Tadım"), (("170 g", "170", "g"),), 260),
    Family(
        "Filtre Kahve",
        ("Tchibo", "Jacobs", "Kahve Dünyası"),
        (("250 g", "250", "g"), ("500 g", "500", "g")),
        1100,
    ),
)

PRODUCE: tuple[Produce, ...] = (
    Produce("Domates Salkım", 49.9, "Antalya"),
    Produce("Salatalık", 34.5, "Mersin"),
    Produce("Sivri Biber", 59.9, "Antalya"),
    Produce("Patlıcan", 44.9, "Adana"),
    Produce("Kuru Soğan", 19.9, "Amasya"),
    Produce("Patates", 24.9, "Niğde"),
    Produce("Havuç", 22.5, "Konya"),
    Produce("Limon", 39.9, "Mersin"),
    Produce("Portakal Washington", 34.9, "Finike"),
    Produce("Mandalina", 32.5, "İzmir"),
    Produce("Elma Starking", 44.9, "Isparta"),
    Produce("Elma Granny Smith", 54.9, "Niğde"),
    Produce("Armut Deveci", 64.9, "Bursa"),
    Produce("Muz Yerli", 79.9, "Anamur"),
    Produce("Nar", 49.9, "Hatay"),
    Produce("Ayva", 39.9, "Sakarya"),
    Produce("Ispanak", 39.9, "Bursa"),
    Produce("Kabak", 36.9, "Antalya"),
    Produce("Lahana", 17.5, "Bursa"),
    Produce("Karnabahar", 29.9, "Bursa"),
    Produce("Fındık İçi", 649.0, "Giresun"),
    Produce("Antep Fıstığı", 1099.0, "Gaziantep"),
    Produce("Kuru Kayısı", 449.0, "Malatya"),
    Produce("Kuru İncir", 389.0, "Aydın"),
)

# Brands' price level against the family's average: a store shelf mixes premium and value.
ISTANBUL = timezone(timedelta(hours=3), "TRT")  # Türkiye keeps UTC+3 all year
_LEVELS = (0.82, 0.9, 0.96, 1.0, 1.05, 1.12, 1.25)
_ENDINGS = (Decimal("0.50"), Decimal("0.90"), Decimal("0.95"), Decimal("0.90"))
_UNIT_FACTOR = {"g": 0.001, "kg": 1.0, "ml": 0.001, "l": 1.0, "piece": 1.0}


def shelf_price(value: float, rng: random.Random) -> Decimal:
    """A price as a Turkish shelf shows it: whole lira plus a usual ending (,50 ,90 ,95);
    from 500 TRY on, whole lira (1.299,00 ₺)."""
    lira = max(1, int(value))
    if lira >= 500:
        return Decimal(lira)
    return Decimal(lira) + rng.choice(_ENDINGS)


def gtin_for(prefix: str, serial: int) -> str:
    """A GTIN-13: the prefix (869: GS1 Türkiye; 20-29: in-store), the serial, the check digit."""
    first12 = f"{prefix}{serial:0{12 - len(prefix)}d}"[:12]
    return first12 + str(check_digit(first12))


def reduced(price: Decimal, share: float) -> Decimal:
    """`price` reduced by `share`, to a shelf ending, always at least 0,10 below it."""
    target = (price * Decimal(str(1 - share))).quantize(Decimal(1), rounding=ROUND_DOWN)
    candidate = target + Decimal("0.90") if target >= 1 else Decimal("0.50")
    while candidate >= price:
        candidate -= Decimal(1)
    return max(candidate, Decimal("0.10"))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _promotion(
    body: dict[str, Any], price: Decimal, now: datetime, rng: random.Random, n: int
) -> None:
    """A running promotion, with a history where the price was lower inside its 30-day window."""
    starts = (now - timedelta(days=rng.randint(1, 6))).replace(hour=0, minute=0, second=0)
    ends = starts + timedelta(days=rng.choice((7, 10, 14, 21)))
    earlier_dip = reduced(price, rng.uniform(0.04, 0.09))
    promo_price = reduced(earlier_dip, rng.uniform(0.08, 0.3))
    body["price_history"] = [
        {"price": str(price), "valid_from": _iso(starts - timedelta(days=90))},
        {
            "price": str(earlier_dip),
            "valid_from": _iso(starts - timedelta(days=24)),
            "valid_to": _iso(starts - timedelta(days=17)),
        },
        {"price": str(price), "valid_from": _iso(starts - timedelta(days=17))},
    ]
    clearance = n % 9 == 0
    body["promotion"] = {
        "id": f"KMP-{starts:%Y%m}-{n:04d}",
        "kind": "clearance" if clearance else "promotion",
        "price": str(promo_price),
        "starts_at": _iso(starts),
        "ends_at": _iso(ends),
    }


def _stock(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    quantity = 0 if roll < 0.04 else rng.randint(1, 5) if roll < 0.14 else rng.randint(6, 120)
    return {
        "quantity": quantity,
        "low_threshold": 5,
        "online_available": rng.random() < 0.7,
        "pickup_available": rng.random() < 0.5,
    }


def _reviews(rng: random.Random) -> dict[str, Any]:
    rating = Decimal(str(round(rng.uniform(3.3, 4.9), 1)))
    return {"rating": str(rating), "count": int(rng.paretovariate(1.2) * 12)}


def demo_catalog(now: datetime, *, seed: int = 1, skus: int = DEFAULT_SKUS) -> list[CatalogItem]:
    """At least `skus` grocery items (all produce, then packaged goods), then the clothing
    (clothing.py); the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    now = now.astimezone(ISTANBUL)
    items: list[CatalogItem] = []
    for n, produce in enumerate(PRODUCE, start=1):
        price = shelf_price(produce.price_per_kg * rng.uniform(0.95, 1.05), rng)
        body: dict[str, Any] = {
            "sku": f"TR-{n:06d}",
            "version": 1,
            "name": produce.name,
            "locale": "tr-TR",
            "currency": "TRY",
            "price": str(price),
            "sold_by": "kg",
            "gtin": gtin_for("20", n * 1000),
            "stock": _stock(rng),
            "origin": produce.origin,
        }
        if rng.random() < PROMOTION_SHARE:
            _promotion(body, price, now, rng, n)
        items.append(CatalogItem.model_validate(body))
    combos = [
        (family, brand, pack)
        for family in FAMILIES
        for brand in family.brands
        for pack in family.packs
    ]
    rng.shuffle(combos)
    serial = 100_000
    while len(items) < skus:
        for family, brand, (variant, value, unit) in combos:
            if len(items) >= skus:
                break
            n = len(items) + 1
            serial += rng.randint(1, 97)
            level = rng.choice(_LEVELS)
            quantity = Decimal(value)
            amount = float(quantity) * _UNIT_FACTOR[unit] * family.price_per_base * level
            price = shelf_price(amount, rng)
            repeat = n > len(PRODUCE) + len(combos)
            body = {
                "sku": f"TR-{200_000 + n:06d}",
                "version": 1,
                "name": f"{brand} {family.name}" + (" Avantajlı Paket" if repeat else ""),
                "brand": brand,
                "variant": variant,
                "locale": "tr-TR",
                "currency": "TRY",
                "price": str(price),
                "net_quantity": {"value": value, "unit": unit},
                "gtin": gtin_for("869", serial),
                "stock": _stock(rng),
                "reviews": _reviews(rng),
                "origin": family.origin,
            }
            if rng.random() < PROMOTION_SHARE:
                _promotion(body, price, now, rng, n)
            items.append(CatalogItem.model_validate(body))
    return items + clothing(seed=seed)


def shelf_location(index: int, shelves_per_aisle: int = 6, labels_per_shelf: int = 12) -> str:
    """Where the `index`-th label hangs: "Reyon 3 / Raf 2", filling shelves in order."""
    shelf = index // labels_per_shelf
    aisle = shelf // shelves_per_aisle + 1
    return f"Reyon {aisle} / Raf {shelf % shelves_per_aisle + 1}"
