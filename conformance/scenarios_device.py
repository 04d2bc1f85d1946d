"""Scenarios about the device itself: its Birth, commands, firmware offers, malformed frames.

PROTOCOL.md §1.2/§4.4/§4.6 (the retained Birth), §7 (commands and their CommandResults, the
transaction memory, Rebirth, firmware offers refused before any chunk), §2.4/§3.5 (frames a
receiver drops without answering).
"""

from __future__ import annotations

import asyncio
import struct
import zlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conformance.context import Context, Failed, describe
from conformance.images import firmware_offer, newer, older, other_label_model
from firmware_protocol.codec import encode
from firmware_protocol.messages import (
    Birth,
    CommandResult,
    CommandStatus,
    Death,
    FastWake,
    FirmwareOffer,
    LedColour,
    LedFlash,
    LedPattern,
    Message,
    PageSwitch,
    Ping,
    Rebirth,
    Reported,
    XferRequest,
)
from firmware_protocol.models import DeviceKind, ModelId
from firmware_protocol.topics import Channel
from firmware_protocol.transfer import MIN_CHUNK
from firmware_protocol.wire import FirmwareVersion

SETTLE_S = 0.5


async def birth(ctx: Context) -> str:
    """The retained Birth was there at subscribe, and describes a label (§4.4, §4.6)."""
    b = ctx.birth
    if not ctx.birth_retained:
        raise Failed("no retained Birth at subscribe (the device answered a Rebirth only)")
    problems = []
    if b.model.kind is not DeviceKind.LABEL:
        problems.append(f"model {b.model.name} is not a LABEL")
    if b.pages < 1:
        problems.append(f"pages {b.pages}: a label has at least one")
    elif b.shown_page >= b.pages:
        problems.append(f"shown_page {b.shown_page} with {b.pages} pages")
    if b.session < 1:
        problems.append("session 0: the first session is 1")
    try:
        chunk = ctx.chunk_size
    except Failed as exc:
        problems.append(str(exc))
        chunk = 0
    deaths = [
        u.message
        for u in ctx.session.ups
        if u.retain
        and u.gateway == ctx.session.gateway
        and isinstance(u.message, Death)
        and u.message.session >= b.session
    ]
    if deaths:
        problems.append(
            f"the retained Death({deaths[0].session}) makes session {b.session} offline"
        )
    if problems:
        raise Failed("; ".join(problems))
    return (
        f"{b.model.name} firmware {b.firmware}, session {b.session}, {b.pages} page(s), "
        f"checkin {b.checkin_s} s, max_packet {b.max_packet} (chunks of {chunk} >= {MIN_CHUNK})"
    )


async def rebirth(ctx: Context) -> str:
    """Rebirth: a fresh Birth with the same session, published BEFORE CommandResult OK (§7.6)."""
    session = ctx.birth.session
    mark = ctx.session.mark()
    result, answer = await ctx.command(Rebirth(ctx.next_txn()), "Rebirth")
    if result.status is not CommandStatus.OK:
        raise Failed(f"Rebirth answered {result.status.name}")
    births = [
        u.message for u in ctx.session.ups[mark : answer.index] if isinstance(u.message, Birth)
    ]
    if not births:
        late = await ctx.session.wait_for(
            lambda u: isinstance(u.message, Birth), SETTLE_S, after=answer.index
        )
        if late is not None:
            raise Failed("the Birth came after the CommandResult OK: it must come first")
        raise Failed("no Birth before the CommandResult OK")
    new = births[-1]
    if new.session != session:
        raise Failed(
            f"the Rebirth's Birth has session {new.session}, the connection's is {session}"
        )
    ctx.birth = new
    return f"Birth({new.session}), then CommandResult OK"


async def commands(ctx: Context) -> str:
    """Ping, LedFlash, FastWake each answered once; a repeated txn gets the same status, and a
    repeated PageSwitch is answered without being run again (§7.1)."""
    mark = ctx.session.mark()
    ping_txn = ctx.next_txn()
    ping, _ = await ctx.command(Ping(ping_txn), "Ping")
    if ping.status is not CommandStatus.OK:
        raise Failed(f"Ping answered {ping.status.name}")
    led_txn = ctx.next_txn()
    led, _ = await ctx.command(
        LedFlash(led_txn, LedColour.GREEN, LedPattern.BLINK_FAST, 5), "LedFlash"
    )
    allowed = {CommandStatus.OK, CommandStatus.UNSUPPORTED}
    if led.status not in allowed:
        raise Failed(f"LedFlash answered {led.status.name}")
    wake_txn = ctx.next_txn()
    wake, _ = await ctx.command(FastWake(wake_txn, 10, 1000), "FastWake")
    if wake.status not in allowed:
        raise Failed(f"FastWake answered {wake.status.name}")
    again, _ = await ctx.command(Ping(ping_txn), "the repeated Ping")
    if again.status is not ping.status:
        raise Failed(
            f"the repeated txn {ping_txn} answered {again.status.name}, first {ping.status.name}"
        )
    await asyncio.sleep(SETTLE_S)
    counts = {ping_txn: 0, led_txn: 0, wake_txn: 0}
    for result in ctx.session.since(mark, CommandResult):
        if result.txn in counts:
            counts[result.txn] += 1
    if counts != {ping_txn: 2, led_txn: 1, wake_txn: 1}:
        raise Failed(f"CommandResults per txn (Ping twice, others once): {counts}")
    pages = await _repeated_page_switch(ctx)
    return (
        f"Ping OK, LedFlash {led.status.name}, FastWake {wake.status.name}, "
        f"the repeated txn {again.status.name} again; {pages}"
    )


async def _repeated_page_switch(ctx: Context) -> str:
    """§7.1 made visible: PageSwitch(1) txn X, PageSwitch(0) txn Y, then txn X again must be
    answered from memory, not run: no Reported with shown_page 1 follows."""
    if ctx.birth.pages < 2 or not {0, 1} <= set(ctx.shown.page_planes):
        return "repeated PageSwitch not checked (needs images on pages 0 and 1: run page-switch)"
    x, y = ctx.next_txn(), ctx.next_txn()
    await _switch(ctx, PageSwitch(x, 1, 0))
    await _switch(ctx, PageSwitch(y, 0, 0))
    mark = ctx.session.mark()
    again, _ = await ctx.command(PageSwitch(x, 1, 0), f"the repeated PageSwitch(1) txn {x}")
    if again.status is not CommandStatus.OK:
        raise Failed(f"the repeated PageSwitch txn {x} answered {again.status.name}, first OK")
    rerun = await ctx.session.wait_for(
        lambda u: isinstance(u.message, Reported) and u.message.shown_page == 1,
        ctx.expect_s,
        after=mark,
    )
    if rerun is not None:
        ctx.shown.shown_page = 1
        raise Failed(
            f"the repeated PageSwitch txn {x} was run again (Reported shown_page 1): a "
            "repeated txn is answered from memory, not executed"
        )
    return f"the repeated PageSwitch txn {x} answered OK, not run again"


async def _switch(ctx: Context, cmd: PageSwitch) -> None:
    """A page switch that must succeed and be reported (§7.3)."""
    mark = ctx.session.mark()
    result, _ = await ctx.command(cmd, f"PageSwitch({cmd.page})")
    if result.status is not CommandStatus.OK:
        raise Failed(f"PageSwitch({cmd.page}) txn {cmd.txn} answered {result.status.name}")
    await ctx.expect(
        lambda m: isinstance(m, Reported) and m.shown_page == cmd.page,
        f"Reported shown_page {cmd.page}",
        after=mark,
    )
    ctx.shown.shown_page = cmd.page


async def firmware_refused(ctx: Context) -> str:
    """Offers refused before any chunk: same and older version, bad signature, other model."""
    own = ctx.birth.firmware
    key = Ed25519PrivateKey.generate()  # not the vendor's: its signatures never verify
    model = ctx.birth.model
    cases: list[tuple[str, CommandStatus, ModelId, FirmwareVersion]] = [
        ("same version", CommandStatus.DOWNGRADE_REFUSED, model, own),
    ]
    before = older(own)
    if before is not None:
        cases.append(("older version", CommandStatus.DOWNGRADE_REFUSED, model, before))
    cases.append(("newer, bad signature", CommandStatus.BAD_SIGNATURE, model, newer(own)))
    cases.append(("another model", CommandStatus.WRONG_MODEL, other_label_model(model), newer(own)))
    got: list[tuple[str, CommandStatus, CommandStatus]] = []
    for name, expected, offer_model, version in cases:
        offer = firmware_offer(
            txn=ctx.next_txn(),
            xfer_id=ctx.next_xfer(),
            model=offer_model,
            version=version,
            chunk_size=ctx.chunk_size,
            key=key,
        )
        got.append((name, expected, await _first_answer(ctx, offer, name)))
    if all(status is CommandStatus.UNSUPPORTED for _, _, status in got):
        return "UNSUPPORTED to every offer (no update over the air): allowed (§7.1)"
    wrong = [
        f"{name}: {status.name}, expected {expected.name}"
        for name, expected, status in got
        if status is not expected
    ]
    if wrong:
        raise Failed("; ".join(wrong))
    note = "" if before is not None else " (firmware 0.0.0: no older version to offer)"
    return ", ".join(f"{name} {status.name}" for name, _, status in got) + note


async def _first_answer(ctx: Context, offer: FirmwareOffer, name: str) -> CommandStatus:
    """The offer's first CommandResult, IN_PROGRESS included (no chunk is ever sent)."""
    mark = ctx.session.mark()
    await ctx.session.send(offer)

    def answers(m: Message) -> bool:
        return isinstance(m, CommandResult) and m.txn == offer.txn

    up = await ctx.expect(answers, f"CommandResult for the firmware offer ({name})", after=mark)
    assert isinstance(up.message, CommandResult)
    return up.message.status


# ---- malformed frames (§3.5) ------------------------------------------------------------------


def _frame(opcode: int, body: bytes, *, magic: bytes = b"OS", version: int = 1) -> bytes:
    """A frame built by hand (§3.1), with a correct CRC over whatever header it has."""
    head = magic + struct.pack(">BBI", version, opcode, len(body))
    return head + body + struct.pack(">I", zlib.crc32(head + body))


def _ping(txn: int) -> bytes:
    return _frame(0x33, struct.pack(">I", txn))


def _unknown_model_offer(ctx: Context, txn: int) -> bytes:
    """A FirmwareOffer whose model is no ModelId of §4.3: malformed (§3.2), so not answered
    (not even WRONG_MODEL)."""
    offer = FirmwareOffer(
        txn, ctx.next_xfer(), ctx.birth.model, newer(ctx.birth.firmware), 16, 16, bytes(32),
        bytes(64),
    )  # fmt: skip
    frame = bytearray(encode(offer))
    frame[8 + 8 : 8 + 10] = b"\xff\xff"  # model: kind 0xFF does not exist
    frame[-4:] = struct.pack(">I", zlib.crc32(bytes(frame[:-4])))
    return bytes(frame)


async def malformed(ctx: Context) -> str:
    """Frames a receiver must drop are not answered and cause nothing; a valid Ping is."""
    txns = {
        name: ctx.next_txn()
        for name in (
            "bad CRC",
            "bad magic",
            "version 2",
            "unknown opcode",
            "trailing byte",
            "truncated",
            "Ping on the desired channel",
            "FirmwareOffer for an unknown ModelId",
        )
    }
    bad_crc = bytearray(_ping(txns["bad CRC"]))
    bad_crc[-1] ^= 0x01
    current = ctx.shown.desired
    assert current is not None
    desired = bytearray(encode(current))
    desired[8 + 29] = 0x7F  # encoding: no such Encoding value (§4.2)
    desired[-4:] = struct.pack(">I", zlib.crc32(bytes(desired[:-4])))
    unknown_model = _unknown_model_offer(ctx, txns["FirmwareOffer for an unknown ModelId"])
    frames: list[tuple[str, Channel, bytes]] = [
        ("bad CRC", Channel.CMD, bytes(bad_crc)),
        ("bad magic", Channel.CMD, _frame(0x33, struct.pack(">I", txns["bad magic"]), magic=b"OX")),
        ("version 2", Channel.CMD, _frame(0x33, struct.pack(">I", txns["version 2"]), version=2)),
        ("unknown opcode", Channel.CMD, _frame(0x3F, struct.pack(">I", txns["unknown opcode"]))),
        ("trailing byte", Channel.CMD, _ping(txns["trailing byte"]) + b"\x00"),
        ("truncated", Channel.CMD, _ping(txns["truncated"])[:-1]),
        (
            "Ping on the desired channel",
            Channel.DESIRED,
            _ping(txns["Ping on the desired channel"]),
        ),
        ("Desired with an unknown encoding", Channel.DESIRED, bytes(desired)),
        ("FirmwareOffer for an unknown ModelId", Channel.CMD, unknown_model),
    ]
    mark = ctx.session.mark()
    for _, channel, payload in frames:
        # Never retained: a retained frame would be delivered again at every reconnect.
        await ctx.session.send_raw(channel, payload, retain=False)
    valid_txn = ctx.next_txn()
    result, _ = await ctx.command(Ping(valid_txn), "the valid Ping after the bad frames")
    if result.status is not CommandStatus.OK:
        raise Failed(f"the valid Ping answered {result.status.name}")
    await asyncio.sleep(SETTLE_S)
    by_txn = {txn: name for name, txn in txns.items()}
    problems = [
        f"answered the {by_txn.get(answer.txn, f'txn {answer.txn}')} frame"
        for answer in ctx.session.since(mark, CommandResult)
        if answer.txn != valid_txn
    ]
    caused: list[Message] = [
        *ctx.session.since(mark, Reported),
        *ctx.session.since(mark, XferRequest),
        *ctx.session.since(mark, Death),
    ]
    problems += [f"caused {describe(m)}" for m in caused]
    if problems:
        raise Failed("; ".join(problems))
    return f"{len(frames)} bad frames dropped silently, the valid Ping answered OK"
