"""``commit``: write a working container as an image, as buildah's ``Builder.Commit``.

Order of work: validate the options (manifest type, compression) before touching
anything; check the signature policy against the image being built; diff the container
into a layer blob in one streaming pass (diffID and blob digest together); generate the
config (OCI or Docker, with one new diffID and one new history entry, or no history at
all with ``omit_history``) and the manifest; then

- to local storage (no destination, a plain name, or ``harness-store:``): a shallow
  copy — only the new layer, config and manifest are written, parent layers are reused —
  and the image is named (destination plus ``additional_tags``) in one atomic update;
- anywhere else: a full copy through :func:`harness.copy.engine.copy_image`, the new
  layer staged as built in a temporary store that is removed afterwards, every layer
  then (de)compressed, or kept as built, as the destination wants it (see
  :func:`commit_context`: a registry gets gzip even under ``-D``, ``docker-archive:``
  none even with ``-D=false``); additional tags are ignored with a warning, as in
  buildah.

With ``history_timestamp`` the config's ``created``, the history entry and every file
time in the layer take that value, so the same content gives the same image ID and
manifest digest, in any store; the Docker config still names the container (its ID), as
buildah's does, so a Docker-format image ID also depends on the container.
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.builder.imageconfig import config_media_type
from harness.builder.imagesource import BuiltImageReference
from harness.builder.layerblob import (
    LayerBlob,
    layer_descriptor,
    parent_layer_descriptor,
    write_layer,
)
from harness.builder.names import local_name
from harness.copy.policy import load_policy
from harness.copy.report import GETTING_SIGNATURES, STORING_SIGNATURES, WRITING_MANIFEST, Reporter
from harness.model import mediatype
from harness.model.compression import Algorithm, layer_media_type
from harness.model.config import HistoryEntry
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import DockerManifest, OCIManifest
from harness.model.transportref import has_transport_prefix
from harness.store.records import Image, Layer
from harness.store.store import Store
from harness.transports.alltransports import TRANSPORTS, parse_image_name
from harness.transports.harness_store import HarnessStoreReference
from harness.transports.types import ImageReference, SystemContext
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.builder.builder import Builder

STORE_TRANSPORTS = frozenset({"harness-store", "containers-storage"})
BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest"
BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name"
DEFAULT_SHELL = "/bin/sh"  # buildah's created_by when none was set
# buildah commit's --identity-label (on by default) sets this label to buildah's version.
# We write the version whose commits ours reproduce byte for byte, so that the same
# container committed by both tools gives the same digests (see docs/cli.md).
IDENTITY_LABEL = "io.buildah.version"
IDENTITY_VERSION = "1.28.2"


@dataclass
class CommitOptions:
    """buildah's ``CommitOptions``, every field of the seed."""

    preferred_manifest_type: str = ""  # empty means OCI
    compression: Algorithm = Algorithm.NONE
    signature_policy_path: Path | None = None
    additional_tags: list[str] = field(default_factory=list)
    report_writer: TextIO | None = None
    history_timestamp: datetime.datetime | None = None
    system_context: SystemContext = field(default_factory=SystemContext)
    omit_history: bool = False  # no history at all: the base's goes, none is added
    squash: bool = False  # the whole tree as the one layer; the base's history goes


@dataclass(frozen=True)
class CommitResult:
    image_id: str
    manifest_digest: Digest
    manifest: bytes
    media_type: str
    stored: bool = True  # written to an image store (buildah reports the ID only then)


def manifest_type(preferred: str) -> str:
    """The manifest type to write; only OCI and Docker v2s2 are known to commit."""
    chosen = preferred or mediatype.OCI_MANIFEST
    if chosen not in (mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST):
        raise HarnessError(f"no supported manifest types (attempted to use {preferred!r}, "
                           f"only know {mediatype.OCI_MANIFEST!r} and "
                           f"{mediatype.DOCKER_V2S2_MANIFEST!r})")
    return chosen


def go_time(moment: datetime.datetime) -> str:
    """RFC 3339 with nanoseconds as Go writes ``time.Time`` (``Z``, no trailing zeros)."""
    utc = moment.astimezone(datetime.UTC)
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _destination(dest: str | ImageReference | None, store: Store
                 ) -> ImageReference | str | None:
    """A local name (str), None (an unnamed local image) or a reference elsewhere; a
    ``harness-store:`` reference to another store root counts as elsewhere."""
    if isinstance(dest, str):
        if not has_transport_prefix(dest):
            return local_name(dest)
        return _destination(parse_image_name(dest), store)
    if isinstance(dest, HarnessStoreReference) and dest.root in (None, store.root):
        return None if dest.name is None else local_name(str(dest.name))
    return dest


@dataclass(frozen=True)
class _Built:
    """What the commit generated before it is stored or copied."""

    layer: Layer
    descriptors: list[Descriptor]  # the manifest's layers
    config: bytes
    manifest: bytes
    media_type: str
    created: str


def _build(builder: Builder, store: Store, options: CommitOptions, media_type: str,
           created: datetime.datetime) -> _Built:
    container = builder.store.container(builder.container_id)
    timestamp = int(created.timestamp()) if options.history_timestamp else None
    # Squashed, the whole tree is the one layer, on no parent.
    parent = None if options.squash else container.top_layer
    blob: LayerBlob = write_layer(store, builder.rootfs, builder.store.snapshot(container.id),
                                  options.compression, timestamp, squash=options.squash)
    layer = blob.record(parent)
    layers = [*builder.store.layer_chain(parent), layer]
    docker = media_type == mediatype.DOCKER_V2S2_MANIFEST
    created_text = go_time(created)
    based = builder.from_image_id is not None
    history = None if options.omit_history else HistoryEntry(
        created=created_text, created_by=builder.created_by or DEFAULT_SHELL,
        author=builder.configs.oci.author,
        comment=f"FROM {builder.from_image}" if based else None)
    # buildah drops the Docker config's parent with the history it no longer carries.
    keeps_base = based and history is not None and not options.squash
    config = builder.configs.render(
        docker, blob.diff_digest, history, created=created_text, container=container.id,
        parent=f"sha256:{builder.from_image_id}" if keeps_base else None,
        squash=options.squash)
    config_desc = Descriptor(config_media_type(docker), Digest.from_bytes(config), len(config))
    descriptors = [*(parent_layer_descriptor(x, not docker) for x in layers[:-1]),
                   layer_descriptor(layer, not docker)]
    if docker:
        manifest = DockerManifest(config=config_desc, layers=descriptors).to_bytes()
    else:
        annotations = {BASE_DIGEST_ANNOTATION: builder.from_digest,
                       BASE_NAME_ANNOTATION: builder.from_image if based else "",
                       **builder.annotations}
        manifest = OCIManifest(config=config_desc, layers=descriptors,
                               annotations=annotations).to_bytes()
    return _Built(layer, descriptors, config, manifest, media_type, created_text)


def _report_local(out: TextIO | None, built: _Built) -> None:
    with Reporter(out) as reporter:
        reporter.line(GETTING_SIGNATURES)
        for descriptor in built.descriptors:  # parents by their uncompressed digest
            reporter.blob(descriptor.digest)
        reporter.blob(Digest.from_bytes(built.config), is_config=True)
        reporter.line(WRITING_MANIFEST)
        reporter.line(STORING_SIGNATURES)


def _commit_local(builder: Builder, name: str | None, options: CommitOptions,
                  built: _Built) -> CommitResult:
    store = builder.store
    config_digest = store.put_bytes(built.config)
    digest = store.put_bytes(built.manifest)
    names = [n for n in [name, *map(local_name, options.additional_tags)] if n]
    image = Image(config_digest.hex, list(dict.fromkeys(names)), built.layer.id, str(digest),
                  built.media_type, str(config_digest), built.created)
    store.add_image(image, [built.layer])
    _report_local(options.report_writer, built)
    return CommitResult(config_digest.hex, digest, built.manifest, built.media_type)


def commit_context(options: CommitOptions) -> SystemContext:
    """The destination's context of buildah 1.28's commit, which decides what the
    destination wants (containers/image 5.23's ``DesiredLayerCompression``; the copy engine
    asks it): buildah sets ``OCIAcceptUncompressedLayers`` with ``-D`` and
    ``DirForceCompress`` without it (``commit.go``). So a registry gets gzip layers even
    under ``-D``, ``docker-archive:`` uncompressed ones even with ``-D=false``, and an OCI
    layout, ``dir:`` under ``-D`` and the stores the layers as built."""
    disable = options.compression is Algorithm.NONE
    return replace(options.system_context, oci_accept_uncompressed_layers=disable,
                   dir_force_compress=not disable, dir_force_decompress=False)


def _commit_remote(builder: Builder, dest: ImageReference, options: CommitOptions,
                   created: datetime.datetime) -> CommitResult:
    # The copy engine is imported only for a commit that leaves the store: a local
    # commit has no use for it.
    from harness.copy.engine import CopyOptions, copy_image  # noqa: PLC0415

    if options.additional_tags:
        print(f"WARN: don't know how to add tags to images stored in "
              f"{dest.transport.name!r} transport", file=sys.stderr)
    # In the store's own temporary area, where `check` finds what a killed commit left.
    with builder.store.scratch("commit-") as staging_dir:
        # The new layer staged as built, served with the base image's layers as buildah's
        # image source serves them; the copy engine then (de)compresses each as the
        # destination wants.
        staging = Store.open(staging_dir.path)
        built = _build(builder, staging, options,
                       manifest_type(options.preferred_manifest_type), created)
        source = BuiltImageReference(builder.container_id, built.manifest, built.media_type,
                                     built.config, (staging, builder.store))
        # The built type is preferred, not forced: a destination that does not take it
        # gets a conversion, as with buildah.
        # A compressed commit's algorithm is also the one the destination compresses the
        # base layers with (buildah 1.28's command line commits gzip or nothing).
        disable = options.compression is Algorithm.NONE
        result = copy_image(dest, source, CopyOptions(
            dest_ctx=commit_context(options),
            compression=None if disable else options.compression,
            report_writer=options.report_writer,
            signature_policy_path=options.signature_policy_path))
    return CommitResult(Digest.from_bytes(built.config).hex, result.digest, result.manifest,
                        result.media_type, dest.transport.name in STORE_TRANSPORTS)


def commit(builder: Builder, dest: str | ImageReference | None,
           options: CommitOptions) -> CommitResult:
    """Commit *builder*'s container to *dest* (see the module docstring)."""
    chosen = manifest_type(options.preferred_manifest_type)
    layer_media_type(options.compression, chosen == mediatype.OCI_MANIFEST)
    target = _destination(dest, builder.store)
    created = options.history_timestamp or datetime.datetime.now(datetime.UTC)
    if isinstance(target, ImageReference):
        return _commit_remote(builder, target, options, created)
    policy = load_policy(options.signature_policy_path, TRANSPORTS)
    policy.check(BuiltImageReference(builder.container_id, b"", chosen, b"",
                                     (builder.store,)))
    return _commit_local(builder, target, options,
                         _build(builder, builder.store, options, chosen, created))
