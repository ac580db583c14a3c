"""Registry operations on one repository, in the plainest form of the API.

Checks use these to prepare state (push the blobs a manifest needs, tag something) and
write the request under test out in full, so a report shows exactly what was asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from conformance.client import Client
from conformance.content import Blob, Manifest
from conformance.expect import SetupFailed, setup_step
from harness.model.digest import Digest


def unique_tag(prefix: str = "t") -> str:
    """A tag no other check or run uses."""
    return f"{prefix}-{os.urandom(5).hex()}"


@dataclass
class Repo:
    """One repository on the target registry."""

    client: Client
    name: str

    def path(self, *parts: str | Digest) -> str:
        """``/v2/<name>/<part>/<part>...``, e.g. ``path("blobs", digest)``."""
        return "/".join(["/v2", self.name, *map(str, parts)])

    # --- blobs ---------------------------------------------------------------------------

    def start_upload(self, params: Mapping[str, str] | None = None) -> requests.Response:
        return self.client.request("POST", self.path("blobs", "uploads", ""), params=params)

    def upload_location(self) -> str:
        """Open an upload session and return its Location."""
        response = setup_step(self.start_upload(), 202)
        location = response.headers.get("Location")
        if not location:
            raise SetupFailed("POST blobs/uploads/ answered 202 without Location")
        return location

    def finish_upload(self, location: str, digest: Digest | str, data: bytes = b"",
                      headers: Mapping[str, str] | None = None) -> requests.Response:
        """PUT <location>?digest=...; the location may already carry a query."""
        joiner = "&" if "?" in location else "?"
        return self.client.request(
            "PUT", f"{location}{joiner}digest={digest}", data=data,
            headers={"Content-Type": "application/octet-stream", **(headers or {})})

    def push_blob(self, blob: Blob) -> None:
        """POST then PUT with the whole body: the flow every registry supports."""
        setup_step(self.finish_upload(self.upload_location(), blob.digest, blob.data), 201)

    def get_blob(self, digest: Digest | str, method: str = "GET",
                 headers: Mapping[str, str] | None = None,
                 stream: bool = False) -> requests.Response:
        return self.client.request(method, self.path("blobs", digest), headers=headers,
                                   stream=stream)

    # --- manifests -----------------------------------------------------------------------

    def put_manifest(self, manifest: Manifest, ref: str | Digest) -> requests.Response:
        return self.client.request("PUT", self.path("manifests", ref), data=manifest.data,
                                   headers={"Content-Type": manifest.media_type})

    def push(self, manifest: Manifest, ref: str | Digest | None = None) -> Manifest:
        """Push the blobs and children of *manifest*, then the manifest (by digest if no ref)."""
        for blob in manifest.blobs:
            self.push_blob(blob)
        for child in manifest.children:
            self.push(child)
        setup_step(self.put_manifest(manifest, ref or manifest.digest), 201)
        return manifest

    def get_manifest(self, ref: str | Digest, method: str = "GET",
                     accept: str | None = None) -> requests.Response:
        headers = {"Accept": accept} if accept else None
        return self.client.request(method, self.path("manifests", ref), headers=headers)

    def tags(self, params: Mapping[str, str] | None = None) -> requests.Response:
        return self.client.request("GET", self.path("tags", "list"), params=params)

    def tag_names(self) -> list[str]:
        """The full tag list (a missing repository counts as no tags)."""
        response = self.tags()
        if response.status_code == 404:
            return []
        setup_step(response, 200)
        names = response.json().get("tags") or []
        return [str(n) for n in names]
