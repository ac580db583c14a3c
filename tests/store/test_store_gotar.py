"""Go ``archive/tar`` header rules, one test each, on bytes.

The expected blocks with a checksum in a comment were read from a layer buildah 1.28.2
wrote for the same entry (``--timestamp 0``); the others follow Go's writer rules named in
the test (see harness/store/gotar.py and docs/store.md).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.store import gotar
from harness.store.gotar import GoHeader, encode, pax_record

BLOCK = 512


def _field(block: bytes, start: int, end: int) -> bytes:
    return block[start:end]


def _name(block: bytes) -> bytes:
    return block[:100]


def _pad(data: bytes, size: int) -> bytes:
    return data + bytes(size - len(data))


def _ustar(name: bytes, mode: bytes, size: bytes, typeflag: bytes, checksum: bytes, *,
           uid: bytes = b"0000000\0", gid: bytes = b"0000000\0", link: bytes = b"",
           dev: tuple[bytes, bytes] = (b"0000000\0", b"0000000\0"), prefix: bytes = b""
           ) -> bytes:
    return (_pad(name, 100) + mode + uid + gid + size + b"00000000000\0" + checksum
            + typeflag + _pad(link, 100) + b"ustar\x0000" + bytes(64) + dev[0] + dev[1]
            + _pad(prefix, 155) + bytes(12))


def test_regular_file_mode_carries_the_file_type_bits() -> None:
    block = encode(GoHeader("a/b", gotar.REG, 0o104755, size=2))
    assert block == _ustar(b"a/b", b"0104755\0", b"00000000002\0", b"0", b"007571\0 ")


def test_directory_symlink_hardlink_and_device_blocks() -> None:
    assert encode(GoHeader("a/", gotar.DIR, 0o40755)) == \
        _ustar(b"a/", b"0040755\0", b"00000000000\0", b"5", b"007431\0 ")
    assert encode(GoHeader("dir/sl", gotar.SYMLINK, 0o120777, linkname="keep")) == \
        _ustar(b"dir/sl", b"0120777\0", b"00000000000\0", b"2", b"011173\0 ", link=b"keep")
    assert encode(GoHeader("dir/keep2", gotar.LINK, 0o100644, linkname="dir/keep")) == \
        _ustar(b"dir/keep2", b"0100644\0", b"00000000000\0", b"1", b"012327\0 ",
               link=b"dir/keep")
    assert encode(GoHeader("cdev", gotar.CHAR, 0o20644, devmajor=1, devminor=3)) == \
        _ustar(b"cdev", b"0020644\0", b"00000000000\0", b"3", b"010050\0 ",
               dev=(b"0000001\0", b"0000003\0"))


def test_whiteout_has_mode_zero_and_numeric_devices() -> None:
    assert encode(GoHeader("dir/.wh.sub")) == \
        _ustar(b"dir/.wh.sub", b"0000000\0", b"00000000000\0", b"0", b"011142\0 ")


def test_owner_fields_are_octal() -> None:
    block = encode(GoHeader("a.txt", gotar.REG, 0o100644, 7, 8, size=2))
    assert block == _ustar(b"a.txt", b"0100644\0", b"00000000002\0", b"0", b"010167\0 ",
                           uid=b"0000007\0", gid=b"0000010\0")


def test_long_ascii_name_splits_into_the_ustar_prefix() -> None:
    top, sub = "l" * 60, "m" * 60
    assert encode(GoHeader(f"{top}/{sub}/f", gotar.REG, 0o100644)) == _ustar(
        b"f", b"0100644\0", b"00000000000\0", b"0", b"040757\0 ", prefix=top.encode() +
        b"/" + sub.encode())
    # A directory's trailing slash stays with the name part.
    assert encode(GoHeader(f"{top}/{sub}/", gotar.DIR, 0o40755)) == _ustar(
        sub.encode() + b"/", b"0040755\0", b"00000000000\0", b"5", b"040624\0 ",
        prefix=top.encode())


def test_non_ascii_name_gets_a_pax_header_named_in_paxheaders() -> None:
    out = encode(GoHeader("héllo", gotar.REG, 0o100644))
    assert len(out) == 3 * BLOCK
    pax, data, main = out[:BLOCK], out[BLOCK:2 * BLOCK], out[2 * BLOCK:]
    # The extended header: zero mode/owner/mtime, NUL device fields, size of the data.
    assert pax == (_pad(b"PaxHeaders.0/hllo", 100) + b"0000000\0" * 3 + b"00000000017\0"
                   + b"00000000000\0" + b"011100\0 " + b"x" + bytes(100) + b"ustar\x0000"
                   + bytes(64 + 16 + 155 + 12))
    assert data == _pad("15 path=héllo\n".encode(), BLOCK)
    # The main header: the name with its non-ASCII bytes dropped.
    assert main == _ustar(b"hllo", b"0100644\0", b"00000000000\0", b"0", b"010055\0 ")


def test_xattrs_need_pax() -> None:
    out = encode(GoHeader("a.txt", gotar.REG, 0o100644, 7, 8, size=2,
                          xattrs={"user.foo": b"bar"}))
    assert _name(out[:BLOCK]).rstrip(b"\0") == b"PaxHeaders.0/a.txt"
    assert _field(out, 148, 156) == b"011200\0 "
    assert out[BLOCK:2 * BLOCK] == _pad(b"29 SCHILY.xattr.user.foo=bar\n", BLOCK)
    assert out[2 * BLOCK:] == _ustar(b"a.txt", b"0100644\0", b"00000000002\0", b"0",
                                     b"010167\0 ", uid=b"0000007\0", gid=b"0000010\0")


def test_a_directory_pax_header_is_named_after_path_split() -> None:
    """``path.Split("srv/")`` is ("srv/", ""): the header is ``srv/PaxHeaders.0``."""
    out = encode(GoHeader("srv/", gotar.DIR, 0o40755, 70000, 2_100_000))
    assert _name(out).rstrip(b"\0") == b"srv/PaxHeaders.0"
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == b"15 gid=2100000\n"
    main = out[2 * BLOCK:]
    # A gid over 7 octal digits is written as 0 in the header, the record holds it.
    assert (_field(main, 108, 116), _field(main, 116, 124)) == (b"0210560\0", b"0000000\0")


def test_pax_records_are_sorted_by_key_uppercase_first() -> None:
    out = encode(GoHeader("é/" + "n" * 120, gotar.REG, 0o100644, uid=1 << 22,
                          xattrs={"user.b": b"2", "security.capability": b"\x01"}))
    records = out[BLOCK:2 * BLOCK].rstrip(b"\0").splitlines()
    keys = [r.split(b" ", 1)[1].split(b"=", 1)[0] for r in records]
    assert keys == [b"SCHILY.xattr.security.capability", b"SCHILY.xattr.user.b", b"path",
                    b"uid"]


def test_pax_record_length_counts_its_own_digits() -> None:
    assert pax_record("k", b"1234") == b"9 k=1234\n"
    assert pax_record("k", b"12345") == b"11 k=12345\n"  # 9 + "10" would be 11 long
    assert pax_record("path", b"x" * 91) == b"101 path=" + b"x" * 91 + b"\n"  # 98 + "100"


def test_long_linkname_needs_pax_and_is_cut_in_the_header() -> None:
    target = "t" * 150
    out = encode(GoHeader("l", gotar.SYMLINK, 0o120777, linkname=target))
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == f"164 linkpath={target}\n".encode()
    assert _field(out[2 * BLOCK:], 157, 257) == b"t" * 100


def test_an_unsplittable_name_is_cut_and_a_cut_ending_in_slash_ends_at_nul() -> None:
    long_file = "n" * 120
    out = encode(GoHeader(f"srv/{long_file}", gotar.REG, 0o100644))
    assert _name(out[2 * BLOCK:]) == (f"srv/{long_file}".encode())[:100]
    odd = "x" * 99 + "/zé" + "z" * 9
    main = encode(GoHeader(odd, gotar.REG, 0o100644))[2 * BLOCK:]
    assert _name(main) == b"x" * 99 + b"\0"


def test_mtime_outside_octal_gets_a_record_and_zero_in_the_header() -> None:
    out = encode(GoHeader("old", gotar.REG, 0o100644, mtime=-1))
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == b"12 mtime=-1\n"
    assert _field(out[2 * BLOCK:], 136, 148) == b"00000000000\0"


def test_size_over_eleven_octal_digits_gets_a_record() -> None:
    out = encode(GoHeader("big", gotar.REG, 0o100644, size=8 ** 11))
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == b"19 size=8589934592\n"


def test_long_uname_needs_pax() -> None:
    out = encode(GoHeader("f", gotar.REG, 0o100644, uname="u" * 40))
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == b"50 uname=" + b"u" * 40 + b"\n"
    assert _field(out[2 * BLOCK:], 265, 297) == b"u" * 32


def test_an_entry_read_back_from_pax_stays_pax() -> None:
    """buildah's --timestamp rewrite reads each header back: an entry that had PAX
    records stays PAX. With no record left there is no extended header, and the name
    is no longer split into the USTAR prefix but recorded whole."""
    short = encode(GoHeader("f", gotar.REG, 0o100644), from_pax=True)
    assert short == encode(GoHeader("f", gotar.REG, 0o100644))
    name = "d" * 60 + "/" + "f" * 60
    out = encode(GoHeader(name, gotar.REG, 0o100644), from_pax=True)
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == f"131 path={name}\n".encode()
    assert _field(out[2 * BLOCK:], 345, 500) == bytes(155)


def test_numbers_without_a_pax_record_fall_back_to_gnu() -> None:
    out = encode(GoHeader("n" * 101, gotar.CHAR, 0o20644, devmajor=8 ** 7))
    long_name, main = out[:BLOCK], out[2 * BLOCK:]
    assert _name(long_name).rstrip(b"\0") == b"././@LongLink"
    assert _field(long_name, 156, 157) == b"L"
    assert _field(long_name, 257, 265) == b"ustar  \0"
    assert out[BLOCK:2 * BLOCK].rstrip(b"\0") == b"n" * 101
    assert _field(main, 329, 337) == b"\x80" + (8 ** 7).to_bytes(7, "big")
    assert _field(main, 257, 265) == b"ustar  \0"


def test_a_header_no_format_can_hold_is_refused() -> None:
    with pytest.raises(gotar.GoTarError):
        encode(GoHeader("f", gotar.CHAR, 0o20644, devmajor=1 << 60, uname="u" * 40))


_TEXT = st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
                  st.text(max_size=40))


@st.composite
def go_headers(draw: st.DrawFn) -> GoHeader:
    number = st.one_of(st.integers(0, 8 ** 7 + 5), st.integers(-2, 8 ** 8))
    return GoHeader(
        draw(_TEXT.filter(bool)), draw(st.sampled_from([gotar.REG, gotar.DIR, gotar.CHAR])),
        draw(number), draw(number), draw(number), draw(st.integers(0, 8 ** 11 + 5)),
        draw(st.integers(-5, 8 ** 11 + 5)), draw(_TEXT), draw(_TEXT), draw(_TEXT),
        draw(st.integers(0, 8 ** 7 + 5)), draw(st.integers(0, 8 ** 7 + 5)),
        draw(st.dictionaries(st.sampled_from(["user.a", "user.b"]), st.binary(max_size=4),
                             max_size=1)))


@settings(max_examples=400)
@given(go_headers())
def test_the_cheap_ustar_path_agrees_with_the_whole_decision(header: GoHeader) -> None:
    names = tuple(os.fsencode(x) for x in (header.name, header.linkname, header.uname,
                                           header.gname))
    try:
        whole = gotar._encode_checked(header, names, from_pax=False)  # type: ignore[arg-type]
    except gotar.GoTarError:
        with pytest.raises(gotar.GoTarError):
            encode(header)
        return
    assert encode(header) == whole
