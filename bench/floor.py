"""The floor of a CPython push: the fewest requests, standard library only, no checks.

``python bench/floor.py LAYOUT TAG HOST REPOSITORY`` pushes the OCI layout's image *TAG*
to ``http://HOST``, gzipping each layer: ``GET /v2/``, then a POST and a monolithic PUT
per blob, then the manifest, on one keep-alive connection. It skips all that a real
client must do (no HEAD before uploading, no verification of what it reads, no auth, no
retries, no TLS probe, no error handling), so no Python client can push the same image
faster; the ``push-1k-floor`` row (:mod:`bench.small`) times it against ``skopeo copy``.
Not part of the product: it exists only to measure that bound.
"""

import hashlib
import http.client
import json
import sys
import zlib
from pathlib import Path

_GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def main(layout: Path, tag: str, host: str, repository: str) -> None:
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_bytes())
    entry = next(m for m in index["manifests"]
                 if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    manifest = json.loads((blobs / entry["digest"].split(":")[1]).read_bytes())
    connection = http.client.HTTPConnection(host)

    def send(method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: HTTP {response.status}")
        return response

    def upload(data: bytes) -> str:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        location = send("POST", f"/v2/{repository}/blobs/uploads/").headers["Location"]
        separator = "&" if "?" in location else "?"
        send("PUT", f"{location}{separator}digest={digest}", data)
        return digest

    send("GET", "/v2/")
    for layer in manifest["layers"]:
        deflate = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip format
        data = deflate.compress((blobs / layer["digest"].split(":")[1]).read_bytes())
        data += deflate.flush()
        layer.update(mediaType=_GZIP_LAYER, digest=upload(data), size=len(data))
    upload((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    send("PUT", f"/v2/{repository}/manifests/latest", json.dumps(manifest).encode(),
         {"Content-Type": _MANIFEST})


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
