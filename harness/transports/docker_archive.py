"""The ``docker-archive:FILE[:NAME:TAG]`` transport: the tar of ``docker save``/``docker load``.

The archive holds ``manifest.json`` (a list of ``{Config, RepoTags, Layers}``), the config
as ``<hex>.json`` and each layer uncompressed as ``<diffID-hex>.tar``. Reading presents an
image as a Docker schema2 manifest whose layers are those uncompressed tars (their digest
is the diffID), read in place from the archive without extracting it. Writing stages blobs
in a temporary folder and packs the archive at publish, byte for byte as containers/image
packs it (:mod:`harness.transports.dockersave`, with ``docker save``'s legacy metadata);
like containers/image it refuses to modify an existing archive.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from harness.model import gojson, mediatype
from harness.model.compression import Algorithm, decompress, sniff
from harness.model.config import parse_config
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.limits import MAX_CONFIG_SIZE
from harness.model.manifest import DockerManifest, parse_manifest
from harness.model.reference import Reference
from harness.model.transportref import parse_transport_reference
from harness.transports import blobfiles, dockersave
from harness.transports.pathtransport import PathReference, PathTransport
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    LayerCompression,
    SystemContext,
    Transport,
)
from harness.util.errors import HarnessError
from harness.util.fs import atomic_writer


class DockerArchiveTransport(PathTransport):
    name = "docker-archive"

    def parse_reference(self, reference: str) -> ImageReference:
        parsed = parse_transport_reference(f"{self.name}:{reference}")
        return DockerArchiveReference(parsed.path or "", parsed.reference, parsed.source_index)


class DockerArchiveReference(PathReference):
    """The image name is not part of the policy identity: the archive is the image."""

    def __init__(self, file: str, name: Reference | None = None,
                 source_index: int | None = None) -> None:
        super().__init__(file)
        self.name = name
        self.source_index = source_index

    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        if self.name is not None:
            return f"{self.path}:{self.name}"
        if self.source_index is not None:
            return f"{self.path}:@{self.source_index}"
        return self.path

    def docker_reference(self) -> Reference | None:
        return self.name

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return DockerArchiveImageSource(self)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return DockerArchiveImageDestination(self, ctx.docker_archive_additional_tags)


@dataclass(frozen=True)
class _Member:
    """Where a file's bytes lie inside the archive."""

    offset: int
    size: int


class _Section:
    """A read-only window on [offset, offset+size) of a file, with its own handle."""

    def __init__(self, path: Path, member: _Member) -> None:
        self._file = path.open("rb")
        self._file.seek(member.offset)
        self._left = member.size

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Section:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _index_archive(path: Path) -> dict[str, _Member]:
    """Every regular file of the (uncompressed) tar, by normalised name."""
    members: dict[str, _Member] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                if info.isfile():
                    members[os.path.normpath(info.name)] = _Member(info.offset_data, info.size)
    except FileNotFoundError:
        raise HarnessError(f"docker-archive: {path} does not exist") from None
    except (tarfile.TarError, OSError) as exc:
        raise HarnessError(f"docker-archive: cannot read {path}: {exc}") from None
    return members


class DockerArchiveImageSource(ImageSource):
    def __init__(self, ref: DockerArchiveReference) -> None:
        self._ref = ref
        self._members = _index_archive(ref.resolved)
        entry = self._choose(self._json("manifest.json"))
        config_name = str(entry.get("Config", ""))
        self._config = self._read(config_name)
        self._config_digest = Digest.from_bytes(self._config)
        diff_ids = parse_config(self._config, mediatype.DOCKER_CONFIG).diff_ids
        layer_names = entry.get("Layers", [])
        if not isinstance(layer_names, list) or len(layer_names) != len(diff_ids):
            raise HarnessError(
                f"docker-archive: {ref.resolved}: {len(layer_names)} layers but "
                f"{len(diff_ids)} diff_ids in the config")
        self._layers: dict[Digest, _Member] = {}
        descriptors = []
        for name, diff_id in zip(layer_names, diff_ids, strict=True):
            member = self._member(str(name))
            self._layers[diff_id] = member
            descriptors.append(Descriptor(mediatype.DOCKER_LAYER, diff_id,
                                          self._uncompressed_size(member)))
        config = Descriptor(mediatype.DOCKER_CONFIG, self._config_digest, len(self._config))
        self._manifest = DockerManifest(config, descriptors).to_bytes()

    def _open_layer(self, member: _Member) -> tuple[BinaryIO, bool]:
        """The layer's tar, decompressed if the archive holds it compressed."""
        algorithm, stream = sniff(cast(BinaryIO, _Section(self._ref.resolved, member)))
        if algorithm is Algorithm.NONE:
            return stream, False
        return decompress(stream), True

    def _uncompressed_size(self, member: _Member) -> int:
        """The member's size, or for a compressed layer (which this source serves
        decompressed, under its diffID) the size it decompresses to, counted once here."""
        stream, compressed = self._open_layer(member)
        with stream:
            if not compressed:
                return member.size
            size = 0
            while chunk := stream.read(1 << 20):
                size += len(chunk)
            return size

    def _member(self, name: str) -> _Member:
        member = self._members.get(os.path.normpath(name))
        if member is None:
            raise HarnessError(f"docker-archive: {self._ref.resolved} has no file {name!r}")
        return member

    def _read(self, name: str) -> bytes:
        """A JSON member (manifest.json, a config), refused above the model's config limit
        before reading: the archive is untrusted input and these are read whole."""
        member = self._member(name)
        if member.size > MAX_CONFIG_SIZE:
            raise HarnessError(f"docker-archive: {name} is {member.size} bytes, over the "
                               f"{MAX_CONFIG_SIZE}-byte limit for its JSON files")
        with _Section(self._ref.resolved, member) as section:
            return section.read()

    def _json(self, name: str) -> Any:
        try:
            return json.loads(self._read(name))
        except ValueError as exc:
            raise HarnessError(f"docker-archive: {name} is not valid JSON: {exc}") from None

    def _choose(self, entries: Any) -> dict[str, Any]:
        if not isinstance(entries, list) or not entries or \
                not all(isinstance(entry, dict) for entry in entries):
            raise HarnessError(f"docker-archive: {self._ref.resolved}: manifest.json must be "
                               "a non-empty list of objects")
        ref = self._ref
        if ref.source_index is not None:
            if ref.source_index >= len(entries):
                raise HarnessError(f"docker-archive: no image @{ref.source_index}: the archive "
                                   f"holds {len(entries)}")
            return dict(entries[ref.source_index])
        if ref.name is not None:
            wanted = {str(ref.name), ref.name.familiar()}
            for entry in entries:
                if wanted & set(entry.get("RepoTags") or []):
                    return dict(entry)
            raise HarnessError(f"docker-archive: no image tagged {ref.name.familiar()!r}")
        if len(entries) != 1:
            raise HarnessError(f"docker-archive: {len(entries)} images in the archive; "
                               "choose one with :NAME:TAG or :@INDEX")
        return dict(entries[0])

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is not None:
            raise HarnessError("docker-archive: the archive holds no manifest lists")
        return self._manifest, mediatype.DOCKER_V2S2_MANIFEST

    def has_thread_safe_get_blob(self) -> bool:
        return True

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest == self._config_digest:
            return io.BytesIO(self._config), len(self._config)
        member = self._layers.get(info.digest) if info.digest is not None else None
        if member is None:
            raise blobfiles.BlobNotFoundError(
                f"docker-archive: no blob {info.digest} in {self._ref.resolved}")
        stream, compressed = self._open_layer(member)
        return stream, -1 if compressed else member.size


class DockerArchiveImageDestination(ImageDestination):
    def __init__(self, ref: DockerArchiveReference, additional_tags: tuple[str, ...] = ()
                 ) -> None:
        if ref.resolved.exists() and (not ref.resolved.is_file() or ref.resolved.stat().st_size):
            raise HarnessError(f"docker-archive: {ref.resolved} exists; modifying an existing "
                               "archive is not supported")
        self._ref = ref
        # As containers/image writes RepoTags: fully qualified, the reference's first
        # (latest when it names no tag), each once.
        named = [] if ref.name is None else [f"{ref.name.name}:{ref.name.tag_or_latest}"]
        self._repo_tags = list(dict.fromkeys([*named, *additional_tags]))
        self._tmp = blobfiles.staging_dir(ref.resolved)
        self._manifest: bytes | None = None

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def supported_manifest_mime_types(self) -> list[str]:
        return [mediatype.DOCKER_V2S2_MANIFEST]

    def desired_layer_compression(self) -> LayerCompression:
        return LayerCompression.DECOMPRESS

    def _path(self, digest: Digest) -> Path:
        return self._tmp.path / digest.encoded

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        return blobfiles.store_blob(stream, info, self._path, self._tmp.path)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        return blobfiles.existing_blob(self._path, info)

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        if mime_type != mediatype.DOCKER_V2S2_MANIFEST or instance is not None:
            raise HarnessError(f"docker-archive: cannot store a {mime_type} manifest")
        self._manifest = manifest

    def publish(self) -> None:
        """Pack the archive as containers/image writes it (:mod:`dockersave`)."""
        if self._manifest is None:
            raise HarnessError("docker-archive: publish without a manifest")
        manifest = parse_manifest(self._manifest, mediatype.DOCKER_V2S2_MANIFEST)
        if manifest.config is None:
            raise HarnessError("docker-archive: the manifest has no config")
        layers = [layer.digest for layer in manifest.layers]
        config_path = self._path(manifest.config.digest)
        index = gojson.dumps([{"Config": f"{manifest.config.digest.encoded}.json",
                               "RepoTags": self._repo_tags,
                               "Layers": [dockersave.layer_path(d) for d in layers]}])
        with atomic_writer(self._ref.resolved) as out:
            writer = dockersave.SaveWriter(out)
            for layer in dict.fromkeys(layers):
                writer.add_file(dockersave.layer_path(layer), self._path(layer))
            writer.add_file(f"{manifest.config.digest.encoded}.json", config_path)
            top = dockersave.write_legacy_layers(writer, layers, config_path.read_bytes())
            writer.add_bytes("manifest.json", index)
            writer.add_bytes("repositories", dockersave.repositories(
                [_name_and_tag(tag) for tag in self._repo_tags], top))
            writer.close()

    def close(self) -> None:
        self._tmp.close()


def _name_and_tag(repo_tag: str) -> tuple[str, str]:
    name, _, tag = repo_tag.rpartition(":")
    return name, tag


TRANSPORT = DockerArchiveTransport()
