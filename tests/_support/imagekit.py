"""Small real images for copy tests, written through any ImageDestination.

Layers are real tars (gzip-compressed unless asked otherwise) so that umoci, skopeo and
the Docker engine accept them; with busybox-static installed, the first layer holds the
static busybox binary and the image runs.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from harness.model import mediatype
from harness.model.compression import decompress
from harness.model.descriptor import Descriptor, Platform
from harness.model.digest import Digest
from harness.model.manifest import (
    DockerManifest,
    DockerManifestList,
    OCIIndex,
    OCIManifest,
    parse_manifest,
)
from harness.transports.types import BlobInfo, ImageDestination, ImageReference, SystemContext


@dataclass(frozen=True)
class Built:
    manifest: bytes
    media_type: str
    config: bytes
    layers: list[bytes]  # the blobs as stored
    diff_ids: list[Digest]


def layer_tar(files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """An uncompressed layer tar holding *files* (mode 0755) and *symlinks*."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in [*files, *(symlinks or {})]} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        for name, target in sorted((symlinks or {}).items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


@functools.cache
def _gzip(layer: bytes) -> bytes:
    return gzip.compress(layer, compresslevel=1, mtime=0)


@functools.cache
def busybox_layer() -> bytes:
    """``/bin/busybox`` (the static binary when busybox-static is installed, else a
    stand-in of the same shape, for tests that do not run the image) and ``/bin/sh``."""
    found = shutil.which("busybox")
    program = Path(found).read_bytes() if found else bytes(range(256)) * 4096
    return layer_tar({"bin/busybox": program}, {"bin/sh": "busybox"})


def write_image(ref: ImageReference, layers: list[bytes], *, docker: bool = False,
                compress: bool = True, cmd: list[str] | None = None,
                labels: dict[str, str] | None = None) -> Built:
    """Write an image made of the uncompressed *layers* to *ref*; return what was stored."""
    with ref.new_image_destination(SystemContext()) as dest:
        built = _put_image(dest, layers, docker=docker, compress=compress, cmd=cmd,
                           labels=labels)
        dest.publish()
    return built


def _put_image(dest: ImageDestination, layers: list[bytes], *, docker: bool = False,
               compress: bool = True, cmd: list[str] | None = None,
               labels: dict[str, str] | None = None, architecture: str = "amd64",
               instance: bool = False) -> Built:
    """Put an image's blobs and manifest (as a child of an index with *instance*)."""
    diff_ids = [Digest.from_bytes(layer) for layer in layers]
    blobs = [_gzip(layer) if compress else layer for layer in layers]
    config = json.dumps({
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": cmd or ["/bin/sh"], "Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": [str(d) for d in diff_ids]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                    for i in range(len(layers))],
    }).encode()
    if docker:
        layer_type = mediatype.DOCKER_LAYER_GZIP if compress else mediatype.DOCKER_LAYER
        config_type, manifest_type = mediatype.DOCKER_CONFIG, mediatype.DOCKER_V2S2_MANIFEST
    else:
        layer_type = mediatype.OCI_LAYER_GZIP if compress else mediatype.OCI_LAYER
        config_type, manifest_type = mediatype.OCI_CONFIG, mediatype.OCI_MANIFEST
    config_desc = Descriptor(config_type, Digest.from_bytes(config), len(config))
    layer_descs = [Descriptor(layer_type, Digest.from_bytes(b), len(b)) for b in blobs]
    cls = DockerManifest if docker else OCIManifest
    manifest = cls(config_desc, layer_descs).to_bytes()
    for blob, desc in zip(blobs, layer_descs, strict=True):
        dest.put_blob(io.BytesIO(blob), BlobInfo(desc.digest, desc.size), False)
    dest.put_blob(io.BytesIO(config), BlobInfo(config_desc.digest, len(config)), True)
    dest.put_manifest(manifest, manifest_type, Digest.from_bytes(manifest) if instance else None)
    return Built(manifest, manifest_type, config, blobs, diff_ids)


ARCHITECTURES = ("amd64", "arm64")


def write_index(ref: ImageReference, *, docker: bool = False,
                architectures: tuple[str, ...] = ARCHITECTURES,
                platforms: tuple[Platform, ...] | None = None) -> tuple[bytes, list[Built]]:
    """An index (OCI) or manifest list (*docker*) of one small image per platform (linux
    on each of *architectures* unless *platforms* are given), each with a layer of its own
    and one shared layer; returns the index and the images."""
    wanted = platforms or tuple(Platform(arch, "linux") for arch in architectures)
    shared = layer_tar({"etc/motd": b"shared by every platform\n"})
    with ref.new_image_destination(SystemContext()) as dest:
        images = [_put_image(dest, [shared, layer_tar({"arch": _platform_name(p).encode()})],
                             docker=docker, architecture=p.architecture, instance=True)
                  for p in wanted]
        entries = [Descriptor(image.media_type, Digest.from_bytes(image.manifest),
                              len(image.manifest), platform=p)
                   for image, p in zip(images, wanted, strict=True)]
        index = (DockerManifestList(entries) if docker else OCIIndex(entries)).to_bytes()
        dest.put_manifest(index, mediatype.DOCKER_MANIFEST_LIST if docker
                          else mediatype.OCI_INDEX)
        dest.publish()
    return index, images


def _platform_name(p: Platform) -> str:
    """``arch`` for linux without a variant (as the layers always were), else
    ``os/arch/variant``: each platform's image differs from every other's."""
    if p.os == "linux" and not p.variant:
        return p.architecture
    return "/".join(filter(None, (p.os, p.architecture, p.variant)))


def read_image(ref: ImageReference) -> tuple[bytes, str, dict[Digest, bytes]]:
    """The manifest, its type and every blob it references, read back through *ref*."""
    with ref.new_image_source(SystemContext()) as src:
        raw, media_type = src.get_manifest()
        parsed = parse_manifest(raw, media_type)
        blobs = {}
        for desc in parsed.referenced_blobs():
            stream, _ = src.get_blob(BlobInfo(desc.digest, desc.size))
            with stream:
                blobs[desc.digest] = stream.read()
    return raw, media_type, blobs




def plain_layers(ref: ImageReference) -> list[bytes]:
    """The image's layers uncompressed, in order: what a container would see."""
    raw, media_type, blobs = read_image(ref)
    layers = parse_manifest(raw, media_type).layers
    return [decompress(io.BytesIO(blobs[d.digest])).read() for d in layers]


def original_layers(built: Built) -> list[bytes]:
    """The uncompressed layers *built* was made of."""
    return [decompress(io.BytesIO(b)).read() for b in built.layers]
