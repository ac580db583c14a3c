"""The abstraction every transport implements; the copy engine sees only this.

Mirrors containers/image's ``types.go``: a :class:`Transport` parses the part of a
reference after its prefix into an :class:`ImageReference`, which opens an
:class:`ImageSource` to read or an :class:`ImageDestination` to write.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

# Credentials lived here first; importers elsewhere still find it (an explicit re-export).
from harness.model.credentials import Credentials as Credentials  # noqa: PLC0414
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.limits import MAX_CONFIG_SIZE, read_limited
from harness.model.platforms import PlatformChoice
from harness.util.errors import HarnessError
from harness.util.retry import Retries, RetryPolicy

if TYPE_CHECKING:
    from harness.model.access import RegistryAccess


class TransientError(HarnessError):
    """A failure that may pass when tried again later (a destination that could not be
    reached): whole-copy retries (``--retry-times``) start over on these."""


class ManifestTypeRejectedError(HarnessError):
    """The destination refused a manifest for its type (containers/image's
    ``ManifestTypeRejectedError``): a copy tries its next candidate type."""


class UploadInterruptedError(HarnessError):
    """``put_blob`` broke, the destination kept nothing usable, and the stream cannot go
    back: the copy may succeed if the caller sends the blob again from its source.

    ``sent`` is how far the stream was read; ``digest`` is the stream's digest when it had
    been read to its end (a fresh copy must then hash the same), else None.
    """

    def __init__(self, message: str, sent: int, digest: Digest | None) -> None:
        super().__init__(message)
        self.sent = sent
        self.digest = digest


@dataclass
class SystemContext:
    """Settings that reach every transport: credentials, TLS, retries (containers/image's
    ``types.SystemContext``, reduced to what this project honours)."""

    credentials: Credentials | None = None
    no_credentials: bool = False  # anonymous even when an auth file has credentials
    auth_file: Path | None = None
    registry_token: str | None = field(default=None, repr=False)  # a secret: never printed
    tls_verify: bool = True
    ca_file: Path | None = None
    cert_dir: Path | None = None
    retry_times: int = 3  # buildah's --retry and --retry-delay defaults
    retry_delay: float = 2.0
    user_agent: str = "oci-harness/0.1"
    store_root: Path | None = None
    signature_policy_path: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # skopeo's --additional-tag: more RepoTags for a docker-archive: destination, each
    # ``domain/path:tag`` (containers/image's DockerArchiveAdditionalTags).
    docker_archive_additional_tags: tuple[str, ...] = ()
    # ArchitectureChoice/OSChoice/VariantChoice: the image taken from an index when one
    # image is copied or inspected (skopeo's --override-arch/-os/-variant).
    platform_choice: PlatformChoice = field(default_factory=PlatformChoice)
    # OCIAcceptUncompressedLayers: an oci:/oci-archive: destination keeps uncompressed
    # layers (skopeo's --dest-oci-accept-uncompressed-layers) instead of compressing them.
    oci_accept_uncompressed_layers: bool = False
    # DirForceCompress / DirForceDecompress: a dir: destination compresses (skopeo's
    # --dest-compress) or decompresses (--dest-decompress) layers instead of keeping them.
    dir_force_compress: bool = False
    dir_force_decompress: bool = False
    # The retry budget of the operation in progress, shared by every request and the
    # whole-copy loop (see harness.util.retry); None: each registry client counts its own.
    retries: Retries | None = field(default=None, repr=False, compare=False)

    def retry_budget(self) -> Retries:
        """The operation's budget, or a new one from ``retry_times`` and ``retry_delay``."""
        if self.retries is not None:
            return self.retries
        return RetryPolicy(self.retry_times, self.retry_delay).start()

    @classmethod
    def reaching(cls, access: RegistryAccess, **settings: Any) -> SystemContext:
        """The context that reaches the registry *access* describes (its credentials or
        token and TLS trust; plain HTTP allowed when it is insecure or http://), with the
        other *settings* (``retry_times=``...) as given."""
        return cls(credentials=access.credentials, registry_token=access.token,
                   tls_verify=access.tls_verify, ca_file=access.ca_file,
                   cert_dir=access.cert_dir, **settings)


@dataclass(frozen=True)
class BlobInfo:
    """What is known of a blob: at least its digest or, while writing, its size."""

    digest: Digest | None = None
    size: int = -1
    media_type: str = ""
    urls: tuple[str, ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, descriptor: Descriptor) -> BlobInfo:
        """The blob a manifest's descriptor names."""
        return cls(digest=descriptor.digest, size=descriptor.size,
                   media_type=descriptor.media_type)


class LayerCompression(enum.Enum):
    """What a destination wants done to layers (containers/image's LayerCompression)."""

    PRESERVE = "preserve"
    COMPRESS = "compress"
    DECOMPRESS = "decompress"


class ImageSource(ABC):
    """Reads one image (or index) from a transport."""

    @property
    @abstractmethod
    def reference(self) -> ImageReference: ...

    @abstractmethod
    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        """The manifest bytes and media type; *instance* picks a child of an index."""

    @abstractmethod
    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        """A stream of the blob's bytes and its size (-1 when unknown). Caller closes it."""

    def has_thread_safe_get_blob(self) -> bool:
        """Whether :meth:`get_blob` may be called from several threads at once; a copy
        runs layers in parallel only when its source and its destination both allow it
        (as in containers/image, whose values each transport here takes)."""
        return False

    def get_signatures(self, instance: Digest | None = None) -> list[bytes]:
        """Detached signatures stored beside the image; most transports have none."""
        return []

    def repository_tags(self) -> list[str]:
        """The tags of the repository the image lives in (skopeo inspect's ``RepoTags``),
        for transports that have repositories; empty for the others."""
        return []

    def close(self) -> None:
        """Release what the source holds (connections, extracted archives)."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDestination(ABC):
    """Writes one image to a transport; nothing is visible until :meth:`publish`."""

    @property
    @abstractmethod
    def reference(self) -> ImageReference: ...

    def supported_manifest_mime_types(self) -> list[str]:
        """Manifest types this destination takes, preferred first; empty means any."""
        return []

    def desired_layer_compression(self) -> LayerCompression:
        return LayerCompression.PRESERVE

    def has_thread_safe_put_blob(self) -> bool:
        """Whether :meth:`put_blob` may be called from several threads at once: the
        value of containers/image's transport of the same name (its ``dir:`` and
        ``docker-archive:`` destinations take one blob at a time), since it decides which
        copies run in parallel and so the order of the report lines."""
        return False

    @abstractmethod
    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        """Store the stream's bytes; return the stored blob's digest and size.

        ``info.digest`` may be None: the destination computes it while streaming.
        """

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """Return the blob's info if the destination already has it (or mounts it)."""
        return None

    @abstractmethod
    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        """Store the manifest; *instance* is set when writing a child of an index.

        Raises :class:`ManifestTypeRejectedError` when the destination refuses this type
        of manifest, not this manifest: the copy then tries another type.
        """

    def supports_signatures(self) -> bool:
        """Whether :meth:`put_signatures` can store any; asked before a signed image is
        copied, so a copy that would lose its signatures stops before writing anything."""
        return False

    def put_signatures(self, signatures: list[bytes], instance: Digest | None = None) -> None:
        if signatures:
            raise NotImplementedError("this destination cannot store signatures")

    @abstractmethod
    def publish(self) -> None:
        """Make everything written visible at once."""

    def close(self) -> None:
        """Release what the destination holds; without :meth:`publish` nothing remains."""

    def __enter__(self) -> ImageDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageReference(ABC):
    """A transport-specific name of an image."""

    @property
    @abstractmethod
    def transport(self) -> Transport: ...

    @abstractmethod
    def string_within_transport(self) -> str:
        """The reference without the transport prefix, parseable by the same transport."""

    def docker_reference(self) -> object | None:
        """The named docker reference (``harness.model.reference.Reference``), if any."""
        return None

    @abstractmethod
    def policy_configuration_identity(self) -> str:
        """The most specific policy.json scope for this reference."""

    def policy_configuration_namespaces(self) -> list[str]:
        """Less specific policy.json scopes, most specific first."""
        return []

    @abstractmethod
    def new_image_source(self, ctx: SystemContext) -> ImageSource: ...

    @abstractmethod
    def new_image_destination(self, ctx: SystemContext) -> ImageDestination: ...

    def delete_image(self, ctx: SystemContext) -> None:
        raise NotImplementedError(f"{self.transport.name}: deleting images is not supported")

    def __str__(self) -> str:
        return f"{self.transport.name}:{self.string_within_transport()}"


class Transport(ABC):
    """A named way to reach images (``docker``, ``oci``, ``dir``...)."""

    name: str

    @abstractmethod
    def parse_reference(self, reference: str) -> ImageReference:
        """Parse the text after ``NAME:``; raise a HarnessError naming the rule broken."""

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """Raise a HarnessError when *scope* is not a valid policy.json scope here."""


def read_config(source: ImageSource, config: Descriptor) -> bytes:
    """The config blob, whole (it is small), checked against its digest.

    The source is untrusted: a manifest may name any blob as its config, so reading stops
    past the model's limit for configs instead of taking a layer into memory.
    """
    stream, _ = source.get_blob(BlobInfo.of(config))
    with stream:
        data = read_limited(stream, MAX_CONFIG_SIZE, f"config {config.digest}")
    if Digest.from_bytes(data, config.digest.algorithm) != config.digest:
        raise HarnessError(f"config {config.digest}: content does not match its digest")
    return data
