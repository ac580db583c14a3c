"""Which repositories of which registries are known to hold a blob (containers/image's
BlobInfoCache, in process only): a push mounts a blob from a sibling repository instead of
uploading it again."""

from __future__ import annotations

import threading
from collections import OrderedDict

from harness.model.digest import Digest

MAX_DIGESTS = 4096  # oldest digests are forgotten first
MAX_LOCATIONS = 16  # per digest, newest kept


class BlobLocationCache:
    """Thread-safe, bounded map: digest -> (registry, repository) pairs, newest first."""

    def __init__(self) -> None:
        self._known: OrderedDict[Digest, list[tuple[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, digest: Digest, registry: str, repository: str) -> None:
        """Remember that *repository* on *registry* holds *digest*."""
        with self._lock:
            locations = self._known.pop(digest, [])
            location = (registry, repository)
            if location in locations:
                locations.remove(location)
            self._known[digest] = [location, *locations][:MAX_LOCATIONS]
            while len(self._known) > MAX_DIGESTS:
                self._known.popitem(last=False)

    def candidates(self, digest: Digest, registry: str, exclude: str) -> list[str]:
        """Repositories on *registry* other than *exclude* known to hold *digest*."""
        with self._lock:
            return [repo for reg, repo in self._known.get(digest, [])
                    if reg == registry and repo != exclude]


# The process-wide cache every docker:// source and destination shares.
BLOB_LOCATIONS = BlobLocationCache()
