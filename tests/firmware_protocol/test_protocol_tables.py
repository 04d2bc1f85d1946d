"""PROTOCOL.md's tables and the codec describe the same protocol (issue 13).

The document is normative and a firmware team builds from its tables alone, so each table is
parsed from the markdown and compared with what the codec declares, in both directions: the
opcodes and their delivery (§2.4), every message's fields (§4.4, §4.5), every enumeration
(§4.2), the device models (§4.3), the signed firmware manifest (§7.7) and the limits the codec
enforces (§3.1, §5.4). The codec side is introspected (message layouts, enums, the model
catalogue), never restated here, so a change on either side alone fails a test.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from firmware_protocol import messages, models
from firmware_protocol.codec import HEADER_SIZE, MAGIC, MAX_BODY, OVERHEAD, VERSION
from firmware_protocol.firmware import MANIFEST_TAG, signed_manifest
from firmware_protocol.messages import MESSAGE_TYPES, Message, Opcode, layout
from firmware_protocol.models import CATALOGUE, DeviceKind, ModelId, Palette
from firmware_protocol.topics import DELIVERY, DeviceAddress
from firmware_protocol.transfer import MAX_CHUNKS, MIN_CHUNK, chunk_size_for
from firmware_protocol.wire import FirmwareVersion, WireType

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_protocol" / "PROTOCOL.md"
TIMES, MINUS = "\N{MULTIPLICATION SIGN}", "\N{MINUS SIGN}"  # the document's typography
WIDTH_HEIGHT = f"width {TIMES} height"


# ---- reading the document ----------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A markdown table and the paragraph just above it (which names what the table is)."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> int:
        return self.header.index(name)


def _document() -> str:
    return PROTOCOL_MD.read_text(encoding="utf-8")


def _section(number: str, text: str | None = None) -> str:
    """The text of section `number` ("2.4"), up to the next heading of the same or higher level."""
    text = _document() if text is None else text
    level = "##" if "." not in number else "###"
    match = re.search(rf"^{level} {re.escape(number)}\.? .*$", text, re.MULTILINE)
    assert match is not None, f"PROTOCOL.md has no section {number}"
    rest = text[match.end() :]
    following = re.search(rf"^#{{2,{len(level)}}} ", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


def _cells(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def _tables(text: str) -> list[Table]:
    blocks = [block.strip("\n") for block in re.split(r"\n\s*\n", text)]
    found = []
    for i, block in enumerate(blocks):
        lines = block.splitlines()
        if not lines or not all(line.startswith("|") for line in lines):
            continue
        assert re.fullmatch(r"[|\s:-]+", lines[1]), f"not a table separator: {lines[1]!r}"
        caption = " ".join(blocks[i - 1].split()) if i else ""
        rows = tuple(_cells(line) for line in lines[2:])
        header = _cells(lines[0])
        assert all(len(row) == len(header) for row in rows), f"ragged table under {caption!r}"
        found.append(Table(caption, header, rows))
    return found


def _plain(cell: str) -> str:
    return cell.strip().strip("`").strip()


def _number(cell: str) -> int:
    text = _plain(cell).replace(",", "")
    return int(text, 16) if text.startswith("0x") else int(text)


# ---- introspecting the codec -------------------------------------------------------------------


def _python_type(cls: type[Message], name: str) -> Any:
    return get_type_hints(cls, include_extras=True)[name].__origin__


def _wire_size(wire: WireType, python_type: Any) -> tuple[int, bool]:
    """(size of a fixed field or of a variable field's length prefix, whether it is variable)."""
    if isinstance(python_type, type) and issubclass(python_type, IntEnum):
        out = bytearray()
        wire.encode(next(iter(python_type)), out)
        return len(out), False
    value, end = wire.decode(memoryview(bytes(256)), 0)
    variable = isinstance(value, str | tuple) or (isinstance(value, bytes) and not value)
    return end, variable


def _codec_enums() -> dict[str, type[IntEnum]]:
    """Every enumeration of the codec's messages and models but Opcode (§2.4) and ModelId (§4.3)."""
    return {
        name: value
        for module in (messages, models)
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, IntEnum)
        and value.__module__ == module.__name__
        and value not in (Opcode, ModelId)
    }


# ---- §2.4 opcodes ------------------------------------------------------------------------------


@functools.cache
def _opcode_rows() -> dict[int, tuple[str, ...]]:
    (table,) = [t for t in _tables(_section("2.4")) if t.header[0] == "opcode"]
    assert table.header == ("opcode", "message", "channel", "direction", "QoS", "retained")
    rows = {_number(row[0]): row for row in table.rows}
    assert len(rows) == len(table.rows), "an opcode is listed twice in §2.4"
    return rows


def test_opcode_table_lists_exactly_the_codec_opcodes() -> None:
    """Every opcode of §2.4 is one the codec knows, and every codec opcode is in §2.4."""
    assert sorted(_opcode_rows()) == sorted(int(op) for op in Opcode)
    assert sorted(_opcode_rows()) == sorted(int(op) for op in MESSAGE_TYPES)


@pytest.mark.parametrize("opcode", list(Opcode), ids=lambda op: op.name)
def test_opcode_row_matches_message_and_delivery(opcode: Opcode) -> None:
    """Message name, channel, direction, QoS and retain flag of §2.4 are the codec's."""
    _, message, channel, direction, qos, retained = _opcode_rows()[opcode]
    delivery = DELIVERY[opcode]
    assert _plain(message) == MESSAGE_TYPES[opcode].__name__
    assert _plain(channel) == delivery.channel.value
    assert _plain(direction) == delivery.direction.value
    assert int(qos) == delivery.qos
    assert {"yes": True, "no": False}[_plain(retained)] is delivery.retain
    assert (opcode < 0x20) == (delivery.direction.value == "up")  # §2.4's up/down rule


# ---- §4.4 / §4.5 message layouts ---------------------------------------------------------------

_MESSAGE_CAPTION = re.compile(r"\*\*(\w+)\*\* `0x([0-9a-fA-F]{2})`")


@functools.cache
def _field_tables() -> dict[str, tuple[str, Table]]:
    """Message name -> (the paragraph above its field table, the table), from §4.4 and §4.5."""
    found: dict[str, tuple[str, Table]] = {}
    for number in ("4.4", "4.5"):
        for table in _tables(_section(number)):
            names = _MESSAGE_CAPTION.findall(table.caption)
            assert names, f"a table in §{number} names no message: {table.caption!r}"
            assert table.header == ("offset", "size", "field", "type", "meaning")
            for name, opcode in names:
                assert MESSAGE_TYPES[Opcode(int(opcode, 16))].__name__ == name, (name, opcode)
                assert name not in found, f"{name} has two field tables"
                found[name] = (table.caption, table)
    return found


def test_every_message_has_exactly_one_field_table() -> None:
    """§4.4 and §4.5 give a field table for every message of the codec, and for no other."""
    assert sorted(_field_tables()) == sorted(cls.__name__ for cls in MESSAGE_TYPES.values())


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda cls: cls.__name__)
def test_field_table_matches_the_codec_layout(cls: type[Message]) -> None:
    """Field names, order, types, sizes and offsets of the table are the codec's layout."""
    caption, table = _field_tables()[cls.__name__]
    fields = layout(cls)
    assert [_plain(row[table.column("field")]) for row in table.rows] == [n for n, _ in fields]
    offset = 0
    for position, (row, (name, wire)) in enumerate(zip(table.rows, fields, strict=True)):
        size, variable = _wire_size(wire, _python_type(cls, name))
        assert _plain(row[table.column("type")]) == wire.name, name
        assert _number(row[table.column("offset")]) == offset, name
        size_cell = _plain(row[table.column("size")])
        if variable:
            prefix = re.fullmatch(r"(\d+) \+ \S+", size_cell)
            assert prefix is not None, f"{name}: variable size written as {size_cell!r}"
            assert int(prefix.group(1)) == size, name
            assert position == len(fields) - 1, f"{name}: a variable field that is not the last"
        else:
            assert _number(size_cell) == size, name
        offset += size
    assert caption.count("Body") == 1, f"{cls.__name__}: no 'Body N bytes' statement"


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda cls: cls.__name__)
def test_stated_body_size_is_the_codec_body_size(cls: type[Message]) -> None:
    """'Body N bytes' (or 'Body N + ... bytes' for variable bodies) above each table is right."""
    caption, _ = _field_tables()[cls.__name__]
    stated = re.search(r"Body (\d+)( \+ [^.]*?)? bytes", caption)
    assert stated is not None, f"{cls.__name__}: {caption!r}"
    sizes = [_wire_size(wire, _python_type(cls, name)) for name, wire in layout(cls)]
    assert int(stated.group(1)) == sum(size for size, _ in sizes)
    assert (stated.group(2) is not None) == any(variable for _, variable in sizes)


@pytest.mark.parametrize("opcode", list(Opcode), ids=lambda op: op.name)
def test_message_caption_states_its_delivery(opcode: Opcode) -> None:
    """The paragraph above each field table names the channel, QoS and retain flag of §2.4."""
    caption, _ = _field_tables()[MESSAGE_TYPES[opcode].__name__]
    stated = re.search(r"channel `(\w+)`, QoS (\d), (not retained|retained)", caption)
    assert stated is not None, caption
    delivery = DELIVERY[opcode]
    assert stated.group(1) == delivery.channel.value
    assert int(stated.group(2)) == delivery.qos
    assert (stated.group(3) == "retained") is delivery.retain


# ---- §4.2 enumerations -------------------------------------------------------------------------


@functools.cache
def _enum_tables() -> dict[str, dict[int, str]]:
    found: dict[str, dict[int, str]] = {}
    for table in _tables(_section("4.2")):
        name = re.match(r"\*\*(\w+)\*\*", table.caption)
        assert name is not None, f"an enumeration table without a name: {table.caption!r}"
        assert table.header[:2] == ("value", "name"), table.header
        values = {_number(row[0]): _plain(row[1]) for row in table.rows}
        assert len(values) == len(table.rows), f"{name.group(1)} lists a value twice"
        found[name.group(1)] = values
    return found


def test_every_enumeration_is_documented_and_nothing_else() -> None:
    """§4.2 has a table for every enum the codec puts on the wire, and none for anything else."""
    assert sorted(_enum_tables()) == sorted(_codec_enums())


@pytest.mark.parametrize("name", sorted(_codec_enums()))
def test_enumeration_table_matches_the_enum(name: str) -> None:
    """Each §4.2 table has exactly the enum's values and names, none missing on either side."""
    enum = _codec_enums()[name]
    assert _enum_tables()[name] == {int(member): member.name for member in enum}


def test_every_enum_field_names_a_documented_enumeration() -> None:
    """Each enum-typed field ('u8 ReportResult') refers to a table of §4.2 or to ModelId."""
    for cls in MESSAGE_TYPES.values():
        for name, wire in layout(cls):
            python_type = _python_type(cls, name)
            if isinstance(python_type, type) and issubclass(python_type, IntEnum):
                width = "u16" if python_type is ModelId else "u8"  # §4.2: all u8 but ModelId
                assert wire.name == f"{width} {python_type.__name__}"
                assert python_type is ModelId or python_type.__name__ in _enum_tables()


def test_palette_table_gives_planes_and_accent_colours() -> None:
    """§4.2's Palette table states each palette's plane count and accent sRGB as the codec."""
    (table,) = [t for t in _tables(_section("4.2")) if t.caption.startswith("**Palette**")]
    for row in table.rows:
        palette = Palette[_plain(row[1])]
        assert int(row[table.column("bit planes")]) == palette.plane_count
        accent = re.search(r"\((\d+), (\d+), (\d+)\)", row[table.column("accent colour (sRGB)")])
        if palette.plane_count == 1:
            assert accent is None
        else:
            assert accent is not None
            assert tuple(int(v) for v in accent.groups()) == palette.colours[2]


# ---- §4.3 device models ------------------------------------------------------------------------


@functools.cache
def _model_rows() -> dict[str, dict[str, str]]:
    (table,) = _tables(_section("4.3"))
    assert table.header == (
        "ModelId",
        "value",
        "kind",
        "panel",
        WIDTH_HEIGHT,
        "palette",
        "frame bytes",
        "other",
    )
    return {_plain(row[0]): dict(zip(table.header, row, strict=True)) for row in table.rows}


def test_model_table_lists_exactly_the_catalogue() -> None:
    """§4.3 lists every ModelId of the codec and its catalogue, and nothing else."""
    assert sorted(_model_rows()) == sorted(m.name for m in ModelId)
    assert sorted(_model_rows()) == sorted(m.name for m in CATALOGUE)


@pytest.mark.parametrize("model_id", list(ModelId), ids=lambda m: m.name)
def test_model_row_matches_the_catalogue(model_id: ModelId) -> None:
    """Value, kind, panel size, resolution, palette, frame bytes and extras are the codec's."""
    row, model = _model_rows()[model_id.name], CATALOGUE[model_id]
    assert _number(row["value"]) == model_id.value
    assert row["kind"] == model.kind.name.lower().replace("_", " ")
    assert DeviceKind(model_id.value >> 8) is model.kind  # high byte = DeviceKind (§4.3)
    if model.has_panel:
        assert model.palette is not None
        assert float(row["panel"].rstrip('"')) == model.diagonal_inch
        assert row[WIDTH_HEIGHT] == f"{model.width} {TIMES} {model.height}"
        assert row["palette"] == model.palette.name
        assert model_id.value & 0x0F == model.palette.value  # low nibble = Palette (§4.3)
        assert _number(row["frame bytes"]) == model.frame_size
        assert model.frame_size == -(-model.width // 8) * model.height * model.palette.plane_count
    else:
        assert (row[WIDTH_HEIGHT], row["palette"], row["frame bytes"]) == ("—", "—", "—")
    other = {
        f"{model.lanes} lanes": model.lanes,
        f"{model.text_lines} text lines": model.text_lines,
    }
    assert row["other"] == next((text for text, value in other.items() if value), "")


# ---- §7.7 signed manifest ----------------------------------------------------------------------


def test_manifest_table_is_the_signed_manifest() -> None:
    """Each §7.7 row's offset and size hold that field in the manifest the codec signs."""
    section = _section("7.7")
    (table,) = [t for t in _tables(section) if t.header[:3] == ("offset", "size", "field")]
    sha = bytes(range(32))
    manifest = signed_manifest(ModelId.EPD290_BWY, FirmwareVersion(7, 8, 0x0906), 0x0A0B0C0D, sha)
    expected = {
        "tag": MANIFEST_TAG,
        "model": ModelId.EPD290_BWY.to_bytes(2, "big"),
        "major": b"\x07",
        "minor": b"\x08",
        "patch": b"\x09\x06",
        "size": b"\x0a\x0b\x0c\x0d",
        "sha256": sha,
    }
    offset = 0
    for row in table.rows:
        start, size, name = _number(row[0]), _number(row[1]), _plain(row[2])
        assert start == offset, name
        assert manifest[start : start + size] == expected.pop(name), name
        offset += size
    assert expected == {}, f"fields missing from §7.7: {sorted(expected)}"
    assert offset == len(manifest)
    assert f"exactly these {len(manifest)} bytes" in " ".join(section.split())
    assert f"`{MANIFEST_TAG.decode()}`" in table.rows[0][3]


# ---- limits the codec enforces -----------------------------------------------------------------


def test_frame_header_table_and_limit() -> None:
    """§3.1's frame layout is the codec's: magic, version, header and CRC sizes, body limit."""
    (table,) = [t for t in _tables(_section("3.1")) if t.header[0] == "offset"]
    rows = {_plain(row[2]).split()[0]: row for row in table.rows}
    assert list(rows) == ["magic", "version", "opcode", "length", "body", "CRC"]
    assert [_number(rows[f][0]) for f in ("magic", "version", "opcode", "length")] == [0, 2, 3, 4]
    assert [_number(rows[f][1]) for f in ("magic", "version", "opcode", "length")] == [2, 1, 1, 4]
    assert _number(rows["body"][0]) == HEADER_SIZE
    assert _number(rows["CRC"][1]) == OVERHEAD - HEADER_SIZE
    assert f"`{MAGIC.hex(' ').upper()}`" in rows["magic"][3]
    assert f"`{VERSION:02x}`" in rows["version"][3]
    assert f"at most {MAX_BODY:,}" in rows["length"][3]
    assert f"{OVERHEAD} bytes longer than its body" in _section("3.1")
    assert f"at most {MAX_BODY:,} bytes" in _section("1.3")


def test_chunk_size_formula_is_the_codec_one() -> None:
    """§5.4's formula 'chunk_size = max_packet - K - len(topic)' and its limits are the codec's."""
    section = _section("5.4")
    formula = re.search(rf"chunk_size = max_packet {MINUS} (\d+) {MINUS} len\(topic\)", section)
    assert formula is not None
    topic = DeviceAddress("s1", "ap-01", "lbl-0001").topic(Opcode.CHUNK)
    for max_packet in (512, 4096, 65536):
        assert chunk_size_for(max_packet, topic) == max_packet - int(formula.group(1)) - len(topic)
    assert f"A chunk size below {MIN_CHUNK} bytes is refused" in " ".join(section.split())
    assert f"more than {MAX_CHUNKS:,} chunks" in " ".join(section.split())
