"""What every resource shares: the storage seam (blobs and repositories) and the profile.

The profile is read on each request, never copied, so a test may swap it while the
registry runs (``registry.profile = ...``) and the next request follows the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from fakeregistry.errors import RegistryError
from fakeregistry.profiles import Profile
from fakeregistry.state import Repository, State
from fakeregistry.storage import BlobStore
from harness.model.digest import Digest


@dataclass
class Backend:
    """Blob bytes, repository metadata, and the behaviour switches in force."""

    blobs: BlobStore
    state: State
    profile: Profile

    def repository(self, name: str) -> Repository:
        """The repository *name* (call with the state lock held); NAME_UNKNOWN if absent."""
        repo = self.state.repository(name)
        if repo is None:
            raise RegistryError("NAME_UNKNOWN", f"repository {name} is not known",
                                detail={"name": name})
        return repo

    def has_blob(self, repo: Repository, digest: Digest) -> bool:
        """Linked into *repo* and present in the blob store."""
        return digest in repo.blobs and self.blobs.size(digest) is not None

    def link(self, name: str, digest: Digest) -> None:
        """Make a stored blob readable in repository *name*."""
        with self.state.lock:
            self.state.ensure(name).blobs.add(digest)
            self.state.save()

    def require_delete(self) -> None:
        if not self.profile.delete:
            raise RegistryError("UNSUPPORTED", "deletes are disabled on this registry")
