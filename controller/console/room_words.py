"""The fitting-room kiosk page's own words (controller/console/room_pages.py), per language of the
store's locales. A variant's availability, "Staff called" and "Tag not recognised" are the room
display's (controller/catalog/variants.py), "Other sizes and colours" the shoppers' page's
(controller/shoppers/phrases.py): a shopper reads the same words on the room's small display, on
its tablet and on their phone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KioskWords:
    title: str
    welcome: str
    welcome_hint: str
    inside: str  # the heading over the garments in the room
    size: str
    colour: str
    no_others: str  # the style has no other size or colour
    call_staff: str


WORDS = {
    "tr": KioskWords(
        title="Deneme kabini",
        welcome="Hoş geldiniz",
        welcome_hint="Denemek istediğiniz ürünleri kabine getirin: diğer beden ve renkleri"
        " ve nerede bulunduğu burada görünür.",
        inside="Kabindeki ürünler",
        size="Beden",
        colour="Renk",
        no_others="Başka beden veya renk yok",
        call_staff="Personel çağır",
    ),
    "az": KioskWords(
        title="Geyinmə kabinəsi",
        welcome="Xoş gəlmisiniz",
        welcome_hint="Sınamaq istədiyiniz məhsulları kabinəyə gətirin: digər ölçü və rəngləri"
        " və harada olduğu burada görünür.",
        inside="Kabinədəki məhsullar",
        size="Ölçü",
        colour="Rəng",
        no_others="Başqa ölçü və ya rəng yoxdur",
        call_staff="İşçi çağır",
    ),
    "en": KioskWords(
        title="Fitting room",
        welcome="Welcome",
        welcome_hint="Bring in what you would like to try on: its other sizes and colours, and"
        " where to get them, show here.",
        inside="In your room",
        size="Size",
        colour="Colour",
        no_others="No other size or colour",
        call_staff="Call staff",
    ),
}


def kiosk_words(language: str) -> KioskWords:
    """The words of a language ("tr"), English for one the page has none in."""
    return WORDS.get(language, WORDS["en"])
