"""Identifying a fitting room's items: SGTIN-96 EPCs and GTIN barcodes, per GS1's standards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gs1.epc import (
    MAX_SERIAL,
    PARTITIONS,
    BadBarcode,
    InvalidSgtin,
    ItemCodeError,
    ItemIdentity,
    NotAnEpc,
    Partition,
    Sgtin,
    UnknownTag,
    check_digit,
    decode_epc,
    encode_sgtin96,
    identify,
    normalised_gtin,
)

# GS1 EPC Tag Data Standard, Appendix E ("Example of a specific trade item", E.3): GTIN
# 80614141123458 with serial 6789, company prefix 0614141 (7 digits), filter 3.
TDS_E3_HEX = "3074257BF7194E4000001A85"
TDS_E3_TAG_URI = "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
TDS_E3_PURE_URI = "urn:epc:id:sgtin:0614141.812345.6789"
TDS_E3_GTIN = "80614141123458"
# The same appendix's SGTIN-198 of urn:epc:tag:sgtin-198:3.0614141.712345.32a%2Fb.
TDS_E3_SGTIN_198 = "3674257BF6B7A659B2C2BF1000000000000000000000000000"
# firmware_protocol/PROTOCOL.md §8.3 and vector request-stock-query (§9.3): the TDS example with
# the point-of-sale filter 1, as a fitting room sends it.
PROTOCOL_HEX = "3034257BF7194E4000001A85"


def raw_sgtin96(filter_value: int, partition: int, prefix: int, item: int, serial: int) -> str:
    """Pack an SGTIN-96's fields with no range checks at all, to build invalid tags."""
    prefix_bits = PARTITIONS[partition].prefix_bits if partition < 7 else 20
    item_bits = 44 - prefix_bits
    bits = (0x30 << 88) | (filter_value << 85) | (partition << 82)
    bits |= (prefix << (82 - prefix_bits)) | (item << 38) | serial
    assert item < 1 << item_bits
    return f"{bits:024X}"


# ---- GS1's published examples ---------------------------------------------------------------


def test_tds_appendix_e_sgtin96_decodes_exactly() -> None:
    """TDS Appendix E's SGTIN-96 decodes to its filter, partition, fields, GTIN and both URIs."""
    tag = decode_epc(TDS_E3_HEX)
    assert tag == Sgtin(
        filter=3,
        partition=5,
        company_prefix="0614141",
        item_ref_and_indicator="812345",
        serial=6789,
    )
    assert tag.indicator == "8"
    assert tag.gtin == TDS_E3_GTIN
    assert tag.pure_identity_uri == TDS_E3_PURE_URI
    assert tag.tag_uri == TDS_E3_TAG_URI
    assert tag.epc_hex == TDS_E3_HEX


def test_tds_appendix_e_sgtin96_encodes_exactly() -> None:
    """Encoding TDS Appendix E's GTIN, serial and filter gives its hex, digit for digit."""
    assert encode_sgtin96(TDS_E3_GTIN, 7, 6789, filter=3) == TDS_E3_HEX


def test_protocol_example_is_the_tds_example_with_the_pos_filter() -> None:
    """PROTOCOL.md's stock-query EPC is the TDS example tagged as a point-of-sale item."""
    tag = decode_epc(PROTOCOL_HEX)
    assert tag.tag_uri == "urn:epc:tag:sgtin-96:1.0614141.812345.6789"
    assert tag.gtin == TDS_E3_GTIN
    assert encode_sgtin96(TDS_E3_GTIN, 7, 6789) == PROTOCOL_HEX  # filter 1 is the default


def test_eleven_digit_prefix_vector_from_epcpy() -> None:
    """A partition-1 vector from Nedap's epcpy test suite (tests/epc_schemes/test_sgtin.py)."""
    tag = decode_epc("30C579D5D4ADB60000000000")
    assert tag.tag_uri == "urn:epc:tag:sgtin-96:6.50712192365.88.0"
    assert (tag.partition, tag.gtin) == (1, "85071219236581")  # the GS1 key epcpy expects
    assert encode_sgtin96("85071219236581", 11, 0, filter=6) == "30C579D5D4ADB60000000000"


def test_lower_case_hex_is_read_too() -> None:
    """A reader that prints lower-case hex still names the same tag."""
    assert decode_epc(TDS_E3_HEX.lower()) == decode_epc(TDS_E3_HEX)


# ---- round trips ----------------------------------------------------------------------------

gtin_bodies = st.text(alphabet="0123456789", min_size=13, max_size=13)


@given(
    body=gtin_bodies,
    prefix_length=st.integers(min_value=6, max_value=12),
    serial=st.integers(min_value=0, max_value=MAX_SERIAL),
    filter_value=st.integers(min_value=0, max_value=7),
)
def test_encode_then_decode_gives_back_gtin_serial_filter(
    body: str, prefix_length: int, serial: int, filter_value: int
) -> None:
    """Any GTIN-14, prefix length, serial and filter survive encode then decode."""
    gtin = body + str(check_digit(body))
    hex_epc = encode_sgtin96(gtin, prefix_length, serial, filter=filter_value)
    assert len(hex_epc) == 24
    assert hex_epc == hex_epc.upper()
    tag = decode_epc(hex_epc)
    assert (tag.gtin, tag.serial, tag.filter) == (gtin, serial, filter_value)
    assert tag.partition == 12 - prefix_length
    assert tag.company_prefix == gtin[1 : 1 + prefix_length]
    assert tag.epc_hex == hex_epc


@pytest.mark.parametrize("row", PARTITIONS, ids=lambda row: f"partition-{row.value}")
def test_every_partition_round_trips_at_its_extremes(row: Partition) -> None:
    """Each of the 7 partitions carries its largest and smallest prefix, item and serial."""
    digits = row.prefix_digits
    body = "9" * 13  # the largest indicator, prefix and item reference of every partition
    gtin = body + str(check_digit(body))
    tag = decode_epc(encode_sgtin96(gtin, digits, MAX_SERIAL, filter=7))
    assert (tag.partition, tag.company_prefix, tag.item_ref_and_indicator) == (
        row.value,
        "9" * digits,
        "9" * (13 - digits),
    )
    assert (tag.gtin, tag.serial) == (gtin, MAX_SERIAL)
    zeros = decode_epc(encode_sgtin96("0" * 14, digits, 0, filter=0))
    assert (zeros.company_prefix, zeros.item_ref_and_indicator, zeros.serial) == (
        "0" * digits,
        "0" * (13 - digits),
        0,
    )


@given(
    filter_value=st.integers(0, 7),
    partition=st.integers(0, 6),
    data=st.data(),
)
def test_decode_then_encode_gives_back_the_hex(
    filter_value: int, partition: int, data: st.DataObject
) -> None:
    """Every valid SGTIN-96 bit pattern re-encodes to the same 24 hex digits."""
    row = PARTITIONS[partition]
    prefix = data.draw(st.integers(0, 10**row.prefix_digits - 1))
    item = data.draw(st.integers(0, 10**row.item_digits - 1))
    serial = data.draw(st.integers(0, MAX_SERIAL))
    hex_epc = raw_sgtin96(filter_value, partition, prefix, item, serial)
    assert decode_epc(hex_epc).epc_hex == hex_epc


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "not an EPC: '' is not hexadecimal"),
        ("3074257BF7194E4000001A8G", "not an EPC: '3074257BF7194E4000001A8G' is not hexadecimal"),
        ("30-4257BF7194E4000001A85", "not an EPC: '30-4257BF7194E4000001A85' is not hexadecimal"),
        ("3", "not an EPC: '3' is too short to hold an EPC header"),
        (
            "3074257BF7194E4000001A",
            "not an SGTIN-96: '3074257BF7194E4000001A' has 22 hex digits, expected 24",
        ),
        (
            TDS_E3_HEX + "00",
            f"not an SGTIN-96: '{TDS_E3_HEX}00' has 26 hex digits, expected 24",
        ),
    ],
)
def test_not_an_epc(code: str, message: str) -> None:
    """Text that is not 96 bits of hex is refused with what is wrong with it."""
    with pytest.raises(NotAnEpc) as caught:
        decode_epc(code)
    assert str(caught.value) == message
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("header", "scheme", "why"),
    [
        (0x31, "SSCC-96", "SSCC-96 is not an item"),
        (0x32, "SGLN-96", "SGLN-96 is not an item"),
        (0x33, "GRAI-96", "GRAI-96 is not an item"),
        (0x34, "GIAI-96", "GIAI-96 is not an item"),
        (0x35, "GID-96", "GID-96 is not an item"),
        (0x2D, "GSRN-96", "GSRN-96 is not an item"),
        (0x3C, "CPI-96", "CPI-96 is not an item"),
        (0x3F, "SGCN-96", "SGCN-96 is not an item"),
        (0xF9, "SSCC+", "SSCC+ is not an item"),
        (
            0xF7,
            "SGTIN+",
            "SGTIN+ is an item tag this controller does not read (only SGTIN-96)",
        ),
        (0x00, None, "the tag is not programmed"),
        (0xE2, None, "no EPC scheme has this header"),
    ],
)
def test_other_schemes_are_unknown_tags(header: int, scheme: str | None, why: str) -> None:
    """A 96-bit EPC of another scheme is an unknown tag, named when TDS lists its header."""
    code = f"{header:02X}" + TDS_E3_HEX[2:]
    with pytest.raises(UnknownTag) as caught:
        decode_epc(code)
    assert str(caught.value) == f"unknown tag: {why} (EPC header 0x{header:02X})"
    assert (caught.value.header, caught.value.scheme) == (header, scheme)


def test_tds_sgtin198_example_is_an_unknown_tag_not_a_length_error() -> None:
    """TDS Appendix E's SGTIN-198 is named as such, though it is longer than 96 bits."""
    with pytest.raises(UnknownTag) as caught:
        decode_epc(TDS_E3_SGTIN_198)
    assert str(caught.value) == (
        "unknown tag: SGTIN-198 is an item tag this controller does not read (only SGTIN-96) "
        "(EPC header 0x36)"
    )


def test_sscc96_peer_example_is_not_an_item() -> None:
    """An SSCC-96 (sergiss/epc-tds examples.js: 317A7202CC164BA20B000000) is no item."""
    with pytest.raises(
        UnknownTag, match=r"^unknown tag: SSCC-96 is not an item \(EPC header 0x31\)$"
    ):
        identify("317A7202CC164BA20B000000")


def test_partition_seven_is_invalid() -> None:
    """Partition value 7 is not in the SGTIN partition table."""
    code = raw_sgtin96(1, 7, 0, 0, 1)
    with pytest.raises(InvalidSgtin) as caught:
        decode_epc(code)
    assert str(caught.value) == (
        f"invalid SGTIN-96 {code}: partition value 7 is not in the partition table (0 to 6)"
    )


@pytest.mark.parametrize(
    ("partition", "prefix", "item", "message"),
    [
        (6, 2**20 - 1, 0, "company prefix 1048575 does not fit the 6-digit field of partition 6"),
        (
            1,
            10**11,
            0,
            "company prefix 100000000000 does not fit the 11-digit field of partition 1",
        ),
        (0, 0, 10, "item reference 10 does not fit the 1-digit field of partition 0"),
        (6, 0, 2**24 - 1, "item reference 16777215 does not fit the 7-digit field of partition 6"),
        (5, 0, 10**6, "item reference 1000000 does not fit the 6-digit field of partition 5"),
    ],
)
def test_fields_too_large_for_their_partition_are_invalid(
    partition: int, prefix: int, item: int, message: str
) -> None:
    """A company prefix or item reference with more digits than its partition allows is refused."""
    code = raw_sgtin96(1, partition, prefix, item, 1)
    with pytest.raises(InvalidSgtin) as caught:
        decode_epc(code)
    assert str(caught.value) == f"invalid SGTIN-96 {code}: {message}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"company_prefix_length": 5, "serial": 1},
            "a company prefix has 6 to 12 digits, not 5",
        ),
        (
            {"company_prefix_length": 13, "serial": 1},
            "a company prefix has 6 to 12 digits, not 13",
        ),
        (
            {"company_prefix_length": 7, "serial": 2**38},
            "serial 274877906944 is not in 0 to 274877906943",
        ),
        ({"company_prefix_length": 7, "serial": -1}, "serial -1 is not in 0 to 274877906943"),
        ({"company_prefix_length": 7, "serial": 1, "filter": 8}, "filter 8 is not in 0 to 7"),
    ],
)
def test_encoding_refuses_what_sgtin96_cannot_hold(kwargs: dict[str, int], message: str) -> None:
    """Encoding refuses a prefix length, serial or filter outside SGTIN-96's fields."""
    with pytest.raises(InvalidSgtin) as caught:
        encode_sgtin96(TDS_E3_GTIN, **kwargs)
    assert str(caught.value) == f"cannot encode GTIN {TDS_E3_GTIN}: {message}"


def test_encoding_verifies_the_check_digit() -> None:
    """A GTIN with a wrong check digit is not encoded."""
    with pytest.raises(BadBarcode, match="has check digit 9, expected 8"):
        encode_sgtin96("80614141123459", 7, 1)


def test_errors_share_one_base() -> None:
    """Every identification error is an ItemCodeError (a ValueError): one except clause."""
    for error in (NotAnEpc, UnknownTag, InvalidSgtin, BadBarcode):
        assert issubclass(error, ItemCodeError)
    assert issubclass(ItemCodeError, ValueError)


# ---- barcodes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("barcode", "gtin14"),
    [
        # GS1 India's worked check-digit example (GTIN-13 890400021003, check digit 7).
        ("8904000210037", "08904000210037"),
        # Wikipedia "Universal Product Code": UPC-A 036000241457.
        ("036000241457", "00036000241457"),
        # Wikipedia "EAN-8": 96385074.
        ("96385074", "00000096385074"),
        # TDS Appendix E's GTIN-14.
        (TDS_E3_GTIN, TDS_E3_GTIN),
    ],
)
def test_good_barcodes_normalise_to_gtin14(barcode: str, gtin14: str) -> None:
    """GTIN-8/12/13/14 barcodes with a right check digit become GTIN-14s, with no serial."""
    assert normalised_gtin(barcode) == gtin14
    assert identify(barcode) == ItemIdentity(gtin14)
    assert identify(barcode).serial is None


@pytest.mark.parametrize(
    ("barcode", "message"),
    [
        ("8904000210038", "not a GTIN: 8904000210038 has check digit 8, expected 7"),
        ("036000241451", "not a GTIN: 036000241451 has check digit 1, expected 7"),
        ("96385070", "not a GTIN: 96385070 has check digit 0, expected 4"),
        ("80614141123450", "not a GTIN: 80614141123450 has check digit 0, expected 8"),
        (
            "12345",
            "not a GTIN: '12345' is not 8, 12, 13 or 14 digits (EAN-8, UPC-A, EAN-13, GTIN-14)",
        ),
    ],
)
def test_bad_barcodes_are_refused(barcode: str, message: str) -> None:
    """A wrong check digit or digit count is refused, saying which digit was expected."""
    with pytest.raises(BadBarcode) as caught:
        identify(barcode)
    assert str(caught.value) == message


# ---- identify -------------------------------------------------------------------------------


def test_identify_a_tag_gives_gtin_and_serial() -> None:
    """An EPC (whitespace and case as a reader may give them) names a GTIN and one garment."""
    found = identify(f"  {PROTOCOL_HEX.lower()}\n")
    assert (found.gtin, found.serial) == (TDS_E3_GTIN, 6789)
    assert found.tag == decode_epc(PROTOCOL_HEX)
    assert found.gtin13 is None  # indicator 8: not a consumer unit the catalog lists


def test_identify_gives_the_catalogs_gtin13() -> None:
    """A tag and a barcode of the same article give the GTIN-13 the catalog keeps."""
    tag = identify(encode_sgtin96("8690000123452", 7, 42))
    barcode = identify("8690000123452")
    assert tag.gtin13 == barcode.gtin13 == "8690000123452"
    assert (tag.serial, barcode.serial) == (42, None)


def test_an_all_digit_epc_is_still_an_epc() -> None:
    """A 24-digit EPC with no hex letter is read as an EPC, not refused as a long barcode."""
    code = encode_sgtin96("0" * 14, 12, 0, filter=0)
    assert code.isdigit()
    assert identify(code) == ItemIdentity("0" * 14, decode_epc(code))
