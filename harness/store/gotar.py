"""Tar headers byte for byte as Go's ``archive/tar`` ``Writer.WriteHeader`` writes them.

buildah writes every layer through Go's tar writer (containers/storage ``pkg/archive``,
then, under ``--timestamp``, a second pass that reads each header back and writes it
again with the new times). To give the same diffID for the same files, a header here is
what that writer emits for the same :class:`GoHeader`. The rules reproduced (each one is
a unit test on bytes in ``tests/store/test_store_gotar.py``; docs/store.md lists them):

- **Format choice.** USTAR when every field fits it, else PAX, else GNU, as
  ``Header.allowedFormats`` decides: a name over 100 bytes stays USTAR when it splits at
  a ``/`` into a 155-byte prefix and a 100-byte name; a non-ASCII or unsplittable name,
  a linkname over 100 bytes or non-ASCII, a uname/gname over 32 bytes, a uid/gid over
  7 octal digits, a size over 11 octal digits or an mtime outside 11 octal digits needs a
  PAX record; xattrs always need PAX; a mode or device number over 7 octal digits has no
  PAX record, which leaves GNU (base-256 numbers, ``././@LongLink`` names).
- **Fields.** Numbers are zero-padded octal with a NUL in the last byte (``0100644\\0``,
  devmajor/devminor ``0000000\\0`` even for files); strings are NUL-terminated when
  shorter than the field; the checksum is six octal digits, a NUL and a space; the magic
  is ``ustar\\0`` + ``00`` (USTAR and PAX) or ``ustar `` + `` \\0`` (GNU).
- **PAX.** Records sorted by key, each ``"%d %s=%s\\n"`` with the length counting
  itself; the extended header is named ``<dir>/PaxHeaders.0/<base>`` (Go's
  ``path.Join(dir, "PaxHeaders.0", file)`` of ``path.Split(name)``, made ASCII, cut to
  100 bytes, trailing ``/`` trimmed), with mode, uid, gid and mtime 0 and devmajor/
  devminor left NUL; the main header then holds the name with non-ASCII bytes dropped,
  cut to the field (a cut that ends in ``/`` ends at a NUL instead).
- **Read back.** An entry that was written with PAX records and is rewritten after being
  read (``from_pax``) may only be PAX again, as Go's ``Reader`` returns it with
  ``PAXRecords`` set; an empty record set then writes no extended header.
"""

from __future__ import annotations

import os
import posixpath
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

BLOCK = 512
NAME_SIZE, PREFIX_SIZE = 100, 155
REG, LINK, SYMLINK, CHAR, BLOCKDEV, DIR, FIFO = b"0", b"1", b"2", b"3", b"4", b"5", b"6"
_PAX_HEADER, _GNU_LONGNAME, _GNU_LONGLINK = b"x", b"L", b"K"
_USTAR_MAGIC, _GNU_MAGIC = b"ustar\x0000", b"ustar  \x00"
XATTR_PREFIX = "SCHILY.xattr."
# name, mode, uid, gid, size, mtime, checksum, typeflag, linkname, magic+version, uname,
# gname, devmajor, devminor, prefix (GNU keeps atime/ctime there), padding.
_LAYOUT = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_CHECKSUM_AT = 148


class GoTarError(ValueError):
    """A header no tar format can carry (Go's writer refuses it too)."""


@dataclass(slots=True)
class GoHeader:
    """The fields of Go's ``tar.Header`` a layer uses; ``mode`` includes the file-type
    bits (containers/storage sets them), names are str (surrogate escapes for bytes)."""

    name: str
    typeflag: bytes = REG
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: Mapping[str, bytes] = field(default_factory=dict)


def fits_octal(size: int, value: int) -> bool:
    """Whether *value* fits a *size*-byte octal field with its NUL (Go's fitsInOctal)."""
    return 0 <= value < _OCTAL_LIMITS[size]


_OCTAL_LIMITS = {8: 8 ** 7, 12: 8 ** 11}


def fits_base256(size: int, value: int) -> bool:
    bits = 8 * (size - 1)
    return size >= 9 or -(1 << bits) <= value < 1 << bits


def _is_ascii(data: bytes) -> bool:
    return data.isascii() and b"\0" not in data


def _to_ascii(data: bytes) -> bytes:
    """Go's toASCII: every byte outside 1..127 dropped."""
    return data if _is_ascii(data) else bytes(b for b in data if 0 < b < 0x80)


def split_ustar_path(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for a USTAR name over 100 bytes, or None (Go's splitUSTARPath)."""
    length = len(name)
    if length <= NAME_SIZE or not _is_ascii(name):
        return None
    if length > PREFIX_SIZE + 1:
        length = PREFIX_SIZE + 1
    elif name[length - 1:length] == b"/":
        length -= 1
    i = name.rfind(b"/", 0, length)
    suffix_len = len(name) - i - 1
    if i <= 0 or suffix_len > NAME_SIZE or suffix_len == 0 or i > PREFIX_SIZE:
        return None
    return name[:i], name[i + 1:]


def pax_record(key: str, value: bytes) -> bytes:
    """One PAX record; its decimal length counts itself (Go's formatPAXRecord)."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode() + body


def _string(data: bytes, size: int) -> bytes:
    """Go's formatString: copied, NUL-terminated when shorter, cut when longer; a cut
    ending in ``/`` ends at a NUL after the name trimmed of slashes."""
    if len(data) <= size:
        return data
    out = bytearray(data[:size])
    if out[-1:] == b"/":
        out[len(data[:size - 1].rstrip(b"/"))] = 0
    return bytes(out)


def _octal(value: int, size: int) -> bytes:
    """Go's formatOctal (0 when it does not fit: the writer chose a format that carries
    the value elsewhere)."""
    if not fits_octal(size, value):
        value = 0
    return b"%0*o" % (size - 1, value)


def _numeric(value: int, size: int) -> bytes:
    """Go's formatNumeric (GNU): octal when it fits, else base-256 with the top bit set."""
    if fits_octal(size, value):
        return _octal(value, size)
    if fits_base256(size, value):
        raw = bytearray((value & ((1 << (8 * size)) - 1)).to_bytes(size, "big"))
        raw[0] |= 0x80
        return bytes(raw)
    return _octal(0, size)


def _block(*, name: bytes, typeflag: bytes, mode: bytes, uid: bytes, gid: bytes,
           size: bytes, mtime: bytes, linkname: bytes = b"", magic: bytes, uname: bytes = b"",
           gname: bytes = b"", devmajor: bytes = b"", devminor: bytes = b"",
           prefix: bytes = b"") -> bytes:
    block = _LAYOUT.pack(name, mode, uid, gid, size, mtime, b" " * 8, typeflag, linkname,
                         magic, uname, gname, devmajor, devminor, prefix)
    return b"%s%06o\0 %s" % (block[:_CHECKSUM_AT], sum(block), block[_CHECKSUM_AT + 8:])


def padded(data: bytes) -> bytes:
    """*data* followed by zeros up to a whole block, as a member's content is stored."""
    return data + bytes(-len(data) % BLOCK)


def _raw_file(name: bytes, data: bytes, typeflag: bytes, magic: bytes) -> bytes:
    """A PAX or GNU long-name pseudo-file (Go's writeRawFile): only name, size and a
    zero mode, uid, gid and mtime are set."""
    name = _to_ascii(name)[:NAME_SIZE].rstrip(b"/")
    zero = _octal(0, 8)
    return _block(name=name, typeflag=typeflag, mode=zero, uid=zero, gid=zero,
                  size=_octal(len(data), 12), mtime=_octal(0, 12), magic=magic) + \
        padded(data)


def pax_header_name(name: str) -> str:
    """Where Go puts a file's extended header: ``path.Join(dir, "PaxHeaders.0", file)``
    of ``path.Split(name)`` (so ``d/`` gives ``d/PaxHeaders.0``)."""
    cut = name.rfind("/") + 1
    parts = [part for part in (name[:cut], "PaxHeaders.0", name[cut:]) if part]
    return posixpath.normpath("/".join(parts))


class _Formats:
    """Go's allowedFormats for one header: which formats can carry it, and the PAX
    records PAX would need."""

    def __init__(self, header: GoHeader, names: tuple[bytes, bytes, bytes, bytes], *,
                 from_pax: bool) -> None:
        name, linkname, uname, gname = names
        self.ustar = self.pax = self.gnu = True
        self.records: dict[str, bytes] = {}
        self._string(name, NAME_SIZE, "path")
        self._string(linkname, NAME_SIZE, "linkpath")
        self._string(uname, 32, "uname")
        self._string(gname, 32, "gname")
        self._number(header.mode, 8, None)
        self._number(header.uid, 8, "uid")
        self._number(header.gid, 8, "gid")
        self._number(header.size, 12, "size")
        self._number(header.devmajor, 8, None)
        self._number(header.devminor, 8, None)
        if not fits_base256(12, header.mtime):
            self.gnu = False
        if not fits_octal(12, header.mtime):
            self.ustar = False
            self.records["mtime"] = str(header.mtime).encode()
        if header.xattrs or from_pax:
            self.ustar = self.gnu = False
            self.records.update({XATTR_PREFIX + k: v for k, v in header.xattrs.items()})

    def _string(self, value: bytes, size: int, key: str) -> None:
        too_long = len(value) > size
        if b"\0" in value or (too_long and key not in ("path", "linkpath")):
            self.gnu = False
        if not _is_ascii(value) or too_long:
            if key != "path" or split_ustar_path(value) is None:
                self.ustar = False
            self.records[key] = value

    def _number(self, value: int, size: int, key: str | None) -> None:
        if not fits_base256(size, value):
            self.gnu = False
        if not fits_octal(size, value):
            self.ustar = False
            if key is None:
                self.pax = False
            else:
                self.records[key] = str(value).encode()


def _fits_ustar_as_is(header: GoHeader, name: bytes, linkname: bytes, uname: bytes,
                      gname: bytes) -> bool:
    """The common case, checked first because it is cheap: every field fits USTAR with
    no prefix split and no PAX record (what :class:`_Formats` would conclude too)."""
    small, large = _OCTAL_LIMITS[8], _OCTAL_LIMITS[12]
    return (not header.xattrs and len(name) <= NAME_SIZE and len(linkname) <= NAME_SIZE
            and len(uname) <= 32 and len(gname) <= 32
            and _is_ascii(name + linkname + uname + gname)
            and 0 <= header.mode < small and 0 <= header.uid < small
            and 0 <= header.gid < small and 0 <= header.devmajor < small
            and 0 <= header.devminor < small and 0 <= header.size < large
            and 0 <= header.mtime < large)


def encode(header: GoHeader, *, from_pax: bool = False) -> bytes:
    """The header block(s) Go's ``WriteHeader`` writes for *header* (data not included).

    *from_pax*: the header was read back from an entry that had PAX records, as in
    buildah's ``--timestamp`` rewrite (see the module docstring).
    """
    name, linkname = os.fsencode(header.name), os.fsencode(header.linkname)
    uname, gname = os.fsencode(header.uname), os.fsencode(header.gname)
    if not from_pax and _fits_ustar_as_is(header, name, linkname, uname, gname):
        return _block(name=name, typeflag=header.typeflag, mode=b"%07o\0" % header.mode,
                      uid=b"%07o\0" % header.uid, gid=b"%07o\0" % header.gid,
                      size=b"%011o\0" % header.size, mtime=b"%011o\0" % header.mtime,
                      linkname=linkname, magic=_USTAR_MAGIC, uname=uname, gname=gname,
                      devmajor=b"%07o\0" % header.devmajor,
                      devminor=b"%07o\0" % header.devminor)
    return _encode_checked(header, (name, linkname, uname, gname), from_pax=from_pax)


def _encode_checked(header: GoHeader, names: tuple[bytes, bytes, bytes, bytes], *,
                    from_pax: bool) -> bytes:
    """:func:`encode` through Go's whole format decision."""
    name, linkname, uname, gname = names
    formats = _Formats(header, names, from_pax=from_pax)
    if formats.ustar:
        prefix = b""
        split = split_ustar_path(name)
        if split is not None:
            prefix, name = split
        return _block(name=name, typeflag=header.typeflag, mode=_octal(header.mode, 8),
                      uid=_octal(header.uid, 8), gid=_octal(header.gid, 8),
                      size=_octal(header.size, 12), mtime=_octal(header.mtime, 12),
                      linkname=linkname, magic=_USTAR_MAGIC, uname=uname, gname=gname,
                      devmajor=_octal(header.devmajor, 8), devminor=_octal(header.devminor, 8),
                      prefix=prefix)
    if formats.pax:
        extended = b""
        if formats.records:
            data = b"".join(pax_record(k, v) for k, v in sorted(formats.records.items()))
            extended = _raw_file(os.fsencode(pax_header_name(header.name)), data,
                                 _PAX_HEADER, _USTAR_MAGIC)
        return extended + _block(
            name=_string(_to_ascii(name), NAME_SIZE), typeflag=header.typeflag,
            mode=_octal(header.mode, 8), uid=_octal(header.uid, 8),
            gid=_octal(header.gid, 8), size=_octal(header.size, 12),
            mtime=_octal(header.mtime, 12), linkname=_string(_to_ascii(linkname), NAME_SIZE),
            magic=_USTAR_MAGIC, uname=_string(_to_ascii(uname), 32),
            gname=_string(_to_ascii(gname), 32), devmajor=_octal(header.devmajor, 8),
            devminor=_octal(header.devminor, 8))
    if formats.gnu:
        return _gnu(header, name, linkname, uname, gname)
    raise GoTarError(f"no tar format can hold the header of {header.name!r}")


def _gnu(header: GoHeader, name: bytes, linkname: bytes, uname: bytes, gname: bytes
         ) -> bytes:
    """Go's writeGNUHeader: long names and links as ``././@LongLink`` pseudo-files."""
    longs = b""
    if len(name) > NAME_SIZE:
        longs += _raw_file(b"././@LongLink", name + b"\0", _GNU_LONGNAME, _GNU_MAGIC)
    if len(linkname) > NAME_SIZE:
        longs += _raw_file(b"././@LongLink", linkname + b"\0", _GNU_LONGLINK, _GNU_MAGIC)
    return longs + _block(
        name=_string(name, NAME_SIZE), typeflag=header.typeflag,
        mode=_numeric(header.mode, 8), uid=_numeric(header.uid, 8),
        gid=_numeric(header.gid, 8), size=_numeric(header.size, 12),
        mtime=_numeric(header.mtime, 12), linkname=_string(linkname, NAME_SIZE),
        magic=_GNU_MAGIC, uname=uname, gname=gname, devmajor=_numeric(header.devmajor, 8),
        devminor=_numeric(header.devminor, 8))
