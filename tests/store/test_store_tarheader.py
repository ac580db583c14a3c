"""The directly rendered ustar block is byte for byte what tarfile writes."""

from __future__ import annotations

import tarfile

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.store.tarstream import _plain_ustar, header

_TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
          tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE]
_TEXT = st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
                  st.text(max_size=40))
_ID = st.one_of(st.integers(min_value=0, max_value=8 ** 7 - 1),
                st.integers(min_value=-5, max_value=8 ** 8))
_TIME = st.one_of(st.integers(min_value=-5, max_value=8 ** 12),
                  st.floats(min_value=0, max_value=2e9, allow_nan=False))


@st.composite
def tar_infos(draw: st.DrawFn) -> tarfile.TarInfo:
    info = tarfile.TarInfo(draw(_TEXT.filter(bool)))
    info.type = draw(st.sampled_from(_TYPES))
    info.mode = draw(st.integers(min_value=0, max_value=0o177777))
    info.uid, info.gid = draw(_ID), draw(_ID)
    info.size = draw(st.integers(min_value=0, max_value=8 ** 12))
    info.mtime = draw(_TIME)
    info.linkname = draw(_TEXT)
    info.uname, info.gname = draw(_TEXT), draw(_TEXT)
    info.devmajor, info.devminor = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    if draw(st.booleans()):
        info.pax_headers = {"SCHILY.xattr.user.k": draw(st.text(max_size=8))}
    return info


@settings(max_examples=300)
@given(tar_infos())
def test_header_is_what_tarfile_writes(info: tarfile.TarInfo) -> None:
    assert header(info) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def test_the_common_entries_take_the_direct_path() -> None:
    """A plain file, a directory and a symlink need no PAX record: no fallback."""
    for kind, name in ((tarfile.REGTYPE, "etc/passwd"), (tarfile.DIRTYPE, "etc"),
                       (tarfile.SYMTYPE, "bin")):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.size = kind, 0o755, 1_700_000_000, 12
        info.linkname = "usr/bin" if kind == tarfile.SYMTYPE else ""
        block = _plain_ustar(info)
        assert block is not None and len(block) == tarfile.BLOCKSIZE
        assert block[:100].rstrip(b"\0").decode() == \
            name + ("/" if kind == tarfile.DIRTYPE else "")
