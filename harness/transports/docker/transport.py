"""The ``docker://`` transport: containers/image's docker_transport over :class:`RegistryClient`.

A reference without tag or digest means ``:latest``. The destination takes every manifest
type (the registry decides: MANIFEST_INVALID or TAG_INVALID for a manifest becomes a
:class:`ManifestTypeRejected`, so a copy tries its next type), wants layers compressed, and
accepts blobs from several threads at once.
"""

from __future__ import annotations

import re
import threading
from typing import BinaryIO

from harness.model import mediatype
from harness.model.digest import Digest, DigestMismatchError
from harness.model.manifest import (
    ManifestError,
    detect_media_type,
    manifest_digest,
    parse_manifest,
)
from harness.model.reference import Reference, ReferenceError
from harness.model.transportref import DOCKER, parse_transport_reference
from harness.transports.docker.blobcache import BLOB_LOCATIONS
from harness.transports.docker.client import RegistryClient, parse_digest_header
from harness.transports.docker.errors import ProtocolError, RegistryError
from harness.transports.docker.headers import decimal
from harness.transports.docker.reader import open_blob
from harness.transports.docker.upload import BlobUpload
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    LayerCompression,
    ManifestTypeRejectedError,
    SystemContext,
    Transport,
)
from harness.util.errors import HarnessError

# The codes registries answer a manifest type they do not take with (distribution 2.8:
# MANIFEST_INVALID for schema1; some registries TAG_INVALID).
TYPE_REJECTION_CODES = frozenset({"MANIFEST_INVALID", "TAG_INVALID"})


class ManifestTypeRejected(RegistryError, ManifestTypeRejectedError):
    """A manifest PUT refused with a code that means "not this type": still the
    registry's error (code, status, message), and the copy's signal to try another type."""

    @classmethod
    def of(cls, exc: RegistryError) -> ManifestTypeRejected:
        return cls(exc.method, exc.path, exc.status, exc.errors)

# SystemContext.extra key: PATCH chunks of this many bytes instead of one streamed PATCH.
CHUNK_SIZE_KEY = "docker-chunk-size"
# Preferred first: what containers/image's docker destination lists.
ALL_MANIFEST_TYPES = [mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST,
                      mediatype.DOCKER_V2S1_SIGNED_MANIFEST, mediatype.DOCKER_V2S1_MANIFEST,
                      mediatype.OCI_INDEX, mediatype.DOCKER_MANIFEST_LIST]
_WILDCARD_SCOPE = re.compile(r"\*\.[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*")
# Statuses a mount refuses with when the source repository is unknown or not readable
# (Quay: 400 without from; Harbor: 401); the blob is then uploaded normally.
_MOUNT_REFUSALS = (400, 401, 403, 404)


class DockerTransport(Transport):
    """``docker://[domain/]path[:tag|@digest]``."""

    name = DOCKER

    def parse_reference(self, reference: str) -> DockerReference:
        parsed = parse_transport_reference(f"{self.name}:{reference}").reference
        assert parsed is not None  # the docker syntax always yields one
        if parsed.tag is None and parsed.digest is None:
            parsed = parsed.with_tag(parsed.tag_or_latest)
        return DockerReference(parsed)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """A scope is ``*.domain`` or a fully qualified name, maybe with tag or digest."""
        if _WILDCARD_SCOPE.fullmatch(scope):
            return
        try:
            parsed = Reference.parse(scope)
        except ReferenceError as exc:
            raise HarnessError(f"invalid policy scope {scope!r} for docker: {exc}") from None
        if str(parsed) != scope:
            raise HarnessError(f"invalid policy scope {scope!r} for docker: it must be fully "
                               f"qualified ({parsed})")


TRANSPORT = DockerTransport()


class DockerReference(ImageReference):
    """A registry image: a normalised :class:`Reference` with a tag or a digest."""

    def __init__(self, reference: Reference) -> None:
        self.ref = reference

    @property
    def transport(self) -> DockerTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return f"//{self.ref}"

    def docker_reference(self) -> Reference:
        return self.ref

    @property
    def manifest_reference(self) -> str:
        """What follows ``/manifests/``: the digest if there is one, else the tag."""
        return str(self.ref.digest) if self.ref.digest is not None else self.ref.tag_or_latest

    def policy_configuration_identity(self) -> str:
        return str(self.ref)

    def policy_configuration_namespaces(self) -> list[str]:
        """The repository, its parents, the domain, then ``*.``-wildcarded parent domains."""
        name = self.ref.name
        scopes = []
        while "/" in name:
            scopes.append(name)
            name = name.rsplit("/", 1)[0]
        scopes.append(name)
        host = name.split(":", 1)[0]
        while "." in host:
            host = host.split(".", 1)[1]
            scopes.append(f"*.{host}")
        return scopes

    def client(self, ctx: SystemContext, actions: tuple[str, ...]) -> RegistryClient:
        return RegistryClient(self.ref.domain, self.ref.path, ctx, actions)

    def new_image_source(self, ctx: SystemContext) -> DockerImageSource:
        return DockerImageSource(self, self.client(ctx, ("pull",)))

    def new_image_destination(self, ctx: SystemContext) -> DockerImageDestination:
        chunk = ctx.extra.get(CHUNK_SIZE_KEY, "")
        size = decimal(chunk) if chunk else None
        if chunk and not size:
            raise HarnessError(f"{CHUNK_SIZE_KEY} must be a positive byte count, not {chunk!r}")
        return DockerImageDestination(self, self.client(ctx, ("pull", "push")), size)

    def delete_image(self, ctx: SystemContext) -> None:
        """Delete the manifest (by digest: distribution refuses deletes by tag)."""
        with self.new_image_source(ctx) as source:
            manifest, _ = source.get_manifest()
        client = self.client(ctx, ("pull", "push", "delete"))
        try:
            client.request("DELETE", client.url(f"manifests/{manifest_digest(manifest)}"),
                           ok=(200, 202)).close()
        finally:
            client.close()


def _verified_digest(body: bytes, expected: Digest | None, announced: str | None,
                     what: str) -> Digest:
    """The manifest's digest, checked against the one asked for and the one announced."""
    header = parse_digest_header(announced, what)
    algorithm = next((d.algorithm for d in (expected, header) if d is not None), "sha256")
    actual = manifest_digest(body, algorithm)
    if expected is not None and actual != expected:
        raise DigestMismatchError(expected, actual)
    if header is not None and header != actual:
        raise ProtocolError(f"{what}: the registry announced digest {header} but the "
                            f"manifest's content has digest {actual}")
    return actual


class DockerImageSource(ImageSource):
    def __init__(self, reference: DockerReference, client: RegistryClient) -> None:
        self._reference = reference
        self._client = client

    @property
    def reference(self) -> DockerReference:
        return self._reference

    def __enter__(self) -> DockerImageSource:
        return self

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        """The manifest, its digest checked; a generic Content-Type is replaced by the
        type its content shows (as containers/image's GuessMIMEType)."""
        wanted = str(instance) if instance is not None else self._reference.manifest_reference
        expected = instance if instance is not None else self._reference.ref.digest
        body, media_type, announced = self._client.get_manifest(wanted)
        _verified_digest(body, expected, announced, f"manifest {wanted}")
        if media_type not in mediatype.ALL_MANIFESTS:
            try:
                media_type = detect_media_type(body)
            except ManifestError as exc:
                raise ProtocolError(f"manifest {wanted}: {exc}") from None
        self._remember_blobs(body, media_type)
        return body, media_type

    def _remember_blobs(self, body: bytes, media_type: str) -> None:
        """Record that this repository holds the manifest's blobs, so that a copy to a
        sibling repository mounts them instead of uploading. An unparseable manifest is
        left for the copy engine to report."""
        try:
            blobs = parse_manifest(body, media_type).referenced_blobs()
        except HarnessError:
            return
        for blob in blobs:
            BLOB_LOCATIONS.record(blob.digest, self._client.registry, self._client.repository)

    def has_thread_safe_get_blob(self) -> bool:
        return True

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest is None:
            raise HarnessError("docker: a blob can only be read by digest")
        stream, size = open_blob(self._client, info.digest, info.size)
        BLOB_LOCATIONS.record(info.digest, self._client.registry, self._client.repository)
        return stream, size

    def repository_tags(self) -> list[str]:
        return self._client.list_tags()

    def close(self) -> None:
        self._client.close()


class DockerImageDestination(ImageDestination):
    def __init__(self, reference: DockerReference, client: RegistryClient,
                 chunk_size: int | None = None) -> None:
        self._reference = reference
        self._client = client
        self._chunk_size = chunk_size
        self._sessions: dict[Digest, str] = {}  # upload sessions a refused mount opened
        self._lock = threading.Lock()
        self.manifest_digest: Digest | None = None  # of the last manifest put

    @property
    def reference(self) -> DockerReference:
        return self._reference

    def __enter__(self) -> DockerImageDestination:
        return self

    def supported_manifest_mime_types(self) -> list[str]:
        return list(ALL_MANIFEST_TYPES)

    def desired_layer_compression(self) -> LayerCompression:
        return LayerCompression.COMPRESS

    def has_thread_safe_put_blob(self) -> bool:
        return True

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        location = None
        if info.digest is not None:
            with self._lock:
                location = self._sessions.pop(info.digest, None)
        upload = BlobUpload(self._client, self._chunk_size, location)
        digest, size = upload.send(stream, info.digest, info.size)
        self._remember(digest)
        return BlobInfo(digest, size, info.media_type, info.urls, info.annotations)

    def _remember(self, digest: Digest) -> None:
        BLOB_LOCATIONS.record(digest, self._client.registry, self._client.repository)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """HEAD in this repository, else mount from a sibling repository known to have it."""
        digest = info.digest
        if digest is None:
            return None
        size = self._client.blob_size(digest)
        if size is None:
            size = self._mount(digest, info.size)
        if size is None:
            return None
        self._remember(digest)
        return BlobInfo(digest, size if size >= 0 else info.size, info.media_type, info.urls,
                        info.annotations)

    def _mount(self, digest: Digest, size: int) -> int | None:
        for source in BLOB_LOCATIONS.candidates(digest, self._client.registry,
                                                self._client.repository):
            try:
                location = self._client.mount_blob(digest, source)
            except RegistryError as exc:
                if exc.status in _MOUNT_REFUSALS:
                    continue
                raise
            if location is None:
                return size if size >= 0 else self._client.blob_size(digest)
            with self._lock:  # 202: the session serves the upload that follows
                self._sessions[digest] = location
            return None
        return None

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        """PUT by *instance* (a child of an index), else by the reference's digest or tag;
        the registry's ``Docker-Content-Digest`` must be the manifest's digest."""
        expected = instance if instance is not None else self._reference.ref.digest
        digest = manifest_digest(manifest, expected.algorithm if expected else "sha256")
        if expected is not None and digest != expected:
            raise DigestMismatchError(expected, digest)
        target = str(digest) if expected is not None else self._reference.ref.tag_or_latest
        try:
            announced = self._client.put_manifest(target, manifest, mime_type)
        except RegistryError as exc:
            if exc.code in TYPE_REJECTION_CODES:
                raise ManifestTypeRejected.of(exc) from exc
            raise
        header = parse_digest_header(announced, f"manifest {target}")
        if header is not None and header != digest:
            raise ProtocolError(f"manifest {target}: the registry stored it as {header}, "
                                f"but its digest is {digest}")
        self.manifest_digest = digest

    def publish(self) -> None:
        """Nothing to do: a registry shows each manifest as soon as it is put."""

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for location in sessions:
            self._client.cancel_upload(location)
        self._client.close()
