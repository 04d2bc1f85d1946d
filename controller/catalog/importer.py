"""Catalog files from an ERP export (CSV or JSON) into catalog changes, one verdict per row.

Pure: no database, no terminal. `open_import(path)` reads and checks the whole file first (the
encoding, the JSON shape, the CSV header), so a file that cannot be imported fails before any
row is stored; `ImportSource.rows()` then yields one `Upsert`, `Delete` or `Rejection` per row,
in file order, in one linear pass. The columns and shapes are documented in docs/catalog.md
("Importing a file").

A rejection's `index` is the row as the user sees it: in a CSV the line number, counting the
header as line 1 (the line where the row starts, if a quoted cell spans lines); in JSON the
position in the list, from 0 (as in a feed batch). Its reason names the CSV column, or the JSON
field by its dotted path, so that a person can find and fix the cell.

The item model's bounds (versions, times, text, quantities) apply to every row; a JSON file
nested deeper than the feed allows is refused as a whole before it is parsed; and a row that
makes the parser itself fail becomes that row's rejection, never a traceback.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from controller.catalog.feed import Delete, Rejection, Upsert, valid_version, version_problem
from controller.catalog.items import SKU_PATTERN, CatalogItem
from controller.catalog.payload import MAX_DEPTH, bounded_int, safe_text, too_deep
from controller.errors import ControllerError

Change = Upsert | Delete | Rejection

# CSV column -> where it goes in the catalog item (docs/catalog.md). The item's own names are
# kept where they are one field; nested objects get flat names an ERP export can produce.
COLUMNS: dict[str, tuple[str, ...]] = {
    "op": (),
    "sku": ("sku",),
    "version": ("version",),
    "name": ("name",),
    "brand": ("brand",),
    "variant": ("variant",),
    "locale": ("locale",),
    "currency": ("currency",),
    "price": ("price",),
    "sold_by": ("sold_by",),
    "net_quantity": ("net_quantity",),
    "gtin": ("gtin",),
    "stock": ("stock", "quantity"),
    "low_threshold": ("stock", "low_threshold"),
    "online_available": ("stock", "online_available"),
    "pickup_available": ("stock", "pickup_available"),
    "promo_price": ("promotion", "price"),
    "promo_start": ("promotion", "starts_at"),
    "promo_end": ("promotion", "ends_at"),
    "promo_text": ("promotion", "text"),
    "promo_kind": ("promotion", "kind"),
    "promo_id": ("promotion", "id"),
    "rating": ("reviews", "rating"),
    "review_count": ("reviews", "count"),
    "origin": ("origin",),
}
_COLUMN_OF_FIELD = {path: column for column, path in COLUMNS.items() if path}
# a problem of a whole nested object (the promotion's price above the regular one, its end
# before its start) spans columns: it is named by the object
_COLUMN_OF_FIELD |= {("promotion",): "promotion", ("stock",): "stock", ("reviews",): "reviews"}
_DECIMAL_COMMA_COLUMNS = frozenset({"price", "promo_price", "rating"})
_DATE_COLUMNS = frozenset({"promo_start", "promo_end"})
DELIMITERS = (",", ";", "\t")
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
_QUANTITY = re.compile(r"(\d+(?:[.,]\d+)?)\s*([A-Za-z]+)")
log = logging.getLogger(__name__)


class ImportFileError(ControllerError):
    """The file as a whole cannot be imported; no row of it was parsed."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UnreadableFile(ImportFileError):
    """Missing, not UTF-8, not JSON, or not one of the known shapes."""


class BadColumns(ImportFileError):
    """The CSV header names an unknown column, repeats one, or lacks `sku`."""


@dataclass(frozen=True, slots=True)
class ImportSource:
    """A checked import file: how many rows it has, and its rows parsed one by one."""

    path: Path
    kind: Literal["csv", "json"]
    total: int
    position_name: Literal["line", "index"]
    _rows: Callable[[], Iterator[Change]]

    def rows(self) -> Iterator[Change]:
        """One change or rejection per row, in file order."""
        return self._rows()


@dataclass(frozen=True, slots=True)
class ParsedFile:
    changes: tuple[Upsert | Delete, ...]
    rejected: tuple[Rejection, ...]


def open_import(path: Path) -> ImportSource:
    """Read and check `path` (.csv, .tsv, .txt or .json); raises ImportFileError."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".tsv", ".txt", ".json"}:
        raise UnreadableFile(path, f"unknown file type {suffix or '(none)'!r}: use .csv or .json")
    try:
        # utf-8-sig: Excel writes a byte order mark, which must not end up in the first column
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise UnreadableFile(
            path, f"not UTF-8 at line {line} (save the export as 'CSV UTF-8')"
        ) from exc
    if suffix == ".json":
        return _open_json(path, text)
    return _open_csv(path, text)


def read_import(path: Path) -> ParsedFile:
    """The whole file at once: its valid changes and its rejections."""
    changes: list[Upsert | Delete] = []
    rejected: list[Rejection] = []
    for change in open_import(path).rows():
        if isinstance(change, Rejection):
            rejected.append(change)
        else:
            changes.append(change)
    return ParsedFile(tuple(changes), tuple(rejected))


def sku_of(original: Any) -> str | None:
    """The SKU a rejected row was about, where it says one."""
    if not isinstance(original, dict):
        return None
    sku = original.get("sku")
    if sku is None and isinstance(original.get("item"), dict):
        sku = original["item"].get("sku")
    return sku if isinstance(sku, str) and sku else None


def problems(
    exc: ValidationError, name: Callable[[tuple[str | int, ...]], str]
) -> list[tuple[str, str]]:
    """Every problem of a validation error as (where, what), the place named by `name(loc)`
    (escaped: an unknown key can hold anything, and the reason is printed and written)."""
    return [
        (safe_text(name(tuple(err["loc"])), 200), _message(err["type"], err["msg"]))
        for err in exc.errors()
    ]


def _guarded(position: int, original: Any, parse: Callable[[], Change]) -> Change:
    """`parse()`, or the row's rejection should the parser itself fail on it."""
    try:
        return parse()
    except Exception as exc:  # a parser bug must cost one row, not the import
        log.exception("import row %s could not be parsed", position)
        reason = f"(row): could not be parsed ({type(exc).__name__}: {safe_text(str(exc), 200)})"
        return Rejection(position, reason, original)


def _message(kind: str, msg: str) -> str:
    return "required, but empty or missing" if kind == "missing" else msg


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(item)"


# --- CSV -----------------------------------------------------------------------------------


def detect_delimiter(header_line: str) -> str:
    """The delimiter of a CSV: whichever of `,` `;` tab the header line has most of."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_csv(path: Path, text: str) -> ImportSource:
    delimiter = detect_delimiter(text.partition("\n")[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        total = sum(1 for cells in reader if any(c.strip() for c in cells))
    except csv.Error as exc:
        raise UnreadableFile(path, f"not CSV at line {reader.line_num}: {exc}") from exc
    if header is None:
        raise UnreadableFile(path, "the file is empty")
    columns = _check_header(path, header)

    def rows() -> Iterator[Change]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        next(reader)
        line = reader.line_num
        # the same text and dialect as the counting pass, which raised any csv.Error already
        for cells in reader:
            start, line = line + 1, reader.line_num
            if any(c.strip() for c in cells):
                parse = partial(_csv_row, start, columns, cells, decimal_comma=delimiter != ",")
                yield _guarded(start, cells, parse)

    return ImportSource(path, "csv", total, "line", rows)


def _check_header(path: Path, header: list[str]) -> list[str]:
    columns = [h.strip().lower() for h in header]
    unknown = [h for h in columns if h not in COLUMNS]
    if unknown:
        hints = []
        for h in unknown:
            close = difflib.get_close_matches(h, COLUMNS, n=1)
            hints.append(f"{h!r} (did you mean {close[0]!r}?)" if close else repr(h))
        raise BadColumns(
            path,
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
            f"known: {', '.join(COLUMNS)}",
        )
    repeated = sorted({h for h in columns if columns.count(h) > 1})
    if repeated:
        raise BadColumns(path, f"column {', '.join(map(repr, repeated))} appears twice")
    if "sku" not in columns:
        raise BadColumns(path, "no 'sku' column")
    return columns


def _csv_row(line: int, columns: list[str], cells: list[str], *, decimal_comma: bool) -> Change:
    # a line break is never wanted in a field; most often it is a quote left open, which takes
    # every row after it into this cell: those rows are then reported here, not silently lost
    names = [*columns, *(f"(cell {n})" for n in range(len(columns) + 1, len(cells) + 1))]
    broken = [name for name, v in zip(names, cells, strict=False) if "\n" in v or "\r" in v]
    if broken:
        reason = "; ".join(
            f"{c}: a line break inside the cell (an unclosed quote?)" for c in broken
        )
        return Rejection(line, reason, dict(zip(names, cells, strict=False)))
    if len(cells) != len(columns):
        reason = (
            f"(row): {len(cells)} cells, but the header has {len(columns)} columns"
            " (a delimiter inside an unquoted cell?)"
        )
        return Rejection(line, reason, dict(zip(names, cells, strict=False)))
    row = {c: v.strip() for c, v in zip(columns, cells, strict=True)}
    given = {c: v for c, v in row.items() if v}  # an empty cell means "not given"
    op = given.pop("op", "upsert").lower()
    if op == "delete":
        return _csv_delete(line, row, given)
    if op != "upsert":
        return Rejection(line, f"op: {op!r} is neither 'upsert' nor 'delete'", row)
    body: dict[str, Any] = {}
    reasons: list[tuple[str, str]] = []
    for column, cell in given.items():
        value = cell
        if decimal_comma and column in _DECIMAL_COMMA_COLUMNS and _DECIMAL_COMMA.fullmatch(cell):
            value = cell.replace(",", ".")  # "12,50" in a ';' export
        if column in _DATE_COLUMNS and (problem := _naive_time(value)) is not None:
            reasons.append((column, problem))
            continue
        if column == "net_quantity":
            quantity = _QUANTITY.fullmatch(value)
            if quantity is None or (not decimal_comma and "," in value):
                reasons.append((column, f"{value!r} is not a value and a unit like '500 g'"))
                continue
            number, unit = quantity.groups()
            body["net_quantity"] = {"value": number.replace(",", "."), "unit": unit.lower()}
            continue
        *parents, leaf = COLUMNS[column]
        target = body
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    try:
        item = CatalogItem.model_validate(body)
    except ValidationError as exc:
        # a cell already explained above is missing from the body: no second "required" for it
        seen = {column for column, _ in reasons}
        reasons += [(c, what) for c, what in problems(exc, _column_of) if c not in seen]
    if reasons:
        return Rejection(line, "; ".join(f"{column}: {what}" for column, what in reasons), row)
    return Upsert(item)


def _csv_delete(line: int, row: dict[str, str], given: dict[str, str]) -> Change:
    sku, version = given.get("sku", ""), given.get("version")
    if not re.fullmatch(SKU_PATTERN, sku):
        return Rejection(line, f"sku: {sku!r} is not a valid SKU", row)
    if version is None:
        return Delete(sku, None)
    number = int(version) if version.isdigit() and len(version) < 30 else None
    if not valid_version(number):
        return Rejection(line, version_problem(version), row)
    return Delete(sku, number)


def _naive_time(value: str) -> str | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None  # not ISO 8601 at all: the item model says so
    if moment.tzinfo is not None:
        return None
    return f"{value!r} has no time zone offset; write it like '2026-11-20T00:00:00+03:00'"


def _column_of(loc: tuple[str | int, ...]) -> str:
    for end in range(len(loc), 0, -1):
        column = _COLUMN_OF_FIELD.get(tuple(str(p) for p in loc[:end]))
        if column is not None:
            return column
    return _dotted(loc)


# --- JSON ----------------------------------------------------------------------------------


def _open_json(path: Path, text: str) -> ImportSource:
    # json.loads recurses per level: a deeply nested file would end in a RecursionError
    depth = too_deep(text)
    if depth is not None:
        raise UnreadableFile(path, f"nested {depth} deep, at most {MAX_DEPTH}")
    try:
        # Decimal: "price": 12.9 must not pass through binary floating point
        data = json.loads(text, parse_float=Decimal, parse_int=bounded_int)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(
            path, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    shapes = 'a list of items, {"items": [...]} or {"changes": [...]}'
    if isinstance(data, list):
        entries, batch = data, False
    elif isinstance(data, dict) and isinstance(data.get("items"), list) and len(data) == 1:
        entries, batch = data["items"], False
    elif isinstance(data, dict) and isinstance(data.get("changes"), list):
        extra = set(data) - {"changes", "batch_id"}
        if extra:
            raise UnreadableFile(path, f"unknown keys {sorted(extra)} next to 'changes'")
        entries, batch = data["changes"], True
    else:
        raise UnreadableFile(path, f"expected {shapes}")

    def rows() -> Iterator[Change]:
        for index, entry in enumerate(entries):
            parse = _json_change if batch else _json_item
            yield _guarded(index, entry, partial(parse, index, entry))

    return ImportSource(path, "json", len(entries), "index", rows)


def _json_item(index: int, entry: Any, prefix: str = "") -> Upsert | Rejection:
    try:
        return Upsert(CatalogItem.model_validate(entry))
    except ValidationError as exc:
        reasons = problems(exc, lambda loc: prefix + _dotted(loc))
        return Rejection(index, "; ".join(f"{where}: {what}" for where, what in reasons), entry)


def _json_change(index: int, change: Any) -> Change:
    """One entry of the batch format of controller/catalog/feed.py."""
    op = change.get("op") if isinstance(change, dict) else None
    if op == "upsert":
        parsed = _json_item(index, change.get("item"), "item.")
        return Rejection(index, parsed.reason, change) if isinstance(parsed, Rejection) else parsed
    if op == "delete":
        sku, version = change.get("sku"), change.get("version")
        if not isinstance(sku, str) or not re.fullmatch(SKU_PATTERN, sku):
            return Rejection(index, f"sku: {safe_text(repr(sku), 80)} is not a valid SKU", change)
        if version is not None and not valid_version(version):
            return Rejection(index, version_problem(version), change)
        return Delete(sku, version)
    return Rejection(index, f"op: {op!r} is neither 'upsert' nor 'delete'", change)
