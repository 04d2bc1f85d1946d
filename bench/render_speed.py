"""How fast labels render: per label against bare Pillow, per core and on all cores.

Everything is measured in one run on this machine, so the ratios compare like with like:

(a) bare Pillow: hand-written Pillow code that draws, on a 296x128 "P" canvas with
    non-antialiased text, exactly the strings the renderer draws for the bench template (the name
    in its fitted size and lines, the price in its runs) in the same font files, and pastes the
    QR code from a cache. It is told the sizes and line breaks, so it does no fitting, and its
    fonts are plain FreeType faces without the renderer's caches: it is the cost of the pixels.
    Its images are checked to be identical, byte for byte, to the renderer's.
(b) `render_label` with the bench template (name + price + QR, below): the ratio to (a).
(c) `render_label` with the shipped templates of the 2.9" panel, on each palette.
(d) `to_planes` and the content hash, the device's bit planes.
(e) `BatchRenderer` on 1 worker (in-process) and on every core: a whole-store reprice with the
    default templates, planes and hashes included; the scaling factor.

Two streams of labels: a "reprice" gives every item of a store a new price (each item on one to
three labels; the store was rendered once before, as a running controller has), and "new items"
has every label a different item never rendered before, so every name is measured and drawn for
the first time; its QR code still comes from a cache, as in the baseline. Prices are random, but
their strings repeat across a store (whole parts, decimals, the sign). Each repetition is a fresh
stream and the median is reported; (c) uses half the store and at most 3 repetitions.

    .venv/bin/python -m bench.render_speed
    .venv/bin/python -m bench.render_speed --quick --json render_speed.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from itertools import product

import PIL
from PIL import Image, ImageDraw, ImageFont, features

from firmware_protocol.models import DeviceModel, model_by_name
from firmware_protocol.planes import content_hash
from label_renderer import (
    DEFAULT_TEMPLATES,
    LabelContent,
    Money,
    PriceKind,
    Rating,
    Template,
    Unit,
    UnitPrice,
    parse_template,
    render_label,
    template_for,
    to_planes,
)
from label_renderer.batch import BatchRenderer, RenderJob, default_workers
from label_renderer.canvas import palette_bytes
from label_renderer.draw_codes import qr_matrix
from label_renderer.draw_price import layout_price
from label_renderer.library import template_names
from label_renderer.locales import price_parts
from label_renderer.template import PriceElement, QrElement, TextElement
from label_renderer.textfit import fit_text

BENCH_TEMPLATE = """{
  "name": "bench", "panel": "epd290", "width": 296, "height": 128,
  "description": "What PRODUCT.md measured bare Pillow on: text, price and a cached QR.",
  "pages": [{"name": "price", "elements": [
    {"type": "text", "id": "name", "field": "name", "x": 4, "y": 2, "w": 200, "h": 40,
     "font": "bold", "size": 16, "min_size": 11, "max_lines": 2, "valign": "top",
     "line_spacing": 1.1},
    {"type": "price", "id": "price", "x": 4, "y": 46, "w": 200, "h": 64, "font": "bold",
     "size": 52, "decimals_size": 24},
    {"type": "qr", "id": "qr", "x": 208, "y": 0, "w": 88, "h": 88}
  ]}]
}"""

# The same QR box alone: rendering it puts an item's QR code in the renderer's cache and nothing
# else, for the "new items" stream.
QR_ONLY_TEMPLATE = """{
  "name": "bench-qr", "panel": "epd290", "width": 296, "height": 128,
  "pages": [{"name": "qr", "elements": [{"type": "qr", "x": 208, "y": 0, "w": 88, "h": 88}]}]
}"""

MODEL = "epd290-bwr"

# -- a store ---------------------------------------------------------------------------------

_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "tr-TR": (
        ("Pınar", "Sütaş", "Eti", "Ülker", "Torku", "Tat", "Tamek", "Dimes", "Uludağ", "Tukaş"),
        (
            "Süzme Peynir",
            "Çikolatalı Gofret",
            "Domates Salçası",
            "Şeftali Meyve Suyu",
            "Burgu Makarna",
            "Tam Yağlı Süt",
            "Kaşar Peyniri",
            "Fındıklı Çikolata",
            "Yeşil Mercimek",
            "Ayçiçek Yağı",
            "Çay Bisküvisi",
            "Kırmızı Biber Salçası",
            "Sade Yoğurt",
            "Kaymaklı Dondurma",
            "İnce Bulgur",
            "Türk Kahvesi",
        ),
        ("", "Klasik", "Light", "Organik", "Ekonomik Paket", "Aile Boyu", "Laktozsuz", "Yöresel"),
        ("200 g", "500 g", "1 kg", "1 l", "2,5 l", "6 x 200 ml", "4 x 1 l", "750 g"),
    ),
    "az-AZ": (
        ("Azərçay", "Sirab", "Şəki", "Gəncə", "Qəbələ", "Bakı Süd", "Atena", "Milla", "Xəzər"),
        (
            "qara çay",
            "mineral su",
            "halva qozlu",
            "nar şirəsi",
            "süzmə pendir",
            "tam yağlı süd",
            "qatıq",
            "kərə yağı",
            "uzun dənəli düyü",
            "günəbaxan yağı",
            "şokoladlı peçenye",
            "pomidor pastası",
            "ərik mürəbbəsi",
            "yaşıl çay",
        ),
        ("", "klassik", "üzvi", "ailə üçün", "qənaətli paket", "şəkərsiz", "yerli"),
        ("250 q", "400 q", "1 kq", "1 l", "1,5 l", "6 x 0,5 l", "900 q", "2 kq"),
    ),
    "en-US": (
        ("Orchard Valley", "Blue Ridge", "Santa Rosa", "Green Meadow", "Harbor Bay", "Riverbend"),
        (
            "Honeycrisp Apples",
            "Dark Roast Ground Coffee",
            "Extra Virgin Olive Oil",
            "Whole Milk",
            "Greek Yogurt",
            "Sourdough Bread",
            "Cheddar Cheese",
            "Penne Pasta",
            "Tomato Sauce",
            "Peanut Butter",
            "Orange Juice",
            "Granola Bars",
            "Basmati Rice",
        ),
        ("", "Classic", "Organic", "Family Size", "Value Pack", "Low Fat", "Gluten Free"),
        ("12 oz", "16 oz", "1 lb", "2 lb", "1 gal", "6 x 12 fl oz", "500 ml", "1 l"),
    ),
}
# A store's labels by price kind: most at the normal price, some on promotion, a few on clearance.
STORE_MIX = (PriceKind.NORMAL,) * 16 + (PriceKind.PROMOTION,) * 3 + (PriceKind.CLEARANCE,)
_MONEY = {"tr-TR": ("TRY", 5, 2500), "az-AZ": ("AZN", 1, 150), "en-US": ("USD", 1, 200)}
_ORIGIN = {"tr-TR": "Türkiye", "az-AZ": "Azərbaycan", "en-US": "USA"}


@dataclass(frozen=True)
class Item:
    sku: str
    locale: str
    brand: str
    name: str
    variant: str
    labels: int  # how many shelf labels show it


def _catalogue() -> list[tuple[str, str, str, str]]:
    """Every (locale, brand, name, variant) the word lists make, in a fixed shuffled order.

    The pack size is part of the name, as on most shelf labels, so every item's name is its own.
    """
    rows = [
        (locale, brand, " ".join(w for w in (brand, what, how, size) if w), size)
        for locale, (brands, things, hows, sizes) in _WORDS.items()
        for brand, what, how, size in product(brands, things, hows, sizes)
    ]
    random.Random(0).shuffle(rows)
    return rows


_CATALOGUE = _catalogue()


def store_items(count: int, first: int, *, one_label_each: bool = False) -> list[Item]:
    """`count` items from the catalogue starting at `first`: the same numbers, the same items."""
    rng = random.Random(first)
    items = []
    for number in range(first, first + count):
        locale, brand, name, variant = _CATALOGUE[number % len(_CATALOGUE)]
        labels = 1 if one_label_each else rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        items.append(Item(f"SKU-{number:06d}", locale, brand, name, variant, labels))
    return items


def _gtin(number: int) -> str:
    first12 = f"869{number:09d}"
    odd = sum(int(d) for d in first12[0::2])
    even = sum(int(d) for d in first12[1::2])
    return first12 + str((10 - (odd + 3 * even) % 10) % 10)


def number(item: Item) -> int:
    return int(item.sku.removeprefix("SKU-"))


def _money(rng: random.Random, currency: str, low: int, high: int) -> Money:
    return Money(Decimal(rng.randrange(low * 100, high * 100)) / 100, currency)


def reprice(
    items: Sequence[Item], seed: int, kinds: Sequence[PriceKind] = (PriceKind.NORMAL,)
) -> list[LabelContent]:
    """Every item at a new price, once per label that shows it, in shelf order."""
    rng = random.Random(seed)
    labels = []
    for item in items:
        currency, low, high = _MONEY[item.locale]
        price = _money(rng, currency, low, high)
        kind = rng.choice(kinds)
        prior = None
        if kind is not PriceKind.NORMAL:
            prior = Money((price.amount * Decimal("1.25")).quantize(Decimal("0.01")), currency)
        grams = (250, 500, 750)[number(item) % 3]  # an item's pack size and rating stay put
        per_kg = Money((price.amount * 1000 / grams).quantize(Decimal("0.01")), currency)
        content = LabelContent(
            sku=item.sku,
            name=item.name,
            locale=item.locale,
            price=price,
            kind=kind,
            brand=item.brand,
            variant=item.variant,
            prior_price=prior,
            promo_ends="30.11" if kind is PriceKind.PROMOTION else None,
            unit_price=UnitPrice(per_kg, Unit.KG),
            qr_url=f"https://store.example/q/bench/{item.sku}",
            gtin=_gtin(number(item)),
            rating=Rating(Decimal(10 + number(item) % 40) / 10, 1 + number(item) * 7 % 4999),
            origin=_ORIGIN[item.locale],
        )
        labels.extend([content] * item.labels)
    return labels


# -- the bare-Pillow baseline ----------------------------------------------------------------

TextDraw = tuple[tuple[int, int], str, ImageFont.FreeTypeFont, str]


@dataclass(frozen=True)
class BarePlan:
    """What to draw for one label: told by the renderer's layout, drawn by plain Pillow."""

    texts: tuple[TextDraw, ...]
    qr_box: tuple[int, int, int, int]
    qr_at: tuple[int, int]
    qr_mask: Image.Image


class BarePillow:
    """The baseline: the fonts without caches, the QR masks in a dict, nothing else."""

    def __init__(self, template: Template, model: DeviceModel) -> None:
        elements = template.pages[0].elements
        self.name = next(e for e in elements if isinstance(e, TextElement))
        self.price = next(e for e in elements if isinstance(e, PriceElement))
        self.qr = next(e for e in elements if isinstance(e, QrElement))
        assert model.palette is not None
        self.size = (model.width, model.height)
        self.palette = palette_bytes(model.palette)
        self.faces: dict[int, ImageFont.FreeTypeFont] = {}
        self.qr_cache: dict[
            str, tuple[tuple[int, int, int, int], tuple[int, int], Image.Image]
        ] = {}

    def _bare(self, face: ImageFont.FreeTypeFont) -> ImageFont.FreeTypeFont:
        """The same font file at the same size, as a plain FreeType face."""
        key = id(face)
        if key not in self.faces:
            self.faces[key] = ImageFont.truetype(
                BytesIO(face.font_bytes), face.size, layout_engine=ImageFont.Layout.BASIC
            )
        return self.faces[key]

    def _qr(self, url: str) -> tuple[tuple[int, int, int, int], tuple[int, int], Image.Image]:
        if url not in self.qr_cache:
            e = self.qr
            modules, side = qr_matrix(url, e.ecc)
            module = min(e.w, e.h) // (side + 2 * e.border)
            full = (side + 2 * e.border) * module
            left, top = e.x + (e.w - full) // 2, e.y + (e.h - full) // 2
            small = Image.frombytes("L", (side, side), modules)
            mask = small.resize((side * module, side * module), Image.Resampling.NEAREST)
            at = (left + e.border * module, top + e.border * module)
            box = (left, top, left + full - 1, top + full - 1)
            self.qr_cache[url] = (box, at, mask.convert("1"))
        return self.qr_cache[url]

    def plan(self, content: LabelContent) -> BarePlan:
        n = self.name
        name = fit_text(
            content.name,
            font_name=n.font,
            size=n.size,
            min_size=n.min_size or n.size,
            max_lines=n.max_lines,
            width=n.w,
            height=n.h,
            spacing=n.line_spacing,
        )
        face = self._bare(name.font)
        leads = name.leads or (0,) * len(name.lines)  # ink hanging left of the pen
        texts: list[TextDraw] = [
            ((n.x + lead, n.y + i * name.line_height), line, face, "la")
            for i, (line, lead) in enumerate(zip(name.lines, leads, strict=True))
        ]
        p = self.price
        price = layout_price(
            price_parts(content.price, content.locale),
            font_name=p.font,
            size=p.size,
            decimals_size=p.decimals_size,
            width=p.w,
            height=p.h,
        )
        top = p.y + (p.h - price.height) // 2
        texts += [
            ((p.x + run.dx, top + run.baseline), run.text, self._bare(run.font), "ls")
            for run in price.runs
        ]
        assert content.qr_url
        box, at, mask = self._qr(content.qr_url)
        return BarePlan(tuple(texts), box, at, mask)

    def draw(self, plan: BarePlan) -> Image.Image:
        image = Image.new("P", self.size, 0)
        image.putpalette(self.palette)
        draw = ImageDraw.Draw(image)
        draw.fontmode = "1"
        for xy, text, face, anchor in plan.texts:
            draw.text(xy, text, font=face, fill=1, anchor=anchor)
        draw.rectangle(plan.qr_box, fill=0)
        image.paste(1, plan.qr_at, plan.qr_mask)
        return image


# -- measuring -------------------------------------------------------------------------------


def per_label_ms(action: Callable[[object], object], inputs: Sequence[object]) -> float:
    started = time.perf_counter()
    for each in inputs:
        action(each)
    return (time.perf_counter() - started) * 1000 / len(inputs)


@dataclass
class Row:
    measure: str
    model: str
    template: str
    ms: float  # per label, median of the repetitions
    labels: int  # per repetition
    vs_bare: float | None = None
    note: str = ""

    @property
    def per_second(self) -> float:
        return 1000 / self.ms


def bench_template_rows(items: int, reps: int) -> list[Row]:
    """(a) and (b) on both streams; checks the baseline draws the renderer's very pixels."""
    model = model_by_name(MODEL)
    bench, qr_only = parse_template(BENCH_TEMPLATE), parse_template(QR_ONLY_TEMPLATE)
    bare = BarePillow(bench, model)

    def ours(content: object) -> object:
        assert isinstance(content, LabelContent)
        return render_label(content, bench, model)

    def baseline(plan: object) -> object:
        assert isinstance(plan, BarePlan)
        return bare.draw(plan)

    store = store_items(items, 0)
    for content in reprice(store, seed=999):  # the store as the controller rendered it before
        ours(content)
    rows = []
    for stream in ("reprice", "new items"):
        timings: dict[str, list[float]] = {"ours": [], "bare": []}
        count = 0
        for rep in range(reps):
            if stream == "reprice":
                labels = reprice(store, seed=rep)
            else:
                fresh = store_items(items, 100_000 + rep * items, one_label_each=True)
                labels = reprice(fresh, seed=rep)
                for content in labels:  # its QR code cached, as the baseline's is
                    render_label(content, qr_only, model)
            count = len(labels)
            timings["ours"].append(per_label_ms(ours, labels))  # first, while caches are cold
            plans = [bare.plan(content) for content in labels]
            timings["bare"].append(per_label_ms(baseline, plans))
            if rep == 0:
                same = sum(
                    bare.draw(plan).tobytes() == render_label(c, bench, model).image.tobytes()
                    for plan, c in zip(plans, labels, strict=True)
                )
                if same != len(labels):
                    sys.exit(
                        f"the baseline differs from the renderer on {len(labels) - same} labels"
                    )
        base = statistics.median(timings["bare"])
        mine = statistics.median(timings["ours"])
        rows.append(Row(f"(a) bare Pillow, {stream}", MODEL, "bench", base, count, 1.0))
        rows.append(Row(f"(b) render_label, {stream}", MODEL, "bench", mine, count, mine / base))
    return rows


def _kinds(model: DeviceModel) -> dict[str, PriceKind]:
    """The default templates the panel ships, by the price kind that picks each."""
    shipped = set(template_names(model))
    return {name: kind for kind, name in DEFAULT_TEMPLATES.items() if name in shipped}


def template_rows(items: int, reps: int, models: Sequence[str]) -> list[Row]:
    """(c) the shipped templates of the panel on each palette, and (d) the planes."""
    rows = []
    store = store_items(items, 0)
    seeds = itertools.count(10_000, 100)  # every stream has prices no other stream had
    for model_name in models:
        model = model_by_name(model_name)
        for name, kind in _kinds(model).items():
            template = template_for(model, reprice(store[:1], 0, (kind,))[0], name)
            first = next(seeds)
            for content in reprice(store, seed=first, kinds=(kind,)):
                render_label(content, template, model)
            times, planes_times = [], []
            count = 0
            for rep in range(reps):
                labels = reprice(store, seed=first + 1 + rep, kinds=(kind,))
                count = len(labels)
                started = time.perf_counter()
                images = [render_label(content, template, model) for content in labels]
                times.append((time.perf_counter() - started) * 1000 / count)
                started = time.perf_counter()
                for image in images:
                    content_hash(to_planes(image.image, model))
                planes_times.append((time.perf_counter() - started) * 1000 / count)
            ms = statistics.median(times)
            rows.append(Row("(c) render_label, reprice", model_name, name, ms, count))
            if name == "standard":
                planes = statistics.median(planes_times)
                rows.append(Row("(d) to_planes + content hash", model_name, "-", planes, count))
    return rows


def batch_rows(items: int, reps: int) -> tuple[list[Row], dict[str, float]]:
    """(e) a whole-store reprice through BatchRenderer on 1 worker and on every core."""
    model = model_by_name(MODEL)
    shipped = set(_kinds(model).values())
    kinds = tuple(kind for kind in STORE_MIX if kind in shipped)
    store = store_items(items, 500_000)

    def jobs(seed: int) -> list[RenderJob]:
        labels = reprice(store, seed, kinds)
        return [RenderJob(f"label-{i}", content, MODEL) for i, content in enumerate(labels)]

    rows = []
    rates: dict[int, float] = {}
    hashes: dict[int, list[bytes]] = {}
    for workers in sorted({1, default_workers()}):
        started = time.perf_counter()
        with BatchRenderer(workers) as batch:
            startup = time.perf_counter() - started
            batch.render(jobs(999))  # the store rendered once before: QR codes cached
            times = []
            count = 0
            for rep in range(reps):
                todo = jobs(rep)
                count = len(todo)
                started = time.perf_counter()
                done = batch.render(todo)
                times.append((time.perf_counter() - started) * 1000 / count)
                if rep == 0:
                    failed = [r for r in done if not r.ok]
                    if failed:
                        sys.exit(f"{len(failed)} labels failed, e.g. {failed[0].error}")
                    hashes[workers] = [r.content_hash for r in done]
        ms = statistics.median(times)
        rates[workers] = 1000 / ms
        where = "in-process" if workers == 1 else f"{workers} processes"
        note = f"start-up {startup:.2f} s"
        rows.append(Row(f"(e) BatchRenderer, {where}", MODEL, "default", ms, count, None, note))
    if len(hashes) > 1 and len({tuple(h) for h in hashes.values()}) != 1:
        sys.exit("the batch gave different images on 1 and on several workers")
    scaling = {"workers": float(max(rates)), "scaling": rates[max(rates)] / rates[1]}
    rows[-1].note += f"; scaling x{scaling['scaling']:.2f}"
    return rows, scaling


def machine() -> dict[str, str | int]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if "model name" in line), cpu
            )
    except OSError:
        pass
    return {
        "cores": default_workers(),
        "cpu": cpu,
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "freetype": features.version("freetype2") or "?",
        "system": f"{platform.system()} {platform.machine()}",
    }


def print_table(rows: Sequence[Row]) -> None:
    print("| measurement | model | template | ms/label | labels/s | vs bare Pillow | note |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- |")
    for row in rows:
        ratio = f"{row.vs_bare:.2f}x" if row.vs_bare is not None else ""
        print(
            f"| {row.measure} | {row.model} | {row.template} | {row.ms:.3f} | "
            f"{row.per_second:,.0f} | {ratio} | {row.note} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small streams, under 20 s")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args()
    items, reps, batch_items = (120, 3, 300) if args.quick else (1000, 5, 2000)
    models = ("epd290-bwr",) if args.quick else ("epd290-bwr", "epd290-bw", "epd290-bwy")
    started = time.perf_counter()
    about = machine()
    print(
        f"{about['cores']} cores ({about['cpu']}), Python {about['python']}, "
        f"Pillow {about['pillow']}, FreeType {about['freetype']}, {about['system']}"
    )
    rows = bench_template_rows(items, reps)
    rows += template_rows(items // 2, min(reps, 3), models)
    more, scaling = batch_rows(batch_items, reps)
    rows += more
    print_table(rows)
    elapsed = time.perf_counter() - started
    print(
        f"scaling on {int(scaling['workers'])} workers: x{scaling['scaling']:.2f}; {elapsed:.1f} s"
    )
    if args.json:
        result = {
            "machine": about,
            "quick": args.quick,
            "rows": [{**vars(r), "labels_per_s": round(r.per_second, 1)} for r in rows],
            "scaling": scaling,
            "elapsed_s": round(elapsed, 1),
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
