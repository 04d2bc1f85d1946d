"""Scenarios about images: desired and reported state, transfers, resume and fallbacks.

PROTOCOL.md §4.7 (the device's rules on every Desired), §5.3-§5.6 (encodings, chunks,
receiving, resume), §7.3 (page switch) and §4.6 (a reboot and the retained Desired it finds).
Each returns a detail line on success and raises Failed with what the device did otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses

from conformance.context import Context, Failed, Skipped, describe
from conformance.images import several_chunks, with_box
from firmware_protocol.messages import (
    Birth,
    CommandStatus,
    Compression,
    Death,
    Encoding,
    Message,
    PageSwitch,
    Reboot,
    Reported,
    ReportResult,
    XferReason,
    XferRequest,
)
from firmware_protocol.planes import content_hash
from firmware_protocol.transfer import PreparedImage, indices_from_bitmap

SETTLE_S = 0.5  # after a barrier answer: time for anything the device sent before it


async def full_image(ctx: Context) -> str:
    """A new revision as FULL + ZLIB: applied, reported with its content hash."""
    planes = ctx.next_planes()
    prepared, detail = await ctx.apply(planes, compression=Compression.ZLIB)
    ctx.shown.certain = True
    return f"revision {prepared.desired.revision} FULL+ZLIB applied, {detail}"


async def delta(ctx: Context) -> str:
    """The next revision as DELTA_XOR + ZLIB against the image on page 0."""
    base = ctx.shown.page_planes[0]
    planes = with_box(base, ctx.model, ctx.shown.revision)
    prepared, detail = await ctx.apply(
        planes, encoding=Encoding.DELTA_XOR, compression=Compression.ZLIB, base=base
    )
    return (
        f"revision {prepared.desired.revision} DELTA_XOR+ZLIB "
        f"({prepared.desired.payload_size} bytes) applied, {detail}"
    )


async def stale(ctx: Context) -> str:
    """The current revision again is UNCHANGED; an older one is STALE_IGNORED, not applied."""
    if ctx.shown.revision < 2:
        await ctx.apply(ctx.next_planes())
    current = ctx.shown.desired
    assert current is not None
    revision = current.revision
    mark = ctx.session.mark()
    await ctx.session.send(current)
    up = await ctx.expect(
        lambda m: isinstance(m, Reported) and m.result is not ReportResult.BOOT,
        f"Reported for the current revision {revision}",
        after=mark,
    )
    if up.message != Reported(
        revision, current.content_hash, ctx.shown.shown_page, ReportResult.UNCHANGED
    ):
        raise Failed(
            f"current revision {revision} again: got {describe(up.message)}, expected UNCHANGED"
        )

    older_planes = ctx.next_planes()
    older = ctx.offer(older_planes, revision=revision - 1)
    mark = ctx.session.mark()
    await ctx.publish_offer(older)
    up = await ctx.expect(
        lambda m: isinstance(m, Reported) and m.result is not ReportResult.BOOT,
        f"Reported for the older revision {revision - 1}",
        after=mark,
    )
    expected = Reported(
        revision, current.content_hash, ctx.shown.shown_page, ReportResult.STALE_IGNORED
    )
    if up.message != expected:
        raise Failed(
            f"older revision {revision - 1}: got {describe(up.message)}, "
            f"expected {describe(expected)}"
        )
    await asyncio.sleep(SETTLE_S)
    for report in ctx.session.since(mark, Reported):
        if report.result is ReportResult.APPLIED:
            raise Failed(f"the older revision was applied: {describe(report)}")

    # The retained Desired is the current one again, as a controller would have it.
    mark = ctx.session.mark()
    await ctx.session.send(current)
    await ctx.expect(
        lambda m: isinstance(m, Reported) and m.result is ReportResult.UNCHANGED,
        "UNCHANGED for the restored Desired",
        after=mark,
    )
    return f"revision {revision} UNCHANGED, {revision - 1} STALE_IGNORED and not applied"


async def page_switch(ctx: Context) -> str:
    """An image written to page 1, shown for 3 s, then page 0 again; page `pages` refused."""
    pages = ctx.birth.pages
    if pages < 2:
        raise Skipped(f"the device has {pages} page")
    planes = ctx.next_planes()
    prepared, _ = await ctx.apply(planes, page=1, compression=Compression.NONE)
    revision, digest = prepared.desired.revision, prepared.desired.content_hash
    if ctx.shown.shown_page != 0:
        raise Failed("writing page 1 changed the page on screen")

    duration = 3
    txn = ctx.next_txn()
    mark = ctx.session.mark()
    result, _ = await ctx.command(PageSwitch(txn, 1, duration), "PageSwitch(1, 3 s)")
    if result.status is not CommandStatus.OK:
        raise Failed(f"PageSwitch(1, {duration} s) answered {result.status.name} {result.detail!r}")
    shown = await ctx.expect(
        lambda m: isinstance(m, Reported) and m.shown_page == 1,
        "Reported with shown_page 1",
        after=mark,
    )
    _check_same_state(shown.message, revision, digest)
    ctx.shown.shown_page = 1
    back = await ctx.expect(
        lambda m: isinstance(m, Reported) and m.shown_page == 0,
        "Reported with shown_page 0 after the duration",
        after=shown.index + 1,
        timeout_s=duration + ctx.expect_s,
    )
    _check_same_state(back.message, revision, digest)
    ctx.shown.shown_page = 0
    took = back.at - shown.at
    if took < duration - 1.0:
        raise Failed(f"back on page 0 after {took:.1f} s, not after {duration} s")

    result, _ = await ctx.command(PageSwitch(ctx.next_txn(), pages, 0), f"PageSwitch({pages})")
    if result.status is not CommandStatus.REFUSED:
        raise Failed(f"PageSwitch({pages}) (out of range) answered {result.status.name}")
    return f"page 1 shown, back to page 0 after {took:.1f} s; page {pages} REFUSED"


def _check_same_state(msg: Message | None, revision: int, digest: bytes) -> None:
    """§7.3: a page switch changes neither the revision nor the content hash reported."""
    if not isinstance(msg, Reported) or (msg.revision, msg.content_hash) != (revision, digest):
        raise Failed(f"a page switch changed the reported state: {describe(msg)}")
    if msg.result is not ReportResult.APPLIED:
        raise Failed(f"page switch reported {msg.result.name}, expected APPLIED")


async def lost_chunk(ctx: Context) -> str:
    """FULL + NONE with chunk 1 withheld and chunk 0 twice: exactly chunk 1 is asked for."""
    planes = ctx.next_planes()
    chunk_size = several_chunks(ctx.model.frame_size, ctx.chunk_size)
    prepared = ctx.offer(
        planes, revision=ctx.next_revision(), compression=Compression.NONE, chunk_size=chunk_size
    )
    count = prepared.desired.chunk_count
    mark = ctx.session.mark()
    await ctx.publish_offer(prepared, [0, 0, *range(2, count)])
    up = await ctx.expect(
        lambda m: isinstance(m, XferRequest | Reported) and _about(m, prepared.desired.revision),
        f"XferRequest(MISSING_CHUNKS) for revision {prepared.desired.revision}",
        after=mark,
    )
    request = up.message
    if not isinstance(request, XferRequest) or request.reason is not XferReason.MISSING_CHUNKS:
        raise Failed(f"expected XferRequest(MISSING_CHUNKS), got {describe(request)}")
    named = indices_from_bitmap(request.missing, count)
    problems = []
    if request.xfer_id != prepared.desired.xfer_id:
        problems.append(f"xfer_id {request.xfer_id}, offered {prepared.desired.xfer_id}")
    if named != [1]:
        problems.append(f"names chunks {named}, only chunk 1 is missing")
    if len(request.missing) != (count + 7) // 8:
        problems.append(f"bitmap of {len(request.missing)} bytes for {count} chunks")
    if problems:
        raise Failed("MISSING_CHUNKS: " + "; ".join(problems))
    await ctx.push_chunks(prepared, [1])
    detail = await ctx.until_applied(prepared, planes, after=up.index + 1)
    return f"{count} chunks, MISSING_CHUNKS named exactly chunk 1, then APPLIED ({detail})"


def _about(msg: Message, revision: int) -> bool:
    return getattr(msg, "revision", None) == revision


async def lost_base(ctx: Context) -> str:
    """A delta against a base the device does not hold: BASE_UNKNOWN, then a full re-offer."""
    held = ctx.shown.page_planes[0]
    planes = ctx.next_planes()
    stranger = with_box(planes, ctx.model, ctx.shown.revision + 7)  # a base it never saw
    revision = ctx.next_revision()
    prepared = ctx.offer(planes, revision=revision, encoding=Encoding.DELTA_XOR, base=stranger)
    mark = ctx.session.mark()
    await ctx.publish_offer(prepared)
    up = await ctx.expect(
        lambda m: isinstance(m, XferRequest | Reported) and _about(m, revision),
        f"XferRequest(BASE_UNKNOWN) for revision {revision}",
        after=mark,
    )
    request = up.message
    if not isinstance(request, XferRequest) or request.reason is not XferReason.BASE_UNKNOWN:
        raise Failed(f"expected XferRequest(BASE_UNKNOWN), got {describe(request)}")
    if request.have_hash != content_hash(held):
        raise Failed(
            f"BASE_UNKNOWN have_hash {request.have_hash.hex()}, page 0 holds "
            f"{content_hash(held).hex()}"
        )
    await asyncio.sleep(SETTLE_S)
    _nothing_applied(ctx, mark, revision)
    full = ctx.offer(planes, revision=revision, compression=Compression.NONE)
    mark = ctx.session.mark()
    await ctx.publish_offer(full)
    detail = await ctx.until_applied(full, planes, after=mark)
    return f"BASE_UNKNOWN with the hash of page 0; the full re-offer APPLIED ({detail})"


def _nothing_applied(ctx: Context, mark: int, revision: int) -> None:
    for report in ctx.session.since(mark, Reported):
        if report.revision == revision and report.result is ReportResult.APPLIED:
            raise Failed(f"revision {revision} was applied from a transfer that failed")


async def integrity(ctx: Context) -> str:
    """FULL + NONE whose payload_crc is wrong: INTEGRITY_FAILED, not applied; re-offer works."""
    planes = ctx.next_planes()
    revision = ctx.next_revision()
    good = ctx.offer(planes, revision=revision, compression=Compression.NONE)
    # The data is right, the declared CRC is not: step 1 of §5.5 fails.
    bad = PreparedImage(
        dataclasses.replace(good.desired, payload_crc=good.desired.payload_crc ^ 0x100),
        good.payload,
    )
    mark = ctx.session.mark()
    await ctx.publish_offer(bad)
    up = await ctx.expect(
        lambda m: isinstance(m, XferRequest | Reported) and _about(m, revision),
        f"XferRequest(INTEGRITY_FAILED) for revision {revision}",
        after=mark,
    )
    request = up.message
    if not isinstance(request, XferRequest) or request.reason is not XferReason.INTEGRITY_FAILED:
        raise Failed(f"expected XferRequest(INTEGRITY_FAILED), got {describe(request)}")
    if request.xfer_id != bad.desired.xfer_id:
        raise Failed(f"INTEGRITY_FAILED names xfer_id {request.xfer_id}, not {bad.desired.xfer_id}")
    await asyncio.sleep(SETTLE_S)
    _nothing_applied(ctx, mark, revision)
    again = ctx.offer(planes, revision=revision, compression=Compression.NONE)
    mark = ctx.session.mark()
    await ctx.publish_offer(again)
    detail = await ctx.until_applied(again, planes, after=mark)
    return f"wrong payload CRC -> INTEGRITY_FAILED, not applied; re-offer APPLIED ({detail})"


async def offline_catch_up(ctx: Context) -> str:
    """Reboot; while away R+1 then R+2 are published; on return only R+2 is applied."""
    session = ctx.birth.session
    shown_revision = ctx.shown.revision
    mark = ctx.session.mark()
    result, _ = await ctx.command(Reboot(ctx.next_txn()), "Reboot")
    if result.status is not CommandStatus.OK:
        raise Failed(f"Reboot answered {result.status.name} {result.detail!r}")
    await ctx.expect(
        lambda m: isinstance(m, Death) and m.session == session,
        f"Death({session}) after the Reboot",
        after=mark,
    )
    skipped_planes, planes = ctx.next_planes(), ctx.next_planes()
    skipped = ctx.offer(skipped_planes, revision=ctx.next_revision(), compression=Compression.NONE)
    latest = ctx.offer(planes, revision=ctx.next_revision(), compression=Compression.NONE)
    await ctx.session.send(skipped.desired)
    await ctx.session.send(latest.desired)
    born = await ctx.expect(
        lambda m: isinstance(m, Birth) and m.session > session,
        f"Birth with a session above {session}",
        after=mark,
        timeout_s=2 * ctx.expect_s,
    )
    assert isinstance(born.message, Birth)
    boot = await ctx.expect(
        lambda m: isinstance(m, Reported) and m.result is ReportResult.BOOT,
        "Reported(BOOT) after the reboot",
        after=mark,
    )
    assert isinstance(boot.message, Reported)
    if boot.message.revision != shown_revision:
        raise Failed(f"BOOT reports revision {boot.message.revision}, it showed {shown_revision}")
    ctx.birth = born.message
    ctx.shown.shown_page = boot.message.shown_page
    await ctx.push_chunks(latest, range(latest.desired.chunk_count))
    detail = await ctx.until_applied(latest, planes, after=min(born.index, boot.index) + 1)
    for report in ctx.session.since(mark, Reported):
        if report.revision == skipped.desired.revision and report.result is ReportResult.APPLIED:
            raise Failed(f"the intermediate revision {report.revision} was applied")
    return (
        f"Death({session}), Birth({born.message.session}), BOOT at revision {shown_revision}; "
        f"revision {latest.desired.revision} APPLIED, {skipped.desired.revision} never ({detail})"
    )
