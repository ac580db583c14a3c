"""Writing a ``docker save`` archive byte for byte as containers/image 5.23's tarfile
``Writer`` writes it (``docker/internal/tarfile/writer.go``), for ``docker-archive:`` and
``docker-daemon:`` destinations.

The members, in order: each layer as ``<hex>.tar`` (once, in manifest order: the copy
sends layers before the config), the config as ``<hex>.json``, then for each layer the
legacy ``docker save`` metadata (``<id>/layer.tar``, a symlink to the layer,
``<id>/VERSION`` holding ``1.0`` and ``<id>/json``), ``manifest.json`` and
``repositories``. Every header is Go's ``tar.FileInfoHeader`` of a file with mode 0444
(a symlink 0), time 0 and no owner, written as Go's ``archive/tar`` writes it
(:mod:`harness.store.gotar`); the archive ends with two zero blocks and no padding.

A legacy layer's ``json`` holds its ``parent`` and, for the top layer, seven fields of
the image config as the config spells them; its ID is the digest of that JSON with a
``layer_id`` (the layer's chain ID) added, as containers/image computes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import BinaryIO

from harness.model import gojson
from harness.model.digest import Digest
from harness.store import gotar
from harness.store.tarstream import end_of_archive, file_data
from harness.util.errors import HarnessError

READ_ONLY = 0o444
LEGACY_VERSION = b"1.0"
# The image config fields the top legacy layer's json repeats (writeLegacyMetadataLocked).
TOP_LAYER_FIELDS = ("architecture", "config", "container", "container_config", "created",
                    "docker_version", "os")
_SPACE = re.compile(r"[ \t\n\r]*")


class SaveWriter:
    """Members appended to a tar stream as Go's ``tar.Writer`` appends them."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def add_file(self, name: str, path: Path) -> None:
        size = path.stat().st_size
        self._out.write(gotar.encode(gotar.GoHeader(name, mode=READ_ONLY, size=size)))
        for chunk in file_data(path, size):
            self._out.write(chunk)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._out.write(gotar.encode(gotar.GoHeader(name, mode=READ_ONLY, size=len(data))))
        self._out.write(gotar.padded(data))

    def add_symlink(self, name: str, target: str) -> None:
        self._out.write(gotar.encode(gotar.GoHeader(name, typeflag=gotar.SYMLINK,
                                                    linkname=target)))

    def close(self) -> None:
        self._out.write(end_of_archive())


def layer_path(digest: Digest) -> str:
    return f"{digest.encoded}.tar"


def write_legacy_layers(writer: SaveWriter, layers: list[Digest], config: bytes) -> str:
    """Write each layer's legacy metadata; return the top layer's legacy ID ("" when the
    image has no layer)."""
    chain: Digest | None = None
    parent = ""
    for number, layer in enumerate(layers):
        chain = layer if chain is None else Digest.from_bytes(f"{chain} {layer}".encode())
        fields: dict[str, bytes] = {}
        if parent:
            fields["parent"] = gojson.dumps(parent)
        if number == len(layers) - 1:
            members = _members(config)
            fields.update({name: gojson.compact(members[name]) if name in members
                           else b"null" for name in TOP_LAYER_FIELDS})
        # Chain IDs differ within one image, so each ID is new (containers/image checks,
        # as its writer is shared by the images of one archive; ours writes one image).
        layer_id = Digest.from_bytes(_map({**fields, "layer_id": gojson.dumps(str(chain))})
                                     ).encoded
        writer.add_symlink(f"{layer_id}/layer.tar", f"../{layer_path(layer)}")
        writer.add_bytes(f"{layer_id}/VERSION", LEGACY_VERSION)
        writer.add_bytes(f"{layer_id}/json", _map({**fields, "id": gojson.dumps(layer_id)}))
        parent = layer_id
    return parent


def repositories(repo_tags: list[tuple[str, str]], top_layer: str) -> bytes:
    """The ``repositories`` file: each tagged name's tag pointing at the top layer."""
    names: dict[str, dict[str, str]] = {}
    if top_layer:
        for name, tag in repo_tags:
            names.setdefault(name, {})[tag] = top_layer
    return gojson.dumps_sorted(names)


def _map(fields: dict[str, bytes]) -> bytes:
    """A Go ``map[string]interface{}`` marshalled: keys sorted, values already JSON."""
    return b"{" + b",".join(gojson.dumps(key) + b":" + fields[key]
                            for key in sorted(fields)) + b"}"


def _members(config: bytes) -> dict[str, str]:
    """The config object's members, each value's JSON text as written (Go's
    ``map[string]*json.RawMessage``: a repeated key keeps its last value)."""
    text = config.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder()
    members: dict[str, str] = {}
    try:
        pos = _after(text, 0, "{")
        if text.startswith("}", pos):
            return members
        while True:
            if not text.startswith('"', pos):
                raise ValueError(f"a key expected at {pos}")
            key, pos = decoder.raw_decode(text, pos)
            start = _after(text, _skip(text, pos), ":")
            _, end = decoder.raw_decode(text, start)
            members[key] = text[start:end]
            pos = _skip(text, end)
            if text.startswith("}", pos):
                return members
            pos = _after(text, pos, ",")
    except ValueError as exc:
        raise HarnessError(f"docker-archive: the image config is not a JSON object: "
                           f"{exc}") from None


def _after(text: str, pos: int, char: str) -> int:
    """Where the next token starts after *char*, which must be at *pos* (after spaces)."""
    pos = _skip(text, pos)
    if not text.startswith(char, pos):
        raise ValueError(f"{char!r} expected at {pos}")
    return _skip(text, pos + 1)


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos
