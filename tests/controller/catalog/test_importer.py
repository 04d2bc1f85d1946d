"""Catalog import files: CSV dialects of real ERP exports and three JSON shapes, row by row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from controller.catalog.feed import Delete, Upsert
from controller.catalog.importer import (
    BadColumns,
    UnreadableFile,
    detect_delimiter,
    open_import,
    read_import,
    sku_of,
)
from controller.catalog.items import QuantityUnit, SoldBy

EXAMPLES = Path(__file__).parents[3] / "examples" / "import"


def write_csv(
    tmp_path: Path, rows: list[list[str]], delimiter: str = ";", bom: bool = False
) -> Path:
    text = "\n".join(delimiter.join(row) for row in rows) + "\n"
    path = tmp_path / "items.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


HEADER = ["sku", "name", "currency", "price"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(tmp_path, delimiter):
    """Comma, semicolon and tab exports give the same items."""
    path = write_csv(tmp_path, [HEADER, ["TR-1", "Çay", "TRY", "12.50"]], delimiter)
    parsed = read_import(path)
    assert parsed.rejected == ()
    [change] = parsed.changes
    assert isinstance(change, Upsert)
    assert (change.item.sku, change.item.price) == ("TR-1", Decimal("12.50"))
    assert detect_delimiter(delimiter.join(HEADER)) == delimiter


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    """An Excel 'CSV UTF-8' file starts with a BOM; the first column is still `sku`."""
    path = write_csv(
        tmp_path, [["SKU", "Name", "Currency", "Price"], ["A", "Su", "TRY", "5"]], bom=True
    )
    [change] = read_import(path).changes
    assert isinstance(change, Upsert)
    assert change.item.sku == "A"


def test_decimal_comma_in_a_semicolon_export(tmp_path):
    """'12,50' is a price in a ';' file, in the price, promotion, rating and quantity columns."""
    header = [*HEADER, "promo_price", "promo_start", "rating", "review_count", "net_quantity"]
    start = "2026-11-20T00:00:00+03:00"
    row = ["A", "Peynir", "TRY", "129,90", "99,90", start, "4,5", "10", "1,5 kg"]
    [change] = read_import(write_csv(tmp_path, [header, row])).changes
    assert isinstance(change, Upsert)
    item = change.item
    assert item.price == Decimal("129.90")
    assert item.promotion is not None
    assert item.promotion.price == Decimal("99.90")
    assert item.promotion.starts_at == datetime(2026, 11, 19, 21, tzinfo=UTC)
    assert item.reviews is not None
    assert item.reviews.rating == Decimal("4.5")
    assert item.net_quantity is not None
    assert (item.net_quantity.value, item.net_quantity.unit) == (Decimal("1.5"), QuantityUnit.KG)


def test_decimal_comma_is_refused_in_a_comma_export(tmp_path):
    """In a ',' file a quoted "12,50" is ambiguous and rejected, naming the price column."""
    path = tmp_path / "items.csv"
    path.write_text('sku,name,currency,price\nA,Su,TRY,"12,50"\n', encoding="utf-8")
    [rejection] = read_import(path).rejected
    assert rejection.index == 2
    assert rejection.reason.startswith("price: ")


def test_every_invalid_row_is_reported_and_valid_rows_kept(tmp_path):
    """Each bad row is rejected with its line (header = 1) and column; the good rows survive."""
    path = tmp_path / "items.csv"
    path.write_text(
        "sku;name;currency;price;gtin;stock;promo_price;promo_start;sold_by\n"
        "OK-1;Çay;TRY;10;;;;;\n"  # line 2
        "BAD 2;Su;TRY;5;;;;;\n"  # line 3: sku
        'BAD-3;"İki\nsatır";TRY;5;;;;;\n'  # lines 4-5: a line break in a quoted name
        "BAD-4;Süt;TRY;1,999;;;;;\n"  # line 6: price
        "\n"  # line 7: blank, skipped
        "BAD-5;Un;TRY;5;8690526081237;;;;\n"  # line 8: gtin check digit
        "BAD-6;Un;TRY;5;;-1;;;\n"  # line 9: stock
        "BAD-7;Un;TRY;5;;;6;2026-11-20T00:00:00+03:00;\n"  # line 10: promo above price
        "BAD-8;Un;TL;5;;;;;gram\n"  # line 11: currency and sold_by
        ";;;;;;;;\n"  # line 12: empty row, skipped
        "OK-9;Tuz;TRY;3,25;;;;;kg\n",  # line 13
        encoding="utf-8",
    )
    parsed = read_import(path)
    assert [c.item.sku for c in parsed.changes if isinstance(c, Upsert)] == ["OK-1", "OK-9"]
    reasons = {r.index: r.reason for r in parsed.rejected}
    assert set(reasons) == {3, 4, 6, 8, 9, 10, 11}
    assert reasons[3].startswith("sku: ")
    assert reasons[4] == "name: a line break inside the cell (an unclosed quote?)"
    assert reasons[6] == "price: Value error, has more than two decimals"
    assert reasons[8].startswith("gtin: ")
    assert reasons[9].startswith("stock: ")
    assert reasons[10].startswith("promotion: ")
    assert "below the regular price" in reasons[10]
    assert reasons[11].startswith("currency: String should match pattern")
    assert "; sold_by: " in reasons[11]
    assert sku_of(parsed.rejected[0].original) == "BAD 2"
    assert open_import(path).total == 9


def test_time_without_offset_is_rejected_with_a_reason(tmp_path):
    """A promotion start with no time zone is refused, saying how to write it."""
    header = [*HEADER, "promo_price", "promo_start", "promo_end"]
    row = ["A", "Su", "TRY", "5", "4", "2026-11-20", "2026-12-01T00:00:00"]
    [rejection] = read_import(write_csv(tmp_path, [header, row])).rejected
    assert rejection.reason == (
        "promo_start: '2026-11-20' has no time zone offset; write it like "
        "'2026-11-20T00:00:00+03:00'; promo_end: '2026-12-01T00:00:00' has no time zone "
        "offset; write it like '2026-11-20T00:00:00+03:00'"
    )


def test_missing_promotion_start_names_the_column(tmp_path):
    """A promotion price without a start is one clear problem on promo_start."""
    header = [*HEADER, "promo_price", "promo_start"]
    [rejection] = read_import(
        write_csv(tmp_path, [header, ["A", "Su", "TRY", "5", "4", ""]])
    ).rejected
    assert rejection.reason == "promo_start: required, but empty or missing"


def test_row_with_wrong_cell_count_is_rejected(tmp_path):
    """An unquoted delimiter inside a name shifts the cells; the row is refused, not misread."""
    path = write_csv(tmp_path, [HEADER, ["A", "Domates", " Salkım", "TRY", "5"]])
    [rejection] = read_import(path).rejected
    assert rejection.index == 2
    assert rejection.reason.startswith("(row): 5 cells, but the header has 4 columns")
    assert rejection.original["(cell 5)"] == "5"
    assert sku_of(rejection.original) == "A"


def test_unknown_column_rejects_the_whole_file(tmp_path):
    """A misspelt column is one error for the file, with a suggestion; no row is parsed."""
    path = write_csv(tmp_path, [[*HEADER, "promo_prise"], ["A", "Su", "TRY", "5", "4"]])
    with pytest.raises(
        BadColumns, match=r"unknown column 'promo_prise' \(did you mean 'promo_price'\?\)"
    ):
        open_import(path)


@pytest.mark.parametrize(
    ("header", "problem"),
    [(["name", "price"], "no 'sku' column"), (["sku", "Name", "NAME"], "'name' appears twice")],
)
def test_header_without_sku_or_with_a_repeated_column_is_refused(tmp_path, header, problem):
    """A header must name `sku` once and every column at most once."""
    with pytest.raises(BadColumns, match=problem):
        open_import(write_csv(tmp_path, [header, ["x"] * len(header)]))


def test_delete_op(tmp_path):
    """op=delete deletes the SKU (with its version if given); other ops are rejected."""
    rows = [["sku", "version", "op", "name"], ["A", "7", "DELETE", ""], ["B", "", "delete", ""]]
    rows += [["C", "", "remove", ""], ["D", "x", "delete", ""]]
    parsed = read_import(write_csv(tmp_path, rows))
    assert parsed.changes == (Delete("A", 7), Delete("B", None))
    assert [(r.index, r.reason.split(":")[0]) for r in parsed.rejected] == [
        (4, "op"),
        (5, "version"),
    ]


def test_by_weight_item_and_stock_columns(tmp_path):
    """sold_by, the stock columns and origin land in the item's nested fields."""
    header = ["sku", "name", "currency", "price", "sold_by", "stock", "low_threshold"]
    header += ["online_available", "origin"]
    row = ["D", "Domates", "TRY", "49,90", "kg", "0", "3", "true", "Antalya"]
    [change] = read_import(write_csv(tmp_path, [header, row])).changes
    assert isinstance(change, Upsert)
    item = change.item
    assert item.sold_by is SoldBy.KG
    assert item.stock is not None
    assert (item.stock.quantity, item.stock.low_threshold, item.stock.online_available) == (
        0,
        3,
        True,
    )
    assert item.origin == "Antalya"


ITEM = {"sku": "J-1", "name": "Çay", "currency": "TRY", "price": 12.9}
BAD = {"sku": "J-2", "name": "Su", "currency": "TRY", "price": "1.999"}


@pytest.mark.parametrize(
    "document",
    [
        [ITEM, BAD],
        {"items": [ITEM, BAD]},
        {
            "batch_id": "b1",
            "changes": [{"op": "upsert", "item": ITEM}, {"op": "upsert", "item": BAD}],
        },
    ],
)
def test_json_shapes(tmp_path, document):
    """A list, {"items": [...]} and the feed batch format all import; bad entries by index."""
    path = tmp_path / "items.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    parsed = read_import(path)
    [change] = parsed.changes
    assert isinstance(change, Upsert)
    assert change.item.price == Decimal("12.90")  # read as a decimal, not a float
    [rejection] = parsed.rejected
    assert rejection.index == 1
    assert rejection.reason.endswith("price: Value error, has more than two decimals")
    assert sku_of(rejection.original) == "J-2"


def test_json_batch_deletes(tmp_path):
    """The batch format's deletes are changes; a bad op or version is a rejection by index."""
    changes = [
        {"op": "delete", "sku": "A", "version": 3},
        {"op": "purge", "sku": "B"},
        {"op": "delete", "sku": "C", "version": -1},
    ]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"changes": changes}), encoding="utf-8")
    parsed = read_import(path)
    assert parsed.changes == (Delete("A", 3),)
    assert [(r.index, r.reason.split(":")[0]) for r in parsed.rejected] == [
        (1, "op"),
        (2, "version"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("a.json", b"{not json", "not JSON"),
        ("a.json", b'{"itemz": []}', "expected a list of items"),
        ("a.json", b'{"changes": [], "extra": 1}', "unknown keys"),
        ("a.csv", "sku;name\nA;Çay\n".encode("cp1254"), "not UTF-8 at line 2"),
        ("a.csv", b"", "empty"),
        ("a.xlsx", b"PK", "unknown file type"),
    ],
)
def test_unreadable_files(tmp_path, name, content, problem):
    """A file that is not UTF-8, not JSON, of an unknown shape or type is refused as a whole."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=problem):
        open_import(path)


def test_missing_file_is_unreadable(tmp_path):
    """A path that does not exist is an UnreadableFile, not a traceback."""
    with pytest.raises(UnreadableFile, match="cannot read"):
        open_import(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["items.csv", "items.json"])
def test_examples_are_valid(name):
    """The shipped examples import without a single rejection."""
    parsed = read_import(EXAMPLES / name)
    assert parsed.rejected == ()
    assert len(parsed.changes) == (12 if name.endswith(".csv") else 3)


def test_unclosed_quote_does_not_swallow_rows_silently(tmp_path):
    """An open quote takes the following rows into one cell; that row is rejected, not stored."""
    path = tmp_path / "items.csv"
    path.write_text('sku;op;name;currency;price\nA;delete;"Su;TRY;5\nB;;Un;TRY;5\n')
    parsed = read_import(path)
    assert parsed.changes == ()
    [rejection] = parsed.rejected
    assert rejection.index == 2
    assert rejection.reason.startswith("name: a line break inside the cell")
