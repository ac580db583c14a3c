"""Transport-prefixed image references (containers-transports(5)) as plain data.

``TRANSPORT:DETAILS`` where the details depend on the transport. Only the syntax lives
here; the transports layer turns a :class:`TransportReference` into something that can
open a source or destination. Parsing matches containers/image's ``ParseReference``
functions, so a string skopeo accepts parses here, and each rejection names the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.model.reference import Reference, ReferenceError
from harness.util.errors import HarnessError

DOCKER = "docker"
OCI = "oci"
OCI_ARCHIVE = "oci-archive"
DIR = "dir"
DOCKER_ARCHIVE = "docker-archive"
CONTAINERS_STORAGE = "containers-storage"
HARNESS_STORE = "harness-store"
DOCKER_DAEMON = "docker-daemon"
TRANSPORTS = (DOCKER, OCI, OCI_ARCHIVE, DIR, DOCKER_ARCHIVE, CONTAINERS_STORAGE, HARNESS_STORE,
              DOCKER_DAEMON)


def has_transport_prefix(text: str) -> bool:
    """Whether *text* starts with a known ``transport:`` (``oci:x`` does, ``demo:v1`` does
    not): what tells a local image name from a transport reference, without importing
    any transport."""
    name, colon, _ = text.partition(":")
    return bool(colon) and name in TRANSPORTS

# The name stored in an OCI layout's ref.name annotation (containers/image oci/internal):
# alphanumeric runs joined by one of -._:@+ or "--", in /-separated components.
_OCI_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_OCI_IMAGE_NAME = re.compile(rf"{_OCI_COMPONENT}(?:/{_OCI_COMPONENT})*")
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")
_SOURCE_INDEX = re.compile(r"@([0-9]{1,19})")  # int64, as strconv.Atoi takes it


class TransportReferenceError(HarnessError, ValueError):
    """A transport-prefixed reference is malformed; the message names the rule."""


@dataclass(frozen=True)
class StorageSpec:
    """The optional ``[driver@root+runroot:options]`` prefix of containers-storage."""

    driver: str | None = None
    root: str | None = None
    run_root: str | None = None
    options: tuple[str, ...] = ()

    def __str__(self) -> str:
        driver = f"{self.driver}@" if self.driver else ""
        run_root = f"+{self.run_root}" if self.run_root else ""
        options = ":" + ",".join(self.options) if self.options else ""
        return f"[{driver}{self.root or ''}{run_root}{options}]"


@dataclass(frozen=True)
class TransportReference:
    """A parsed ``transport:details`` string.

    Names without tag or digest get ``:latest`` here, as containers/image's parsers do.
    Which fields are set depends on :attr:`transport`: ``docker`` sets :attr:`reference`;
    ``oci``/``oci-archive`` set :attr:`path` and maybe :attr:`image_name`; ``dir`` sets
    :attr:`path`; ``docker-archive`` sets :attr:`path` and maybe :attr:`reference` (always
    tagged) or :attr:`source_index`; ``containers-storage`` and ``harness-store`` set
    :attr:`reference` and/or :attr:`image_id`, and :attr:`storage` when the store was
    named (``harness-store`` takes only a root); ``docker-daemon`` sets :attr:`reference`
    or :attr:`image_id` (``sha256:HEX``, a source only).
    """

    transport: str
    path: str | None = None
    reference: Reference | None = None
    image_name: str | None = None
    source_index: int | None = None
    image_id: str | None = None
    storage: StorageSpec | None = None

    def __str__(self) -> str:
        if self.transport == DOCKER_DAEMON:
            return f"docker-daemon:{self.image_id or self.reference}"
        if self.transport == DOCKER:
            return f"docker://{self.reference}"
        if self.transport == DIR:
            return f"dir:{self.path}"
        if self.transport in (OCI, OCI_ARCHIVE):
            suffix = f":{self.image_name}" if self.image_name else ""
            return f"{self.transport}:{self.path}{suffix}"
        if self.transport == DOCKER_ARCHIVE:
            if self.reference is not None:
                return f"docker-archive:{self.path}:{self.reference}"
            if self.source_index is not None:
                return f"docker-archive:{self.path}:@{self.source_index}"
            return f"docker-archive:{self.path}"
        store = str(self.storage) if self.storage else ""
        image = str(self.reference) if self.reference else ""
        if self.image_id:
            image = f"{image}@{self.image_id}" if image else self.image_id
        return f"{self.transport}:{store}{image}"


def _error(text: str, rule: str) -> TransportReferenceError:
    return TransportReferenceError(f"invalid image reference {text!r}: {rule}")


def _tagged_name(text: str, value: str) -> Reference:
    """A name as containers/image's ``TagNameOnly`` leaves it: no tag or digest means :latest."""
    try:
        reference = Reference.parse(value)
    except ReferenceError as exc:
        raise _error(text, str(exc)) from exc
    if reference.tag is None and reference.digest is None:
        return reference.with_tag("latest")
    return reference


def _parse_docker_daemon(text: str, details: str) -> TransportReference:
    """``docker-daemon:NAME[:TAG]`` or ``docker-daemon:sha256:ID`` (containers/image's
    docker/daemon ParseReference)."""
    if details.startswith("sha256:") and _IMAGE_ID.fullmatch(details[7:]):
        return TransportReference(DOCKER_DAEMON, image_id=details)
    reference = _tagged_name(text, details)
    if reference.tag is not None and reference.digest is not None:
        raise _error(text, "docker-daemon: references with both a tag and a digest are not "
                           "supported")
    return TransportReference(DOCKER_DAEMON, reference=reference)


def _parse_docker(text: str, details: str) -> TransportReference:
    if not details.startswith("//"):
        raise _error(text, "docker: references must start with 'docker://'")
    reference = _tagged_name(text, details[2:])
    if reference.tag is not None and reference.digest is not None:
        raise _error(text, "docker: references with both a tag and a digest are not supported")
    return TransportReference(DOCKER, reference=reference)


def _parse_oci(text: str, transport: str, details: str) -> TransportReference:
    path, _, image_name = details.partition(":")
    if not path:
        raise _error(text, f"{transport}: the path must not be empty")
    if image_name and not _OCI_IMAGE_NAME.fullmatch(image_name):
        raise _error(text, f"{transport}: the image name must match [A-Za-z0-9]+ runs joined "
                     "by one of -._:@+ or '--', in '/'-separated components")
    return TransportReference(transport, path=path, image_name=image_name or None)


def _parse_dir(text: str, details: str) -> TransportReference:
    if not details:
        raise _error(text, "dir: the path must not be empty")
    return TransportReference(DIR, path=details)


def _parse_docker_archive(text: str, details: str) -> TransportReference:
    path, _, ref = details.partition(":")
    if not path:
        raise _error(text, "docker-archive: the path must not be empty")
    if not ref:
        return TransportReference(DOCKER_ARCHIVE, path=path)
    if index := _SOURCE_INDEX.fullmatch(ref):
        return TransportReference(DOCKER_ARCHIVE, path=path, source_index=int(index[1]))
    if ref.startswith("@"):
        raise _error(text, "docker-archive: '@' must be followed by a decimal image index")
    reference = _tagged_name(text, ref)
    if reference.digest is not None:
        raise _error(text, "docker-archive: digest references are not supported")
    return TransportReference(DOCKER_ARCHIVE, path=path, reference=reference)


def _parse_storage_spec(text: str, transport: str, spec: str) -> StorageSpec:
    if not spec:
        raise _error(text, f"{transport}: the store spec in [] must not be empty")
    driver, at, rest = spec.partition("@")
    if not at:
        driver, rest = "", spec
    elif not driver or not rest:
        raise _error(text, f"{transport}: [driver@root] needs both a driver and a root")
    rest, colon, options = rest.partition(":")
    root, _, run_root = rest.partition("+")
    if root and not root.startswith("/"):
        raise _error(text, f"{transport}: the store root must be an absolute path")
    if run_root and not run_root.startswith("/"):
        raise _error(text, f"{transport}: the run root must be an absolute path")
    if colon and not options:
        raise _error(text, f"{transport}: ':' in the store spec needs driver options")
    return StorageSpec(
        driver=driver or None,
        root=root or None,
        run_root=run_root or None,
        options=tuple(options.split(",")) if options else (),
    )


def parse_storage_spec(text: str) -> StorageSpec | None:
    """A containers-storage store named alone: ``[driver@root+runroot:options]``, or ""
    for the configured one."""
    if not text:
        return None
    if not (text.startswith("[") and text.endswith("]")):
        raise _error(text, "containers-storage: a store is named as [driver@root+runroot]")
    return _parse_storage_spec(text, CONTAINERS_STORAGE, text[1:-1])


def _parse_storage(text: str, transport: str, details: str) -> TransportReference:
    storage = None
    if details.startswith("["):
        close = details.find("]")
        if close < 0:
            raise _error(text, f"{transport}: '[' of the store spec has no matching ']'")
        storage = _parse_storage_spec(text, transport, details[1:close])
        details = details[close + 1 :]
        if transport == HARNESS_STORE and storage != StorageSpec(root=storage.root):
            raise _error(text, "harness-store: the store spec is [ROOT]; drivers, run roots "
                         "and options belong to containers-storage:")
    if not details:
        raise _error(text, f"{transport}: an image name or ID is required")
    if _IMAGE_ID.fullmatch(details):
        return TransportReference(transport, image_id=details, storage=storage)
    name, at, image_id = details.rpartition("@")
    if not (at and _IMAGE_ID.fullmatch(image_id)):
        name, image_id = details, ""
    reference = _tagged_name(text, name) if name else None
    return TransportReference(transport, reference=reference,
                              image_id=image_id or None, storage=storage)





def parse_transport_reference(text: str) -> TransportReference:
    """Parse ``transport:details``; raise :class:`TransportReferenceError` naming the rule."""
    transport, colon, details = text.partition(":")
    if not colon:
        raise _error(text, "expected TRANSPORT:DETAILS, e.g. docker://busybox or oci:/dir:tag")
    if transport == DOCKER:
        return _parse_docker(text, details)
    if transport in (OCI, OCI_ARCHIVE):
        return _parse_oci(text, transport, details)
    if transport == DIR:
        return _parse_dir(text, details)
    if transport == DOCKER_ARCHIVE:
        return _parse_docker_archive(text, details)
    if transport in (CONTAINERS_STORAGE, HARNESS_STORE):
        return _parse_storage(text, transport, details)
    if transport == DOCKER_DAEMON:
        return _parse_docker_daemon(text, details)
    raise _error(text, f"unknown transport {transport!r}; known: {', '.join(TRANSPORTS)}")
