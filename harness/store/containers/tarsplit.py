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
import hashlib
import json
import os
import posixpath
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anycrc

from harness.model import gojson
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


BLOCK = 512
_META_TYPES = frozenset(b"xgLK")  # PAX and GNU long-name headers: part of the next header
_HEADER_ONLY = frozenset(b"12345")  # link, symlink, char, block, dir: no body read


class Packer:
    """Writes entries as tar-split's JSON packer does (Go struct order, one per line)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._position = 0

    def _add(self, entry: dict[str, Any]) -> None:
        entry["position"] = self._position
        self._out.write(gojson.dumps(entry) + b"\n")
        self._position += 1

    def segment(self, payload: bytes) -> None:
        self._add({"type": SEGMENT, "payload": base64.b64encode(payload).decode()})

    def file(self, name: bytes, size: int, checksum: bytes | None) -> None:
        try:
            entry: dict[str, Any] = {"type": FILE, "name": name.decode("utf-8")}
        except UnicodeDecodeError:
            entry = {"type": FILE, "name_raw": base64.b64encode(name).decode()}
        if size:
            entry["size"] = size
        entry["payload"] = base64.b64encode(checksum).decode() if checksum is not None else None
        self._add(entry)


def _number(field: bytes) -> int:
    """A tar numeric field: octal, or base-256 when the high bit is set (GNU)."""
    if field and field[0] & 0x80:
        value = field[0] & 0x7F
        for byte in field[1:]:
            value = (value << 8) | byte
        return value
    text = field.split(b"\0", 1)[0].strip(b" \0")
    return int(text, 8) if text else 0


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    while data:
        length_text, _, _ = data.partition(b" ")
        length = int(length_text)
        record, data = data[:length], data[length:]
        key, _, value = record[len(length_text) + 1:].partition(b"=")
        records[key] = value[:-1] if value.endswith(b"\n") else value
    return records


def _nul_terminated(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


class TarRecorder:
    """Reads a tar stream for a consumer (the layer applier) and records, as it passes,
    what containers/storage records when it stores a layer: the tar-split entries (the
    way tar-split's disassembler splits a stream, including its final remainder
    segment), the diffID and size, and the owners' IDs. File bodies are hashed, never
    held: memory stays one block plus the headers of one entry."""

    def __init__(self, stream: BinaryIO, packer: Packer) -> None:
        self._stream = stream
        self._packer = packer
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.uids: set[int] = set()
        self.gids: set[int] = set()
        self.whiteouts: list[bytes] = []  # entry names whose base starts with .wh.
        self._pending = bytearray()  # raw bytes of the segment being gathered
        self._state = "header"
        self._need = BLOCK  # bytes still wanted by the current state
        self._meta: dict[bytes, bytes] = {}
        self._long_name: bytes | None = None
        self._file: tuple[bytes, int] | None = None
        self._crc = 0
        self._model = crc64()
        self._skip_after = 0  # padding after a body or a metadata header's data
        self._meta_type = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._take(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def finish(self) -> None:
        """Read what the consumer left (end blocks, trailing bytes) and write the final
        segments."""
        while chunk := self._stream.read(CHUNK):
            self._take(chunk)
        if self._state not in ("trailer", "rest", "header") or \
                (self._state == "header" and self._pending):
            raise TarSplitError("containers-storage: the layer ends inside a tar entry")
        if self._state != "rest":  # no end-of-archive blocks: what is left is the end
            self._packer.segment(bytes(self._pending))
            self._pending.clear()
        self._packer.segment(bytes(self._pending))

    def _take(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            if self._state == "rest":
                self._pending += view
                return
            if self._state == "body":
                n = min(self._need, len(view))
                self._crc = self._model.calc(view[:n], self._crc)
                view, self._need = view[n:], self._need - n
                if not self._need:
                    self._end_body()
                continue
            n = min(self._need, len(view))
            self._pending += view[:n]
            view, self._need = view[n:], self._need - n
            if not self._need:
                self._step()

    def _step(self) -> None:
        """A state's bytes are all in :attr:`_pending`: act on them."""
        if self._state == "padding":
            self._state, self._need = "header", BLOCK
        elif self._state == "header":
            self._header(bytes(self._pending[-BLOCK:]))
        elif self._state == "meta":
            data = bytes(self._pending[-self._meta_size:])[: self._meta_length]
            if self._meta_type == ord("x"):
                self._meta.update(_pax_records(data))
            elif self._meta_type == ord("L"):
                self._long_name = _nul_terminated(data)
            self._state, self._need = "header", BLOCK
        elif self._state == "trailer":
            self._packer.segment(bytes(self._pending))
            self._pending.clear()
            self._state = "rest"

    def _header(self, block: bytes) -> None:
        if block == bytes(BLOCK):
            self._state, self._need = "trailer", BLOCK
            return
        kind = block[156]
        size = _number(block[124:136])
        if kind in _META_TYPES:
            self._meta_type, self._meta_length = kind, size
            self._meta_size = -(-size // BLOCK) * BLOCK
            self._state, self._need = "meta", self._meta_size
            if not self._need:
                self._step()
            return
        name = self._name(block)
        if b"size" in self._meta:
            size = int(self._meta[b"size"])
        self.uids.add(int(self._meta[b"uid"]) if b"uid" in self._meta
                      else _number(block[108:116]))
        self.gids.add(int(self._meta[b"gid"]) if b"gid" in self._meta
                      else _number(block[116:124]))
        if posixpath.basename(name.rstrip(b"/")).startswith(b".wh."):
            self.whiteouts.append(name)
        self._meta, self._long_name = {}, None
        self._packer.segment(bytes(self._pending))
        self._pending.clear()
        body = 0 if kind in _HEADER_ONLY else size
        self._file, self._crc = (name, size), 0
        self._skip_after = -(-body // BLOCK) * BLOCK - body
        if body:
            self._state, self._need = "body", body
        else:
            self._end_body()

    def _name(self, block: bytes) -> bytes:
        if b"path" in self._meta:
            return self._meta[b"path"]
        if self._long_name is not None:
            return self._long_name
        name = _nul_terminated(block[0:100])
        if block[257:263] == b"ustar\0" and (prefix := _nul_terminated(block[345:500])):
            return prefix + b"/" + name
        return name

    def _end_body(self) -> None:
        assert self._file is not None
        name, size = self._file
        self._packer.file(name, size, checksum_bytes(self._crc) if size else None)
        self._file = None
        if self._skip_after:
            self._state, self._need = "padding", self._skip_after
        else:
            self._state, self._need = "header", BLOCK
