"""An item among its style's variants, as fitting rooms and the shopper page show them: its name
("38 Lacivert"), where it can be had (in the store, online, sold out) and in which order, in the
store's language. A variant's store stock is the shelf's count where a smart shelf counts it,
else the catalog's `stock.quantity`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.catalog.items import CatalogItem


@dataclass(frozen=True, slots=True)
class Phrases:
    in_store: str  # "{n}" is the count
    online: str
    sold_out: str
    staff_called: str
    unknown_tag: str
    no_item: str
    failed: str
    also: str


PHRASES = {
    "tr": Phrases(
        "mağazada {n}",
        "online",
        "tükendi",
        "Personel çağrıldı",
        "Etiket tanınmadı",
        "Ürün bulunamadı",
        "Şu an cevap yok",
        "Ayrıca: ",
    ),
    "az": Phrases(
        "mağazada {n}",
        "onlayn",
        "bitib",
        "İşçi çağırıldı",
        "Etiket tanınmadı",
        "Məhsul tapılmadı",
        "Hazırda cavab yoxdur",
        "Həmçinin: ",
    ),
    "en": Phrases(
        "in store {n}",
        "online",
        "sold out",
        "Staff called",
        "Tag not recognised",
        "Item not found",
        "No answer right now",
        "Also: ",
    ),
}


def phrases_for(locale: str) -> Phrases:
    return PHRASES.get(locale.split("-", maxsplit=1)[0], PHRASES["en"])


def variant_label(item: CatalogItem) -> str:
    """A variant as a room or the shopper page names it: "38 Lacivert", else the item's variant
    or name."""
    family = item.family
    parts = [p for p in (family.size if family else None, family.colour if family else None) if p]
    return " ".join(parts) or item.variant or item.name


def availability(item: CatalogItem, on_shelf: int | None, words: Phrases) -> str:
    stock = item.stock
    in_store = on_shelf if on_shelf is not None else (stock.quantity if stock else None)
    if in_store:
        return words.in_store.format(n=in_store)
    if stock is not None and stock.online_available:
        return words.online
    return words.sold_out


def family_order(item: CatalogItem, family: Iterable[CatalogItem]) -> list[CatalogItem]:
    """The variants with `item`'s colour first, then the others, each by name and SKU."""
    colour = item.family.colour if item.family else None
    return sorted(
        family,
        key=lambda v: (v.family is None or v.family.colour != colour, variant_label(v), v.sku),
    )
