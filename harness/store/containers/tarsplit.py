"""tar-split metadata (``<layer>.tar-split.gz``): a layer's tar stream without file bodies.

containers/storage keeps, beside each layer's files, the gzip-compressed JSON lines that
vbatts/tar-split's ``storage`` package writes: ``{"type":2,"payload":...}`` segments hold
raw tar bytes (headers, padding, the end-of-archive blocks) and ``{"type":1,"name":...,
"size":N,"payload":CRC}`` entries stand for a file's body, read back from the layer's
files and checked against the CRC-64 (Go's ISO table) recorded when it was written.
Putting the two back together gives the layer's original bytes, hence its diffID.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import posixpath
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anycrc

from harness.util.errors import HarnessError

FILE = 1
SEGMENT = 2
CHUNK = 1 << 20


class TarSplitError(HarnessError):
    """A layer's tar-split metadata is missing, unreadable or disagrees with its files."""


def crc64() -> Any:
    """Go's ``crc64.New(crc64.MakeTable(crc64.ISO))``: ``calc(data, init)`` chains chunks."""
    return anycrc.Model("CRC64-GO-ISO")


def checksum_bytes(value: int) -> bytes:
    """The 8 bytes Go's ``hash.Sum`` gives for a CRC-64 value (big-endian)."""
    return value.to_bytes(8, "big")


@dataclass(frozen=True)
class Entry:
    """One line: a raw segment, or a file whose body of *size* bytes has CRC *payload*."""

    type: int
    name: bytes
    size: int
    payload: bytes
    position: int


def _entry(line: bytes, path: Path) -> Entry:
    try:
        raw = json.loads(line)
        name = (base64.b64decode(raw["name_raw"]) if raw.get("name_raw")
                else str(raw.get("name", "")).encode("utf-8", "surrogateescape"))
        payload = base64.b64decode(raw["payload"]) if raw.get("payload") else b""
        entry = Entry(int(raw["type"]), name, int(raw.get("size", 0)), payload,
                      int(raw["position"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise TarSplitError(f"containers-storage: {path} is not tar-split metadata "
                            f"({type(exc).__name__}: {exc})") from None
    if entry.type not in (FILE, SEGMENT) or entry.size < 0:
        raise TarSplitError(f"containers-storage: {path}: entry {entry.position} has "
                            f"type {entry.type} and size {entry.size}")
    return entry


def read_entries(path: Path) -> Iterator[Entry]:
    """The entries of a ``.tar-split.gz`` file, in order; duplicate file names refused as
    tar-split's unpacker refuses them."""
    seen: set[bytes] = set()
    try:
        with gzip.open(path, "rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                entry = _entry(line, path)
                if entry.type == FILE:
                    key = posixpath.normpath(entry.name) if entry.name else b"."
                    if key in seen:
                        raise TarSplitError(f"containers-storage: {path}: file "
                                            f"{entry.name!r} appears twice")
                    seen.add(key)
                yield entry
    except FileNotFoundError:
        raise TarSplitError(f"containers-storage: layer metadata {path} is missing: the "
                            "layer's original tar cannot be rebuilt") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise TarSplitError(f"containers-storage: cannot read {path}: {exc}") from None


def open_in(root: Path, name: bytes) -> int:
    """A read-only descriptor of the file *name* in *root*, no symlink followed anywhere
    on the way (the metadata cannot send a read outside the layer)."""
    parts = [p for p in name.split(b"/") if p not in (b"", b".")]
    if not parts or b".." in parts:
        raise TarSplitError(f"containers-storage: tar-split names {name!r}, "
                            "which is not a file inside the layer")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=fd)
            os.close(fd)
            fd = nxt
        last = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(last).st_mode):
        os.close(last)
        raise TarSplitError(f"containers-storage: {name!r} in the layer is not a regular file")
    return last


def _body(root: Path, entry: Entry, model: Any) -> Iterator[bytes]:
    shown = entry.name.decode("utf-8", "replace")
    try:
        fd = open_in(root, entry.name)
    except OSError as exc:
        raise TarSplitError(f"containers-storage: layer file {shown!r} named by the "
                            f"tar-split metadata cannot be opened in {root}: "
                            f"{exc.strerror}") from None
    crc, left = 0, entry.size
    with os.fdopen(fd, "rb") as f:
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            crc = model.calc(chunk, crc)
            left -= len(chunk)
            yield chunk
        extra = f.read(1)
    if left or extra or checksum_bytes(crc) != entry.payload:
        raise TarSplitError(f"containers-storage: layer file {shown!r} in {root} does not "
                            "match its tar-split metadata (size or CRC-64 differs)")


def assemble(metadata: Path, root: Path) -> Iterator[bytes]:
    """The layer's original tar bytes: segments as recorded, file bodies from *root*."""
    model = crc64()
    for entry in read_entries(metadata):
        if entry.type == SEGMENT:
            if entry.payload:
                yield entry.payload
        elif entry.size:
            yield from _body(root, entry, model)
