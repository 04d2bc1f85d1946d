"""The shoppers' page's own words, per language of the store's locales (tr-TR, az-AZ, en-US).

The price phrases (prior price, unit price, promotion, stock) are the labels' own
(label_renderer/locales.py), and a variant's availability is the fitting rooms' ("mağazada 3",
controller/fitting_rooms.py): a shopper reads the same words on the shelf, in the room and here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PageWords:
    where: str
    variants: str
    this_one: str
    reviews: str
    review_one: str  # "{n}" is the count
    review_many: str
    read_reviews: str
    no_reviews: str
    stars: str  # "{rating}" is the rating, e.g. "4,3"
    also: str
    not_found: str
    not_found_why: str


WORDS = {
    "tr": PageWords(
        where="Mağazada nerede",
        variants="Diğer beden ve renkler",
        this_one="bu ürün",
        reviews="Yorumlar",
        review_one="{n} değerlendirme",
        review_many="{n} değerlendirme",
        read_reviews="Yorumları oku",
        no_reviews="Henüz değerlendirme yok",
        stars="5 üzerinden {rating} yıldız",
        also="Aynı koleksiyondan",
        not_found="Ürün bulunamadı",
        not_found_why="Bu kod bu mağazadaki bir ürüne ait değil.",
    ),
    "az": PageWords(
        where="Mağazada harada",
        variants="Digər ölçü və rənglər",
        this_one="bu məhsul",
        reviews="Rəylər",
        review_one="{n} rəy",
        review_many="{n} rəy",
        read_reviews="Rəyləri oxu",
        no_reviews="Hələ rəy yoxdur",
        stars="5 üzərindən {rating} ulduz",
        also="Eyni kolleksiyadan",
        not_found="Məhsul tapılmadı",
        not_found_why="Bu kod bu mağazadakı məhsula aid deyil.",
    ),
    "en": PageWords(
        where="Where in the store",
        variants="Other sizes and colours",
        this_one="this one",
        reviews="Reviews",
        review_one="{n} review",
        review_many="{n} reviews",
        read_reviews="Read the reviews",
        no_reviews="No reviews yet",
        stars="{rating} out of 5 stars",
        also="From the same collection",
        not_found="Item not found",
        not_found_why="This code is not an item of this store.",
    ),
}


def language_of(locale: str) -> str:
    """ "tr" of "tr-TR"; English for a language the page has no words in."""
    language = locale.split("-", maxsplit=1)[0].lower()
    return language if language in WORDS else "en"


def words_for(locale: str) -> PageWords:
    return WORDS[language_of(locale)]
