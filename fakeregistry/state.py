"""Repositories: blob links, manifests and tags, guarded by one lock.

Every change happens under :attr:`State.lock`, and a tag is only ever pointed at a
manifest that is already stored, so concurrent pushes to one tag never expose a
half-written manifest. With a storage directory the state is saved as JSON after each
change (atomically), so a registry restarted on the same directory sees the same content.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from harness.model.digest import Digest
from harness.util.errors import HarnessError
from harness.util.fs import atomic_write_bytes


@dataclass
class StoredManifest:
    """What the registry remembers about a manifest besides its bytes."""

    media_type: str
    size: int
    references: frozenset[Digest] = frozenset()
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "media_type": self.media_type,
            "size": self.size,
            "references": sorted(str(d) for d in self.references),
            "subject": str(self.subject) if self.subject else None,
            "artifact_type": self.artifact_type,
            "annotations": self.annotations,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StoredManifest:
        refs = data.get("references") or []
        subject = data.get("subject")
        annotations = data.get("annotations")
        artifact_type = data.get("artifact_type")
        assert isinstance(refs, list)
        return cls(
            media_type=str(data["media_type"]),
            size=int(str(data["size"])),
            references=frozenset(Digest.parse(str(d)) for d in refs),
            subject=Digest.parse(str(subject)) if subject else None,
            artifact_type=str(artifact_type) if artifact_type else None,
            annotations=annotations if isinstance(annotations, dict) else None,
        )


@dataclass
class Repository:
    blobs: set[Digest] = field(default_factory=set)
    manifests: dict[Digest, StoredManifest] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)

    def referenced_blobs(self) -> set[Digest]:
        """Blobs some stored manifest references (what ECR lets one mount)."""
        return {d for m in self.manifests.values() for d in m.references}


class State:
    """All repositories by name; ``save`` persists them when a path is set."""

    def __init__(self, path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.repositories: dict[str, Repository] = {}
        self._path = path
        if path is not None and path.exists():
            self._load(path)

    def repository(self, name: str) -> Repository | None:
        return self.repositories.get(name)

    def ensure(self, name: str) -> Repository:
        return self.repositories.setdefault(name, Repository())

    def save(self) -> None:
        """Persist (call with the lock held, after a change)."""
        if self._path is None:
            return
        data = {
            name: {
                "blobs": sorted(str(d) for d in repo.blobs),
                "manifests": {str(d): m.to_json() for d, m in repo.manifests.items()},
                "tags": {tag: str(d) for tag, d in repo.tags.items()},
            }
            for name, repo in self.repositories.items()
        }
        atomic_write_bytes(self._path, json.dumps(data, sort_keys=True).encode())

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
            for name, entry in data.items():
                self.repositories[name] = Repository(
                    blobs={Digest.parse(d) for d in entry["blobs"]},
                    manifests={Digest.parse(d): StoredManifest.from_json(m)
                               for d, m in entry["manifests"].items()},
                    tags={tag: Digest.parse(d) for tag, d in entry["tags"].items()},
                )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"{path} is not a registry state file ({exc})") from None


class StateError(HarnessError):
    """A storage directory whose state file was not written by this registry."""
