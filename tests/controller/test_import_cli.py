"""`omnishelf import`: files into a real state database, with exit codes and a rejects file."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import typer
from typer.testing import CliRunner

from controller.import_cli import import_items, rejected_path

EXAMPLES = Path(__file__).parents[2] / "examples" / "import"
runner = CliRunner()
app = typer.Typer()
app.command("import")(import_items)  # as controller/cli.py registers it


@app.command("version")
def _version() -> None:
    """A second command, so that `import` is a sub-command as in the real CLI."""


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["import", *args])
    return result.exit_code, result.output


def stored(db: Path) -> dict[str, tuple[int | None, int, dict[str, object]]]:
    """sku -> (version, deleted, body) as the state database holds them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sku, version, deleted, body FROM items").fetchall()
    return {sku: (version, deleted, json.loads(body)) for sku, version, deleted, body in rows}


def test_example_csv_is_stored_and_its_delete_applied(tmp_path):
    """The Turkish example export stores 11 items, deletes the 12th row's SKU and exits 0."""
    db = tmp_path / "state.db"
    source = tmp_path / "items.csv"
    shutil.copy(EXAMPLES / "items.csv", source)
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            [{"sku": "TR-099999", "version": 8, "name": "Eski", "currency": "TRY", "price": "1"}]
        )
    )
    assert run(str(seed), "--state-db", str(db))[0] == 0
    code, output = run(str(source), "--state-db", str(db))
    assert code == 0, output
    items = stored(db)
    assert items["TR-099999"][:2] == (9, 1)
    assert sum(1 for _, deleted, _ in items.values() if not deleted) == 11
    assert items["TR-204518"][2]["promotion"]["price"] == "99.90"
    assert items["TR-000417"][2]["sold_by"] == "kg"
    assert not rejected_path(source).exists()
    with sqlite3.connect(db) as conn:
        queued = conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'import'").fetchone()
    assert queued[0] == 13  # seed, 11 upserts, 1 delete: all audited as the import


def test_reimport_counts_duplicates(tmp_path):
    """Importing the same versions again stores nothing new and says so in the summary."""
    db = tmp_path / "state.db"
    assert run(str(EXAMPLES / "items.json"), "--state-db", str(db))[0] == 0
    code, output = run(str(EXAMPLES / "items.json"), "--state-db", str(db))
    assert code == 0
    assert "duplicate" in output
    assert "│ duplicate │     3 │" in output


def test_rejected_rows_exit_2_and_are_written_out(tmp_path):
    """Bad rows exit 2 and go to <file>.rejected.jsonl with line and SKU; good rows are stored."""
    db = tmp_path / "state.db"
    source = tmp_path / "export.csv"
    source.write_text(
        "sku;name;currency;price\n"
        "OK-1;Çay;TRY;10\n"
        "BAD-2;Su;TRY;1,999\n"
        "OK-3;Süt;TRY;3,50\n"
        "BAD 4;Un;TRY;5\n",
        encoding="utf-8",
    )
    code, output = run(str(source), "--state-db", str(db), "--chunk", "1")
    assert code == 2, output
    assert set(stored(db)) == {"OK-1", "OK-3"}
    records = [json.loads(line) for line in rejected_path(source).read_text().splitlines()]
    assert [(r["line"], r["sku"]) for r in records] == [(3, "BAD-2"), (5, "BAD 4")]
    assert records[0]["reason"] == "price: Value error, has more than two decimals"
    assert records[0]["original"]["price"] == "1,999"
    assert "BAD-2" in output
    assert "rejected" in output


def test_fixed_file_removes_the_old_rejects_report(tmp_path):
    """After a clean import no stale .rejected.jsonl from an earlier run is left behind."""
    source = tmp_path / "items.json"
    shutil.copy(EXAMPLES / "items.json", source)
    rejected_path(source).write_text("{}\n")
    assert run(str(source), "--state-db", str(tmp_path / "s.db"))[0] == 0
    assert not rejected_path(source).exists()


def test_dry_run_stores_nothing(tmp_path):
    """--dry-run checks every row but neither creates nor touches the state database."""
    db = tmp_path / "state.db"
    code, output = run(str(EXAMPLES / "items.csv"), "--state-db", str(db), "--dry-run")
    assert code == 0, output
    assert "nothing stored" in output
    assert not db.exists()


def test_unreadable_file_exits_1(tmp_path):
    """A missing or non-UTF-8 file exits 1 and stores nothing."""
    db = tmp_path / "state.db"
    assert run(str(tmp_path / "missing.csv"), "--state-db", str(db))[0] == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes("sku;name\nA;Çay\n".encode("cp1254"))
    code, output = run(str(latin), "--state-db", str(db))
    assert code == 1
    assert "not UTF-8" in output
    assert not db.exists()


def test_unknown_column_exits_2_and_stores_nothing(tmp_path):
    """A typo in the header is bad input: exit 2 naming the column, no row stored."""
    db = tmp_path / "state.db"
    source = tmp_path / "items.csv"
    source.write_text("sku,name,currency,prize\nA,Su,TRY,5\n", encoding="utf-8")
    code, output = run(str(source), "--state-db", str(db))
    assert code == 2
    assert "'prize' (did you mean 'price'?)" in output
    assert not db.exists()


def test_state_db_defaults_to_the_setting(tmp_path, monkeypatch):
    """Without --state-db the import goes to OMNISHELF_STATE_DB."""
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("OMNISHELF_STATE_DB", str(db))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's checkout
    assert run(str(EXAMPLES / "items.json"))[0] == 0
    assert set(stored(db)) == {"AZ-300001", "US-500001", "TR-100106"}


def test_20k_rows_import(tmp_path):
    """A 20,000-row export is parsed and stored in chunks, every row counted."""
    source = tmp_path / "big.csv"
    lines = ["sku;name;currency;price;stock"]
    lines += [
        f"SKU-{n:05d};Ürün {n};TRY;{n % 500 + 1},{n % 100:02d};{n % 50}" for n in range(20_000)
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "state.db"
    code, output = run(str(source), "--state-db", str(db), "--chunk", "2000")
    assert code == 0, output
    assert "│ accepted  │ 20000 │" in output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 20_000


POISON_ROWS = [
    {"sku": "P-1", "version": 9223372036854775808, "name": "A", "currency": "TRY", "price": "1"},
    {"sku": "P-2", "name": "\ud800", "currency": "TRY", "price": "1"},
    {
        "sku": "P-3",
        "name": "C",
        "currency": "TRY",
        "price": "9",
        "promotion": {
            "price": "1",
            "starts_at": "2026-01-01T00:00:00+00:00",
            "ends_at": "9999-12-31T23:59:59-14:00",
        },
    },
    {
        "sku": "P-4",
        "name": "D",
        "currency": "TRY",
        "price": "9",
        "promotion": {"price": "1", "starts_at": "0001-01-01T00:00:00+00:00"},
    },
    {
        "sku": "P-5",
        "name": "E",
        "currency": "TRY",
        "price": "9",
        "net_quantity": {"value": "0.000000000000000000001", "unit": "g"},
    },
]


def test_finding_1_poison_rows_are_rejected_each_and_their_neighbours_stored(tmp_path):
    """Each poison row of finding 1 in a JSON file is one rejection naming the field (the
    rejects file encodes the lone surrogate); the valid rows of the same chunk are stored."""
    db = tmp_path / "state.db"
    source = tmp_path / "items.json"
    valid = [{"sku": f"OK-{n}", "name": "Su", "currency": "TRY", "price": "5"} for n in range(3)]
    rows = [valid[0], *POISON_ROWS, *valid[1:]]
    source.write_text(json.dumps(rows), encoding="utf-8")  # "\ud800" escaped, as an ERP writes it
    code, output = run(str(source), "--state-db", str(db))
    assert code == 2, output
    assert "Traceback" not in output
    assert set(stored(db)) == {"OK-0", "OK-1", "OK-2"}
    lines = rejected_path(source).read_text(encoding="utf-8").splitlines()
    reasons = {json.loads(line)["index"]: json.loads(line)["reason"] for line in lines}
    assert reasons[1].startswith("version:")
    assert reasons[2].startswith("name:")
    assert reasons[3].startswith("promotion.ends_at:")
    assert reasons[4].startswith("promotion.starts_at:")
    assert reasons[5].startswith("net_quantity.value:")


def test_finding_1_poison_csv_rows_and_a_huge_delete_version(tmp_path):
    """In a CSV, a 2^63 version (upsert or delete), a year-1 promotion and a bidi override in a
    name are rejected by line with the column; the valid rows are stored."""
    db = tmp_path / "state.db"
    source = tmp_path / "items.csv"
    source.write_text(
        "op,sku,version,name,currency,price,promo_price,promo_start\n"
        "upsert,OK-1,1,Su,TRY,5,,\n"
        "upsert,P-1,9223372036854775808,Su,TRY,5,,\n"
        "delete,P-2,9223372036854775808,,,,,\n"
        "upsert,P-3,,Su,TRY,5,1,0001-01-01T00:00:00+00:00\n"
        "upsert,P-4,,Fiyat \u202e09,TRY,5,,\n"
        "upsert,OK-2,,Su,TRY,5,,\n",
        encoding="utf-8",
    )
    code, output = run(str(source), "--state-db", str(db))
    assert code == 2, output
    assert set(stored(db)) == {"OK-1", "OK-2"}
    lines = rejected_path(source).read_text(encoding="utf-8").splitlines()
    reasons = {json.loads(line)["line"]: json.loads(line)["reason"] for line in lines}
    assert reasons[3].startswith("version:")
    assert reasons[4].startswith("version:")
    assert reasons[5].startswith("promo_start:")
    assert "U+202E" in reasons[6]


def test_finding_1_a_deeply_nested_json_file_is_refused_with_the_reason(tmp_path):
    """A 200,000-deep JSON file is one clear error (exit 1), not a RecursionError traceback."""
    source = tmp_path / "items.json"
    source.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    code, output = run(str(source), "--dry-run")
    assert code == 1
    assert "nested 200000 deep, at most 32" in output


def test_a_number_of_5000_digits_rejects_its_row_not_the_file(tmp_path):
    """A 5,000-digit version (more than Python converts) rejects that row, named; the file's
    other rows are stored and nothing prints a traceback."""
    db = tmp_path / "state.db"
    source = tmp_path / "items.json"
    rows = [
        {"sku": "A-1", "version": "HUGE", "name": "X", "currency": "TRY", "price": "1"},
        {"sku": "A-2", "name": "ok", "currency": "TRY", "price": "2"},
    ]
    source.write_text(json.dumps(rows).replace('"HUGE"', "9" * 5000), encoding="utf-8")
    code, output = run(str(source), "--state-db", str(db))
    assert code == 2, output
    assert "Traceback" not in output
    assert set(stored(db)) == {"A-2"}
    line = rejected_path(source).read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(line)["reason"].startswith("version:")
