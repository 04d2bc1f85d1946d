"""The demo store's clothing, for its fitting rooms: a few styles, each in its colours and sizes.

Each colour and size is one SKU (`TR-5xxxxx`) with `family` (style, size, colour, collection:
docs/catalog.md), so a fitting room asked about one garment lists its other sizes and colours
and suggests another style of the collection. Names are Turkish, prices whole lira (1.899,00 ₺).

GTIN-13s are under one demo GS1 company prefix (`APPAREL_COMPANY_PREFIX`, in GS1 Türkiye's 869
range): the garments' RFID tags are SGTIN-96s, and encoding one needs the prefix's length
(device_sim/fitting_room.py `catalogue_tags`).

Stock is seeded per SKU: about a quarter of the sizes are sold out in the store, most of them
available online; the first colour's largest size of every style always is (sold out, online),
so a room asked about that colour shows an "online" line.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from controller.catalog.items import CatalogItem
from gs1.epc import check_digit

# A 7-digit GS1 Türkiye company prefix for the demo's clothing brand owner, leaving 5 digits of
# item reference in a GTIN-13 (SGTIN-96 partition 5). Made up: no real company's.
APPAREL_COMPANY_PREFIX = "8697001"
FIRST_SKU = 500_001
SOLD_OUT_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class Style:
    """A garment; each (colour, size) pair becomes one SKU."""

    code: str  # family.style
    name: str
    brand: str
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    price: int  # TRY
    collection: str = "Sonbahar 2026"


LETTER_SIZES = ("S", "M", "L", "XL")
WAIST_SIZES = ("28", "30", "32", "34", "36")

STYLES: tuple[Style, ...] = (
    Style("ST-1001", "Kot Ceket", "Mavi", ("Açık Mavi", "Lacivert", "Siyah"), LETTER_SIZES, 1899),
    Style("ST-1002", "Slim Fit Jean", "Mavi", ("Lacivert", "Siyah"), WAIST_SIZES, 1299),
    Style("ST-1003", "Oxford Gömlek", "Koton", ("Beyaz", "Açık Mavi", "Pembe"), LETTER_SIZES, 799),
    Style("ST-1004", "Triko Kazak", "LC Waikiki", ("Ekru", "Bordo"), LETTER_SIZES[:3], 649),
)


def apparel_gtin(reference: int) -> str:
    """The GTIN-13 of item reference `reference` (0..99,999) under the demo's company prefix."""
    first12 = f"{APPAREL_COMPANY_PREFIX}{reference:05d}"
    return first12 + str(check_digit(first12))


def _stock(rng: random.Random, *, showcase: bool) -> dict[str, Any]:
    quantity = 0 if showcase or rng.random() < SOLD_OUT_SHARE else rng.randint(1, 6)
    return {
        "quantity": quantity,
        "low_threshold": 1,
        "online_available": showcase or rng.random() < 0.85,
        "pickup_available": rng.random() < 0.5,
    }


def clothing(*, seed: int = 1) -> list[CatalogItem]:
    """Every colour and size of `STYLES`, in order; the same for the same seed."""
    rng = random.Random(f"clothing:{seed}")  # noqa: S311 - demo data, not security
    items: list[CatalogItem] = []
    for style in STYLES:
        rating = Decimal(str(round(rng.uniform(3.6, 4.8), 1)))
        reviews = {"rating": str(rating), "count": rng.randint(8, 400)}
        for colour in style.colours:
            for size in style.sizes:
                n = len(items)
                showcase = colour == style.colours[0] and size == style.sizes[-1]
                body: dict[str, Any] = {
                    "sku": f"TR-{FIRST_SKU + n:06d}",
                    "version": 1,
                    "name": f"{style.brand} {style.name}",
                    "brand": style.brand,
                    "variant": f"{colour}, {size} beden",
                    "locale": "tr-TR",
                    "currency": "TRY",
                    "price": str(style.price),
                    "gtin": apparel_gtin(n + 1),
                    "stock": _stock(rng, showcase=showcase),
                    "reviews": reviews,
                    "origin": "Türkiye",
                    "family": {
                        "style": style.code,
                        "size": size,
                        "colour": colour,
                        "collection": style.collection,
                    },
                }
                items.append(CatalogItem.model_validate(body))
    return items
