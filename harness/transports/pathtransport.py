"""Policy scopes of the path-based transports (``oci:``, ``dir:``, the archives).

As in containers/image, a path reference is identified by its resolved absolute path
(symlinks followed, so two spellings of one folder share a policy), and its less specific
scopes are the parent folders up to, but not including, ``/``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from harness.transports.types import ImageReference, Transport
from harness.util.errors import HarnessError


def resolve_path(path: str) -> Path:
    """The absolute, symlink-free form of *path*, which need not exist yet."""
    if not path:
        raise HarnessError("empty path in image reference")
    return Path(path).resolve()


def path_identity(resolved: Path, image: str = "") -> str:
    """``/abs/path`` or ``/abs/path:image``."""
    return f"{resolved}:{image}" if image else str(resolved)


def path_namespaces(resolved: Path, image: str = "") -> list[str]:
    """The folder itself (when *image* narrowed the identity) then every parent but ``/``."""
    scopes = [str(resolved)] if image else []
    scopes += [str(parent) for parent in resolved.parents if str(parent) != "/"]
    return scopes


def validate_path_scope(transport: str, scope: str) -> None:
    """A scope for a path transport must be a clean absolute path (an image suffix allowed)."""
    folder = scope.split(":", 1)[0]
    if not folder.startswith("/"):
        raise HarnessError(f"{transport}: invalid policy scope {scope!r}: must be an absolute path")
    if folder != "/" and str(PurePosixPath(os.path.normpath(folder))) != folder:
        raise HarnessError(f"{transport}: invalid policy scope {scope!r}: path is not clean")


class PathReference(ImageReference):
    """A reference to a file or folder, with an optional image name after ``:``.

    Shared by the path transports: identity and scopes come from the resolved path.
    """

    def __init__(self, path: str, image: str = "") -> None:
        self.path = path
        self.image = image
        self.resolved = resolve_path(path)

    def string_within_transport(self) -> str:
        return f"{self.path}:{self.image}" if self.image else self.path

    def policy_configuration_identity(self) -> str:
        return path_identity(self.resolved, self.image)

    def policy_configuration_namespaces(self) -> list[str]:
        return path_namespaces(self.resolved, self.image)


class PathTransport(Transport):
    """A transport whose references are paths: policy scopes are clean absolute paths."""

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(self.name, scope)
