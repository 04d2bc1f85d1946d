"""Which item a fitting room saw: an RFID tag's EPC or a scanned barcode, as a GTIN.

A fitting room's ITEM_IN / ITEM_OUT events and its STOCK_QUERY requests carry the EPC of the tag
as upper-case hex (PROTOCOL.md §4.2, §8.2, §8.3); staff may scan a barcode instead. `identify` takes
either and answers the GTIN-14 (and the tag's serial), or raises an `ItemCodeError` whose message
can be shown as is. Pure functions, no I/O: the controller and the simulator both use them.

Tags are read per GS1's EPC Tag Data Standard (TDS; clause numbers of the 1.x editions):

- SGTIN-96 is the only scheme decoded (§14.5.1.1, its coding table): header 0x30, filter
  (3 bits), partition (3 bits), GS1 Company Prefix and indicator + item reference (44 bits split
  by the SGTIN partition table, §14.5.1), serial (38 bits, an integer).
- A field that does not fit the decimal digits its partition gives it makes the tag invalid
  (§14.4, partition table decoding); so does partition value 7, which the table lacks.
- Any other header is an "unknown tag", named when TDS lists it (§14.2, the EPC header table;
  the "+" schemes from GS1's TDT 2.0 files): an SSCC or an asset tag is not an item, and an
  SGTIN-198 or SGTIN+ item carries an alphanumeric serial that this module does not read.
- The GTIN check digit is GS1's mod-10 (TDS §7.1; GS1 General Specifications §7.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SGTIN_96_HEADER: Final = 0x30
SGTIN_96_HEX_DIGITS: Final = 24  # 96 bits
SERIAL_BITS: Final = 38
MAX_SERIAL: Final = (1 << SERIAL_BITS) - 1

# SGTIN filter values (TDS §10): 1 is a point-of-sale trade item, a garment on the shop floor.
FILTER_ALL_OTHERS: Final = 0
FILTER_POS_ITEM: Final = 1


@dataclass(frozen=True, slots=True)
class Partition:
    """A row of the SGTIN partition table (TDS §14.5.1): how the 44 bits after the partition
    value are split between the company prefix and the indicator + item reference."""

    value: int
    prefix_bits: int
    prefix_digits: int
    item_bits: int
    item_digits: int  # the indicator digit included


PARTITIONS: Final = (
    Partition(0, 40, 12, 4, 1),
    Partition(1, 37, 11, 7, 2),
    Partition(2, 34, 10, 10, 3),
    Partition(3, 30, 9, 14, 4),
    Partition(4, 27, 8, 17, 5),
    Partition(5, 24, 7, 20, 6),
    Partition(6, 20, 6, 24, 7),
)
_BY_PREFIX_DIGITS: Final = {p.prefix_digits: p for p in PARTITIONS}

# EPC binary headers (TDS §14.2; 0xF7, 0xF9, 0xFB: GS1 TDT 2.0), split by whether the scheme
# names a trade item at all, so that the "unknown tag" message says what the tag is.
_OTHER_ITEM_SCHEMES: Final = {
    0x36: "SGTIN-198",
    0x40: "ITIP-110",
    0x41: "ITIP-212",
    0xF7: "SGTIN+",
    0xFB: "DSGTIN+",
}
_NON_ITEM_SCHEMES: Final = {
    0x2C: "GDTI-96",
    0x2D: "GSRN-96",
    0x2E: "GSRNP-96",
    0x2F: "USDoD-96",
    0x31: "SSCC-96",
    0x32: "SGLN-96",
    0x33: "GRAI-96",
    0x34: "GIAI-96",
    0x35: "GID-96",
    0x37: "GRAI-170",
    0x38: "GIAI-202",
    0x39: "SGLN-195",
    0x3A: "GDTI-113",
    0x3B: "ADI-var",
    0x3C: "CPI-96",
    0x3D: "CPI-var",
    0x3E: "GDTI-174",
    0x3F: "SGCN-96",
    0xF9: "SSCC+",
}
_UNPROGRAMMED: Final = 0x00  # TDS §14.2: a tag whose EPC memory was never written

BARCODE_LENGTHS: Final = (8, 12, 13, 14)  # GTIN-8 (EAN-8), GTIN-12 (UPC-A), GTIN-13, GTIN-14


class ItemCodeError(ValueError):
    """A code read in a fitting room that names no item; the message says why, `code` is what
    was read."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotAnEpc(ItemCodeError):
    """The text is not a 96-bit EPC at all: not hexadecimal, or not 24 hex digits long."""


class UnknownTag(ItemCodeError):
    """A well-formed EPC of another scheme than SGTIN-96; `scheme` is its TDS name, if known."""

    def __init__(self, code: str, message: str, *, header: int, scheme: str | None) -> None:
        super().__init__(code, message)
        self.header = header
        self.scheme = scheme


class InvalidSgtin(ItemCodeError):
    """An SGTIN-96 that TDS says is invalid (partition 7, a field too large for its partition),
    or a GTIN, prefix length, serial or filter that cannot be encoded as one."""


class BadBarcode(ItemCodeError):
    """Digits that are no GTIN: the wrong number of them, or a wrong check digit."""


@dataclass(frozen=True, slots=True)
class Sgtin:
    """A decoded SGTIN-96: a GTIN and a serial number, plus the tag's filter value."""

    filter: int
    partition: int
    company_prefix: str  # 12 down to 6 digits, leading zeros kept
    item_ref_and_indicator: str  # TDS's name: indicator digit, item reference; 13 - L digits
    serial: int

    @property
    def indicator(self) -> str:
        """The GTIN-14's first digit ('0' for a GTIN-8/12/13)."""
        return self.item_ref_and_indicator[0]

    @property
    def gtin(self) -> str:
        """The GTIN-14: indicator, company prefix, item reference, check digit (TDS §7.1)."""
        body = self.indicator + self.company_prefix + self.item_ref_and_indicator[1:]
        return body + str(check_digit(body))

    @property
    def pure_identity_uri(self) -> str:
        """urn:epc:id:sgtin:CompanyPrefix.ItemRefAndIndicator.Serial (TDS §6.3.1)."""
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.item_ref_and_indicator}.{self.serial}"

    @property
    def tag_uri(self) -> str:
        """urn:epc:tag:sgtin-96:Filter.CompanyPrefix.ItemRefAndIndicator.Serial (TDS §12)."""
        return (
            f"urn:epc:tag:sgtin-96:{self.filter}."
            f"{self.company_prefix}.{self.item_ref_and_indicator}.{self.serial}"
        )

    @property
    def epc_hex(self) -> str:
        """The 96 bits as the fitting room sends them: 24 upper-case hex digits."""
        return encode_sgtin96(self.gtin, len(self.company_prefix), self.serial, filter=self.filter)


@dataclass(frozen=True, slots=True)
class ItemIdentity:
    """What `identify` found: the item's GTIN-14, and the tag it came from (None for a barcode)."""

    gtin: str
    tag: Sgtin | None = None

    @property
    def serial(self) -> int | None:
        """The tag's serial number: this one garment, not only its article."""
        return None if self.tag is None else self.tag.serial

    @property
    def gtin13(self) -> str | None:
        """The GTIN-13 the catalog keeps (controller/catalog/items.py: GTIN-12 zero-padded to 13);
        None when the indicator digit is not 0 (a case or pack, never a garment on a hanger)."""
        return self.gtin[1:] if self.gtin[0] == "0" else None


def check_digit(body: str) -> int:
    """GS1's mod-10 check digit of `body`, the digits before it: weights 3 and 1 alternate from
    the right, starting with 3 (GS1 General Specifications §7.9). For any GTIN length."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def decode_epc(epc: str) -> Sgtin:
    """The SGTIN-96 in `epc` (hex, either case); `NotAnEpc`, `UnknownTag` or `InvalidSgtin` with
    a message to show when it is not one."""
    if not epc or any(ch not in "0123456789abcdefABCDEF" for ch in epc):
        raise NotAnEpc(epc, f"not an EPC: {epc!r} is not hexadecimal")
    if len(epc) < 2:
        raise NotAnEpc(epc, f"not an EPC: {epc!r} is too short to hold an EPC header")
    header = int(epc[:2], 16)
    if header != SGTIN_96_HEADER:
        raise _unknown_tag(epc, header)
    if len(epc) != SGTIN_96_HEX_DIGITS:
        raise NotAnEpc(
            epc,
            f"not an SGTIN-96: {epc!r} has {len(epc)} hex digits, expected {SGTIN_96_HEX_DIGITS}",
        )
    bits = int(epc, 16)
    filter_value = (bits >> 85) & 0b111
    partition_value = (bits >> 82) & 0b111
    serial = bits & MAX_SERIAL
    if partition_value >= len(PARTITIONS):
        raise InvalidSgtin(
            epc,
            f"invalid SGTIN-96 {epc}: partition value {partition_value} is not in the partition "
            f"table (0 to 6)",
        )
    row = PARTITIONS[partition_value]
    middle = (bits >> SERIAL_BITS) & ((1 << 44) - 1)
    prefix = middle >> row.item_bits
    item = middle & ((1 << row.item_bits) - 1)
    # TDS §14.4 (partition table decoding): each value must fit its decimal digits.
    if prefix >= 10**row.prefix_digits:
        raise InvalidSgtin(
            epc,
            f"invalid SGTIN-96 {epc}: company prefix {prefix} does not fit the "
            f"{row.prefix_digits}-digit field of partition {partition_value}",
        )
    if item >= 10**row.item_digits:
        raise InvalidSgtin(
            epc,
            f"invalid SGTIN-96 {epc}: item reference {item} does not fit the "
            f"{row.item_digits}-digit field of partition {partition_value}",
        )
    return Sgtin(
        filter=filter_value,
        partition=partition_value,
        company_prefix=f"{prefix:0{row.prefix_digits}d}",
        item_ref_and_indicator=f"{item:0{row.item_digits}d}",
        serial=serial,
    )


def encode_sgtin96(
    gtin: str, company_prefix_length: int, serial: int, *, filter: int = FILTER_POS_ITEM
) -> str:
    """The SGTIN-96 EPC of `gtin` (8, 12, 13 or 14 digits, check digit verified) and `serial`,
    as 24 upper-case hex digits. The company prefix length is not in the GTIN: GS1 assigns it
    (6 to 12 digits), and it decides the partition (TDS §14.5.1)."""
    gtin14 = normalised_gtin(gtin)
    row = _BY_PREFIX_DIGITS.get(company_prefix_length)
    if row is None:
        raise InvalidSgtin(
            gtin,
            f"cannot encode GTIN {gtin}: a company prefix has 6 to 12 digits, "
            f"not {company_prefix_length}",
        )
    if not 0 <= serial <= MAX_SERIAL:
        raise InvalidSgtin(
            gtin, f"cannot encode GTIN {gtin}: serial {serial} is not in 0 to {MAX_SERIAL}"
        )
    if not 0 <= filter <= 0b111:
        raise InvalidSgtin(gtin, f"cannot encode GTIN {gtin}: filter {filter} is not in 0 to 7")
    prefix = int(gtin14[1 : 1 + company_prefix_length])
    item = int(gtin14[0] + gtin14[1 + company_prefix_length : 13])
    bits = SGTIN_96_HEADER
    bits = (bits << 3) | filter
    bits = (bits << 3) | row.value
    bits = (bits << row.prefix_bits) | prefix
    bits = (bits << row.item_bits) | item
    bits = (bits << SERIAL_BITS) | serial
    return f"{bits:0{SGTIN_96_HEX_DIGITS}X}"


def normalised_gtin(code: str) -> str:
    """The GTIN-14 of a GTIN-8, -12 (UPC-A), -13 (EAN-13) or -14, its check digit verified;
    `BadBarcode` otherwise. Zero-padding on the left leaves the check digit as it was."""
    if not code.isascii() or not code.isdigit() or len(code) not in BARCODE_LENGTHS:
        raise BadBarcode(
            code,
            f"not a GTIN: {code!r} is not 8, 12, 13 or 14 digits (EAN-8, UPC-A, EAN-13, GTIN-14)",
        )
    expected = check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise BadBarcode(
            code, f"not a GTIN: {code} has check digit {code[-1]}, expected {expected}"
        )
    return code.rjust(14, "0")


def identify(code: str) -> ItemIdentity:
    """The item a fitting room read: `code` is a tag's EPC (hex) or a scanned barcode (digits).

    Only digits, as many as a GTIN has, are a barcode; anything else is taken as an EPC, so a
    24-digit EPC that happens to hold no hex letter is still read as one.
    """
    code = code.strip()
    if code.isascii() and code.isdigit() and len(code) <= max(BARCODE_LENGTHS):
        return ItemIdentity(normalised_gtin(code))
    tag = decode_epc(code)
    return ItemIdentity(tag.gtin, tag)


def _unknown_tag(epc: str, header: int) -> UnknownTag:
    if header in _NON_ITEM_SCHEMES:
        scheme: str | None = _NON_ITEM_SCHEMES[header]
        why = f"{scheme} is not an item"
    elif header in _OTHER_ITEM_SCHEMES:
        scheme = _OTHER_ITEM_SCHEMES[header]
        why = f"{scheme} is an item tag this controller does not read (only SGTIN-96)"
    elif header == _UNPROGRAMMED:
        scheme = None
        why = "the tag is not programmed"
    else:
        scheme = None
        why = "no EPC scheme has this header"
    return UnknownTag(
        epc, f"unknown tag: {why} (EPC header 0x{header:02X})", header=header, scheme=scheme
    )
