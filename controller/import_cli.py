"""`omnishelf import ITEMS.csv|ITEMS.json`: an ERP export into the controller's state.

The file is checked as a whole first (controller/catalog/importer.py), then its valid rows are
stored in chunks, each chunk one durable transaction through `apply_changes`, the same path as a
batch from HQ: a running controller picks the queued labels up from the database. Invalid rows
are reported and written to `<file>.rejected.jsonl`; they never hold back the valid ones.

Exit status: 0 every row valid; 2 some rows rejected (the valid ones are stored) or the CSV
header names an unknown column (nothing is stored); 1 the file or the database cannot be used.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Annotated

import aiosqlite
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from controller.catalog.feed import Delete, Rejection, Upsert
from controller.catalog.importer import (
    BadColumns,
    Change,
    ImportFileError,
    ImportSource,
    open_import,
    sku_of,
)
from controller.catalog.payload import safe_json, safe_text
from controller.errors import ControllerError
from controller.pipeline.ingest import ChangeResult, Quarantined, apply_changes, apply_isolated
from controller.settings import Settings
from controller.state.database import open_database
from controller.state.labels_repo import Priority

console = Console(stderr=True, soft_wrap=True)
SHOWN_REJECTIONS = 20


class RowRateColumn(ProgressColumn):
    """Rows per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed and task.elapsed:
            speed = task.completed / task.elapsed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)


def _chunks(rows: Iterator[Change], size: int) -> Iterator[list[Change]]:
    while chunk := list(islice(rows, size)):
        yield chunk


async def _store_rows(
    source: ImportSource,
    conn: aiosqlite.Connection | None,
    actor: str,
    chunk: int,
    progress: Progress,
) -> Tally:
    """Parse and (with a connection) store the rows, one transaction per chunk."""
    tally = Tally()
    task = progress.add_task(f"importing {source.path.name}", total=source.total)
    for rows in _chunks(source.rows(), chunk):
        changes: list[Upsert | Delete] = []
        for row in rows:
            if isinstance(row, Rejection):
                tally.rejected.append(row)
            else:
                changes.append(row)
        if conn is None:
            tally.outcomes["valid"] += len(changes)
        elif changes:
            # A change that passed the parser and still fails to store is quarantined alone:
            # the valid rows of its chunk are stored.
            outcomes = await apply_isolated(partial(_store, conn, actor), changes)
            for outcome in outcomes:
                if isinstance(outcome, Quarantined):
                    tally.rejected.append(Rejection(None, outcome.reason, {"sku": outcome.sku}))
                else:
                    tally.outcomes[str(outcome.outcome)] += 1
        progress.advance(task, len(rows))
    return tally


async def _store(
    conn: aiosqlite.Connection, actor: str, changes: list[Upsert | Delete]
) -> list[ChangeResult]:
    return await apply_changes(
        conn, changes, actor=actor, at=datetime.now(UTC), priority=Priority.BULK
    )


async def _import(
    source: ImportSource, state_db: Path | None, actor: str, chunk: int, progress: Progress
) -> Tally:
    if state_db is None:
        return await _store_rows(source, None, actor, chunk, progress)
    async with open_database(state_db) as conn:
        return await _store_rows(source, conn, actor, chunk, progress)


def _summary(tally: Tally, *, dry_run: bool) -> Table:
    table = Table(title="dry run: nothing stored" if dry_run else "import")
    table.add_column("rows")
    table.add_column("count", justify="right")
    kinds = ["valid"] if dry_run else ["accepted", "duplicate", "stale"]
    for kind in kinds:
        table.add_row(kind, str(tally.outcomes[kind]))
    table.add_row("rejected", str(len(tally.rejected)), style="red" if tally.rejected else None)
    return table


def _rejections(source: ImportSource, rejected: list[Rejection]) -> Table:
    shown = rejected[:SHOWN_REJECTIONS]
    title = f"first {len(shown)} of {len(rejected)} rejected rows"
    table = Table(title=title, show_lines=False)
    table.add_column(source.position_name, justify="right")
    table.add_column("sku")
    table.add_column("reason", overflow="fold")
    for rejection in shown:
        sku = safe_text(sku_of(rejection.original) or "", 80)
        table.add_row(str(rejection.index), sku, safe_text(rejection.reason, 1000))
    return table


def rejected_path(path: Path) -> Path:
    """Where the rejected rows of `path` are written: `items.csv` -> `items.csv.rejected.jsonl`."""
    return path.with_name(path.name + ".rejected.jsonl")


def _write_rejections(source: ImportSource, rejected: list[Rejection]) -> Path:
    out = rejected_path(source.path)
    with out.open("w", encoding="utf-8") as f:
        for rejection in rejected:
            record = {
                source.position_name: rejection.index,
                "sku": sku_of(rejection.original),
                "reason": rejection.reason,
                "original": rejection.original,
            }
            # safe_json: Decimals (JSON numbers were read so, to keep prices exact) as strings,
            # lone surrogates of a JSON file escaped (they cannot be written as UTF-8)
            f.write(safe_json(record) + "\n")
    return out


def import_items(
    path: Annotated[Path, typer.Argument(metavar="ITEMS.csv|ITEMS.json")],
    state_db: Annotated[
        Path | None, typer.Option(help="the state database (default: OMNISHELF_STATE_DB)")
    ] = None,
    actor: Annotated[str, typer.Option(help="who the audit log names")] = "import",
    dry_run: Annotated[bool, typer.Option(help="check every row, store nothing")] = False,
    chunk: Annotated[int, typer.Option(min=1, max=50_000, help="rows per transaction")] = 1000,
) -> None:
    """Import catalog items from an ERP export (docs/catalog.md, "Importing a file")."""
    try:
        source = open_import(path)
    except BadColumns as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except ImportFileError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if not dry_run and state_db is None:
        try:
            state_db = Settings().state_db
        except ValidationError as exc:
            console.print(f"[red]invalid settings: {exc}[/red]")
            raise typer.Exit(1) from exc
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RowRateColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            tally = asyncio.run(
                _import(source, None if dry_run else state_db, actor, chunk, progress)
            )
    except (ControllerError, sqlite3.Error) as exc:
        # each chunk is its own transaction: the ones before this stay stored, and storing the
        # same rows again is harmless, so the way out is to fix the cause and run it again
        console.print(f"[red]import stopped: {exc}[/red]")
        raise typer.Exit(1) from exc
    out = Console(soft_wrap=True)
    out.print(_summary(tally, dry_run=dry_run))
    old_report = rejected_path(path)
    if not tally.rejected:
        old_report.unlink(missing_ok=True)  # a report from an earlier run would mislead
        return
    out.print(_rejections(source, tally.rejected))
    written = _write_rejections(source, tally.rejected)
    out.print(f"all {len(tally.rejected)} rejected rows: {written}")
    raise typer.Exit(2)
