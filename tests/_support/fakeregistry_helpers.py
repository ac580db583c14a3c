"""Helpers for the fakeregistry tests: a plain-requests client that pushes content."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

from harness.model import mediatype
from harness.model.digest import Digest


@dataclass
class Client:
    """Plain-requests access to a registry (in process or over a socket)."""

    url: str
    session: requests.Session

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """*path* may be absolute (distribution answers absolute Locations)."""
        url = urljoin(self.url + "/", path)
        return self.session.request(method, url, **kwargs)  # type: ignore[arg-type]

    def push_blob(self, repo: str, data: bytes) -> Digest:
        digest = Digest.from_bytes(data)
        response = self.request("POST", f"/v2/{repo}/blobs/uploads/",
                                params={"digest": str(digest)}, data=data)
        if response.status_code == 202:  # distribution 2.8 opens a session instead
            response = self.request("PUT", response.headers["Location"],
                                    params={"digest": str(digest)}, data=data)
        assert response.status_code == 201, response.text
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes,
                      media_type: str = mediatype.OCI_MANIFEST) -> requests.Response:
        return self.request("PUT", f"/v2/{repo}/manifests/{reference}", data=body,
                            headers={"Content-Type": media_type})

    def push_image(self, repo: str, tag: str, layer: bytes = b"layer",
                   **extra: object) -> tuple[Digest, bytes]:
        """Push one config + one layer + an OCI manifest; return its digest and bytes."""
        body = self.image_manifest(repo, layer, **extra)
        response = self.push_manifest(repo, tag, body)
        assert response.status_code == 201, response.text
        return Digest.parse(response.headers["Docker-Content-Digest"]), body

    def image_manifest(self, repo: str, layer: bytes = b"layer", **extra: object) -> bytes:
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        config_digest = self.push_blob(repo, config)
        layer_digest = self.push_blob(repo, layer)
        manifest: dict[str, object] = {
            "schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
            "config": {"mediaType": mediatype.OCI_CONFIG, "digest": str(config_digest),
                       "size": len(config)},
            "layers": [{"mediaType": mediatype.OCI_LAYER_GZIP, "digest": str(layer_digest),
                        "size": len(layer)}],
            **extra,
        }
        return json.dumps(manifest).encode()


def error_code(response: requests.Response) -> str:
    code: str = response.json()["errors"][0]["code"]
    return code
