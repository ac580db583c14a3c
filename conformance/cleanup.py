"""What a check wrote to the registry, and taking it away again afterwards.

The suite pushes small random blobs and manifests (and tags) into the repositories it is
given. Against a registry it does not own (``--registry URL``) it deletes them after each
check, manifests by digest first (their tags go with them), then blobs, unless ``--keep``;
what the registry refuses to delete is reported. Registries the suite starts itself are
thrown away whole, so nothing is swept there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import requests

if TYPE_CHECKING:
    from conformance.client import Client

_MANIFEST = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")
_UPLOAD = re.compile(r"^/v2/(.+)/blobs/uploads/")


@dataclass(frozen=True, order=True)
class Written:
    """One object the suite stored: ``manifests`` or ``blobs`` of a repository, by digest."""

    kind: str
    repository: str
    digest: str

    def __str__(self) -> str:
        return f"{self.repository}/{self.kind}/{self.digest}"


@dataclass
class Ledger:
    """Everything successful writes stored, in the order they were stored."""

    written: list[Written] = field(default_factory=list)

    def note(self, response: requests.Response) -> None:
        """Remember what *response* says was stored (a 201 to a manifest PUT, an upload's
        closing PUT, a single POST or a mount)."""
        if response.status_code != 201:
            return
        request = response.request
        parts = urlsplit(str(request.url))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        manifest = _MANIFEST.match(parts.path)
        if request.method == "PUT" and manifest:
            name, reference = manifest.groups()
            digest = response.headers.get("Docker-Content-Digest") or reference
            if ":" in digest:
                self.remember(Written("manifests", name, digest))
            return
        upload = _UPLOAD.match(parts.path)
        digest = query.get("digest") or query.get("mount")
        if upload and digest and request.method in {"PUT", "POST"}:
            self.remember(Written("blobs", upload.group(1), digest))

    def remember(self, item: Written) -> None:
        if item not in self.written:
            self.written.append(item)

    def sweep(self, client: Client) -> list[str]:
        """Delete what was written (manifests, then blobs); return what could not be, each
        with the registry's answer. 404 counts as deleted (the check may have done it)."""
        left = []
        for item in sorted(self.written, key=lambda w: w.kind != "manifests"):
            try:
                answer = client.request("DELETE", f"/v2/{item.repository}/{item.kind}/"
                                                  f"{item.digest}")
            except requests.RequestException as exc:
                left.append(f"{item} ({type(exc).__name__})")
                continue
            if answer.status_code not in {200, 202, 204, 404}:
                left.append(f"{item} ({answer.status_code})")
        self.written.clear()
        return left
