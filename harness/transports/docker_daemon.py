"""``docker-daemon:``: images in a Docker engine, through the Docker SDK.

As containers/image's docker/daemon transport: a source streams ``docker save`` (the
engine's ``GET /images/NAME/get``) into a temporary docker-archive and reads it as one;
a destination writes a docker-archive and streams it to ``docker load`` (``POST
/images/load``) when the copy publishes. The engine is the one ``DOCKER_HOST`` names
(else the local socket); ``--src-daemon-host``/``--dest-daemon-host`` (the context's
``extra["docker-daemon-host"]``) name another.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from harness.model import transportref
from harness.model.digest import Digest
from harness.model.reference import Reference
from harness.transports.docker_archive import (
    DockerArchiveImageDestination,
    DockerArchiveImageSource,
    DockerArchiveReference,
)
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

DAEMON_HOST_KEY = "docker-daemon-host"
_PIECE = 1 << 20
_ARCHIVE = "image.tar"
_T = TypeVar("_T")


class DockerDaemonError(HarnessError):
    """The engine could not be reached, or refused the image."""


def _client(ctx: SystemContext) -> Any:
    import docker  # noqa: PLC0415  (only this transport needs the SDK)

    host = ctx.extra.get(DAEMON_HOST_KEY)
    try:
        return docker.DockerClient(base_url=host) if host else docker.from_env()
    except docker.errors.DockerException as exc:
        raise DockerDaemonError(f"docker-daemon: cannot reach the Docker engine "
                                f"({host or 'DOCKER_HOST or the local socket'}): "
                                f"{_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).splitlines()[0] if str(explanation or exc) else \
        type(exc).__name__


def _in_scratch(make: Callable[[Path], _T]) -> tuple[Path, _T]:
    """A new temporary folder and what *make* builds on its archive path; the folder is
    removed if that fails (and by the caller's close otherwise)."""
    directory = Path(tempfile.mkdtemp(prefix="oci-harness-docker-daemon-"))
    try:
        return directory, make(directory / _ARCHIVE)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


class DockerDaemonTransport(Transport):
    name = transportref.DOCKER_DAEMON

    def parse_reference(self, reference: str) -> ImageReference:
        parsed = transportref.parse_transport_reference(f"{self.name}:{reference}")
        return DockerDaemonReference(parsed.reference, parsed.image_id)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        # containers/image: the daemon has no scopes beyond the default one.
        raise HarnessError(f'docker-daemon: policy scope {scope!r}: only the default "" '
                           "scope applies to this transport")


TRANSPORT = DockerDaemonTransport()


class DockerDaemonReference(ImageReference):
    """A name (always tagged or digested) or ``sha256:ID`` (a source only)."""

    def __init__(self, name: Reference | None, image_id: str | None = None) -> None:
        self.name = name
        self.image_id = image_id

    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return self.image_id or str(self.name)

    def docker_reference(self) -> Reference | None:
        return self.name

    def policy_configuration_identity(self) -> str:
        return ""  # containers/image: the engine's images have no policy identity

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return DockerDaemonImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        if self.name is None or self.name.tag is None:
            raise HarnessError(f"docker-daemon:{self.string_within_transport()}: a destination "
                               "needs a name with a tag")
        return DockerDaemonImageDestination(self, ctx)


class DockerDaemonImageSource(ImageSource):
    """``docker save`` streamed into a temporary archive, then read as docker-archive."""

    def __init__(self, ref: DockerDaemonReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        self._dir, self._archive = _in_scratch(self._save)

    def _save(self, archive: Path) -> DockerArchiveImageSource:
        import docker  # noqa: PLC0415

        client = _client(self._ctx)
        wanted = self._ref.string_within_transport()
        try:
            with archive.open("wb") as out:
                for piece in client.api.get_image(wanted, chunk_size=_PIECE):
                    out.write(piece)
        except docker.errors.NotFound:
            raise DockerDaemonError(f"docker-daemon:{wanted}: no such image in the "
                                    "Docker engine") from None
        except docker.errors.DockerException as exc:
            raise DockerDaemonError(f"docker-daemon:{wanted}: docker save failed: "
                                    f"{_reason(exc)}") from None
        finally:
            client.close()
        # The archive names the image as the engine does; choose it by that name.
        name = self._ref.name
        return DockerArchiveImageSource(DockerArchiveReference(
            str(archive), name if name is not None and name.tag is not None else None))

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        return self._archive.get_manifest(instance)

    def has_thread_safe_get_blob(self) -> bool:
        return True

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        return self._archive.get_blob(info)

    def close(self) -> None:
        self._archive.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class DockerDaemonImageDestination(ImageDestination):
    """A docker-archive written to a temporary file, loaded into the engine on publish."""

    def __init__(self, ref: DockerDaemonReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        self._dir, self._archive = _in_scratch(
            lambda path: DockerArchiveImageDestination(DockerArchiveReference(str(path),
                                                                              ref.name)))

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def supported_manifest_mime_types(self) -> list[str]:
        return self._archive.supported_manifest_mime_types()

    def desired_layer_compression(self) -> LayerCompression:
        """Unlike a docker-archive file, the engine takes layers as they come
        (containers/image 5.23's ``daemonImageDestination``): ``docker load`` decompresses
        them itself."""
        return LayerCompression.PRESERVE

    def has_thread_safe_put_blob(self) -> bool:
        return self._archive.has_thread_safe_put_blob()

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        return self._archive.put_blob(stream, info, is_config)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        return self._archive.try_reusing_blob(info)

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        self._archive.put_manifest(manifest, mime_type, instance)

    def publish(self) -> None:
        """Write the archive, then stream it to the engine's ``docker load``."""
        import docker  # noqa: PLC0415

        self._archive.publish()
        client = _client(self._ctx)
        try:
            with (self._dir / _ARCHIVE).open("rb") as archive:
                answers = client.api.load_image(archive)
                for answer in answers:
                    if isinstance(answer, dict) and answer.get("error"):
                        raise DockerDaemonError(f"docker-daemon:{self._ref.name}: docker "
                                                f"load refused the image: {answer['error']}")
        except docker.errors.DockerException as exc:
            raise DockerDaemonError(f"docker-daemon:{self._ref.name}: docker load failed: "
                                    f"{_reason(exc)}") from None
        finally:
            client.close()

    def close(self) -> None:
        self._archive.close()
        shutil.rmtree(self._dir, ignore_errors=True)
