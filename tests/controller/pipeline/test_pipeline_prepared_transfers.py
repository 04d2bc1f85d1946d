"""Transfers built by the render workers: the render stage and the push stage with SQLite and
the renderer, the push stage's round read from its outgoing queue (nothing is published; the
broker is not involved). The offer built at render time must be the one the loop would build,
and one that no longer fits (a report arrived, a newer image) is built again from the stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.catalog.feed import Upsert
from controller.catalog.items import CatalogItem
from controller.catalog.labels import StoreContext
from controller.pipeline.ingest import apply_changes
from controller.pipeline.prepared import OfferState, PreparedTransfer, PreparedTransfers
from controller.pipeline.push_stage import PushStage
from controller.pipeline.render_stage import RenderStage
from controller.state.database import open_database
from controller.state.devices_repo import bind
from controller.state.fleet_repo import BirthFacts, record_birth
from controller.state.labels_repo import Priority, desired_image, record_reports, retry_now
from controller.state.render_queue import enqueue_labels
from firmware_protocol.messages import Chunk, Desired, Encoding
from firmware_protocol.models import ModelId
from firmware_protocol.transfer import apply_image, image_payload
from label_renderer.batch import BatchRenderer

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FACTS = BirthFacts("gw-1", ModelId.EPD290_BWR, 1, "1.0.0", 3000, 1024, 2, 60)


def _item(price: str) -> CatalogItem:
    return CatalogItem.model_validate(
        {"sku": "TR-1", "name": "Gofret", "currency": "TRY", "price": price}
    )


class _NoPublisher:
    """run_round only queues offers; a publish here would be a bug of the test."""

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing is published in these tests")


class _Store:
    def __init__(self, conn: Any, renderer: BatchRenderer) -> None:
        self.conn = conn
        self.book = PreparedTransfers()
        self.now = NOW
        self.render = RenderStage(
            conn, renderer, StoreContext("s1"), clock=self.clock, prepared=self.book
        )
        self.push = PushStage(
            conn, _NoPublisher(), "s1", clock=self.clock, max_attempts=5, prepared=self.book
        )

    def clock(self) -> datetime:
        return self.now

    async def change(self, price: str, labels: list[str]) -> None:
        """A price change stored and its labels queued, a minute after the last one."""
        self.now += timedelta(minutes=1)
        await apply_changes(self.conn, [Upsert(_item(price))], actor="t", at=self.now)
        await enqueue_labels(self.conn, labels, priority=Priority.SINGLE, reason="t", at=self.now)

    async def reprice(self, price: str, labels: list[str]) -> None:
        await self.change(price, labels)
        while await self.render.run_round() is not None:
            pass

    async def offers(self) -> dict[str, tuple[Desired, bytes]]:
        """Push one round; each label's Desired and its payload put together from the chunks."""
        await self.push.run_round()
        found: dict[str, tuple[Desired, bytes]] = {}
        while not self.push.outgoing.empty():
            batch = self.push.outgoing.get_nowait().batch
            desired = batch[0][1]
            assert isinstance(desired, Desired)
            chunks = [m for _, m in batch[1:] if isinstance(m, Chunk)]
            found[batch[0][0].device] = (desired, b"".join(c.data for c in chunks))
        return found


async def _labels(conn: Any, labels: list[str]) -> None:
    await apply_changes(conn, [Upsert(_item("12.50"))], actor="t", at=NOW)
    for label in labels:
        await record_birth(conn, label, FACTS, NOW, adopt=True)
        await bind(conn, label, "TR-1", template=None, page=1, at=NOW, actor="t")


async def _confirm(conn: Any, label: str) -> bytes:
    """The label reports showing its desired image; returns those planes."""
    image = await desired_image(conn, label)
    assert image is not None
    await record_reports(conn, [(label, image.revision, image.content_hash)], NOW)
    return image.planes


async def test_the_push_sends_the_transfer_the_workers_built(tmp_path: Path) -> None:
    """A reprice's offers come from the book (none built on the loop), each a delta against the
    image the label shows that turns it into the desired image, as the loop would build it."""
    labels = ["lbl-1", "lbl-2"]
    async with open_database(tmp_path / "state.db") as conn:
        with BatchRenderer(1) as renderer:
            store = _Store(conn, renderer)
            await _labels(conn, labels)
            await store.reprice("12.50", labels)
            first = await store.offers()
            assert (store.book.used, store.book.rebuilt) == (2, 0)
            shown = {label: await _confirm(conn, label) for label in labels}
            await store.reprice("13.75", labels)
            offers = await store.offers()
        assert (store.book.used, store.book.rebuilt) == (4, 0)
        assert len(store.book) == 0
        for label in labels:
            assert first[label][0].encoding is Encoding.FULL
            desired, payload = offers[label]
            image = await desired_image(conn, label)
            assert image is not None
            assert desired.revision == image.revision
            assert desired.encoding is Encoding.DELTA_XOR
            assert apply_image(desired, payload, shown[label]) == image.planes
            expected = image_payload(image.planes, base=shown[label], compressed=image.stored)
            assert (desired.content_hash, desired.base_hash, payload) == (
                expected.content_hash,
                expected.base_hash,
                expected.data,
            )


async def test_a_report_between_render_and_push_rebuilds_the_transfer(tmp_path: Path) -> None:
    """A label that confirms its previous image while the next one renders (built then as a
    full frame: it showed nothing known) gets a delta against what it shows now, built on the
    loop from the stored images."""
    async with open_database(tmp_path / "state.db") as conn:
        with BatchRenderer(1) as renderer:
            store = _Store(conn, renderer)
            await _labels(conn, ["lbl-1"])
            await store.reprice("12.50", ["lbl-1"])
            await store.offers()
            await store.change("13.75", ["lbl-1"])
            prepared = await store.render.prepare()
            assert prepared is not None
            shown = await _confirm(conn, "lbl-1")  # revision 1, while revision 2 renders
            await store.render.finish(await store.render.render(prepared))
            desired, payload = (await store.offers())["lbl-1"]
        assert (store.book.used, store.book.rebuilt) == (1, 1)
        assert desired.encoding is Encoding.DELTA_XOR
        image = await desired_image(conn, "lbl-1")
        assert image is not None
        assert desired.revision == image.revision == 2
        assert apply_image(desired, payload, shown) == image.planes


async def test_a_newer_image_replaces_the_prepared_one(tmp_path: Path) -> None:
    """Latest wins: two reprices before a push leave one entry, the newest, and the push offers
    the newest revision from it."""
    async with open_database(tmp_path / "state.db") as conn:
        with BatchRenderer(1) as renderer:
            store = _Store(conn, renderer)
            await _labels(conn, ["lbl-1"])
            await store.reprice("12.50", ["lbl-1"])
            await store.reprice("13.75", ["lbl-1"])
            assert len(store.book) == 1
            desired, _ = (await store.offers())["lbl-1"]
        image = await desired_image(conn, "lbl-1")
        assert image is not None
        assert (desired.revision, desired.content_hash) == (2, image.content_hash)
        assert (store.book.used, store.book.rebuilt) == (1, 0)


async def test_an_offline_label_keeps_its_prepared_transfer(tmp_path: Path) -> None:
    """A push postponed for an offline label does not spend its entry: the label's Birth
    brings an offer from the book."""
    async with open_database(tmp_path / "state.db") as conn:
        with BatchRenderer(1) as renderer:
            store = _Store(conn, renderer)
            await _labels(conn, ["lbl-1"])
            await conn.execute("UPDATE devices SET online = 0 WHERE device_id = 'lbl-1'")
            await conn.commit()
            await store.reprice("12.50", ["lbl-1"])
            assert await store.offers() == {}
            assert len(store.book) == 1
            store.now += timedelta(seconds=1)
            await record_birth(conn, "lbl-1", FACTS, store.now, adopt=True)
            await retry_now(conn, "lbl-1", store.now)  # what the fleet does on a Birth
            assert "lbl-1" in await store.offers()
        assert (store.book.used, store.book.rebuilt) == (1, 0)


def _entry(content: bytes, shown: bytes | None) -> PreparedTransfer:
    payload = image_payload(content * 8)
    return PreparedTransfer(payload, b"", shown)


def test_an_entry_is_used_only_for_the_image_and_base_it_was_built_for() -> None:
    """take() gives the entry only for the same content hash and the same shown image, and
    drops it in every case; the book forgets its oldest entries beyond its bound."""
    book = PreparedTransfers(max_entries=2)
    entry = _entry(b"a", b"h" * 16)
    book.put("l1", entry)
    assert book.take("l1", OfferState(1, entry.payload.content_hash, b"h" * 16)) is entry
    assert book.take("l1", OfferState(1, entry.payload.content_hash, b"h" * 16)) is None
    book.put("l1", entry)
    assert book.take("l1", OfferState(1, b"x" * 16, b"h" * 16)) is None  # a newer image
    book.put("l1", entry)
    assert book.take("l1", OfferState(1, entry.payload.content_hash, None)) is None  # shown
    assert len(book) == 0
    for label in ("l1", "l2", "l3"):
        book.put(label, _entry(label.encode(), None))
    assert len(book) == 2
    assert book.take("l1", OfferState(1, _entry(b"l1", None).payload.content_hash, None)) is None
    assert book.take("l3", OfferState(1, _entry(b"l3", None).payload.content_hash, None))
