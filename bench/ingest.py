"""The registry's ingest: one layer that is already gzip, into the fake or distribution.

The ``fakeregistry-push`` row (:mod:`bench.fakeregistry`) pushes an uncompressed layer that
skopeo gzips on the way, so most of either side's time is skopeo compressing, the same on
both sides, and its ratio cannot show the registry. Here the layout's layer is already gzip:
skopeo sends it as it is (no recompression), so what differs between the sides is the
registry taking the bytes in (reading, hashing, writing, verifying the digest).

Both sides run the same small wrapper (``python -m bench.ingest``, the standard library
only) against a registry the runner started before the timed process, fresh for every run:
a served fake (``python -m fakeregistry serve``) on ours, distribution on the peer's. So
neither registry's start-up is timed, and the timed process is the same client on both
sides; the registry's own CPU and memory are in its process, not in the measured one.
The wrapper sends the layer by one of three clients, then checks with a HEAD that the
registry holds the layout's digest with the layout's size, so the bytes went as they are:

- ``skopeo``: ``skopeo copy`` of the image (POST, one streamed PATCH with Content-Length,
  PUT; then the config and the manifest);
- ``put``: POST, then one monolithic PUT of the blob;
- ``patch``: POST, PATCHes of :data:`PATCH_SIZE` bytes with Content-Range, an empty PUT.

The last two are the wrapper's own client (http.client, bodies by ``sendfile``), so the
client costs both sides next to nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

from bench.api import Benchmark, Run, Scale, Workload, python_command

MODULE = "bench.ingest"
ENV = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
PATCH_SIZE = 8 << 20
CLIENTS = ("skopeo", "put", "patch")
REPOSITORY = "bench/ingest"


def setup_for(client: str) -> Callable[[Path, Scale], AbstractContextManager[Workload]]:
    """The setup of the row that sends the layer by *client*."""

    @contextlib.contextmanager
    def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
        # The runner's imports, not the measured wrapper's.
        from bench.push import build_gzip_layout  # noqa: PLC0415
        from harness.peers.clients import Skopeo  # noqa: PLC0415

        layout = build_gzip_layout(inputs, scale.size, compressible=False)
        skopeo = Skopeo(inputs / "skopeo")
        digest, size, blob = _layer(Path(layout.split(":")[1]))
        spec = inputs / "ingest.json"
        spec.write_text(json.dumps({
            "client": client, "digest": digest, "size": size, "blob": str(blob),
            "skopeo": skopeo.argv("copy", "--dest-tls-verify=false", layout)}))

        def side(run: Run) -> Sequence[str]:
            assert run.registry is not None  # the fake on ours, distribution on the peer's
            return python_command(MODULE, str(spec), run.registry.host)

        yield Workload(work_bytes=size, ours=side, peer=side,
                       env={**ENV, **skopeo.config.overrides()})

    return setup


def _layer(root: Path) -> tuple[str, int, Path]:
    """The digest, size and file of the only layer of the image in the OCI layout *root*."""
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads(_blob_path(root, index["manifests"][0]["digest"]).read_text())
    layer = manifest["layers"][0]
    return layer["digest"], layer["size"], _blob_path(root, layer["digest"])


def _blob_path(root: Path, digest: str) -> Path:
    algorithm, encoded = digest.split(":")
    return root / "blobs" / algorithm / encoded


def ingest(spec: dict[str, object], host: str) -> None:
    """Send the layer to the registry at *host* by the spec's client, then check that the
    registry holds the layout's digest with the layout's size."""
    digest, size = str(spec["digest"]), int(str(spec["size"]))
    if spec["client"] == "skopeo":
        argv = [str(arg) for arg in spec["skopeo"]]  # type: ignore[attr-defined]
        subprocess.run([*argv, f"docker://{host}/{REPOSITORY}:latest"], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    else:
        upload(host, Path(str(spec["blob"])), digest,
               PATCH_SIZE if spec["client"] == "patch" else 0)
    connection = http.client.HTTPConnection(host)
    answer = _send(connection, "HEAD", f"/v2/{REPOSITORY}/blobs/{digest}", 200)
    if answer.getheader("Content-Length") != str(size):
        raise RuntimeError(f"the registry holds {digest} with {answer.getheader('Content-Length')} "
                           f"bytes, not {size}")


def upload(host: str, blob: Path, digest: str, chunk: int) -> None:
    """POST an upload, then send *blob* as one PUT (*chunk* 0) or as PATCHes of *chunk*
    bytes and an empty PUT, on one kept-alive connection."""
    base = f"http://{host}"
    connection = http.client.HTTPConnection(host)
    size = blob.stat().st_size
    location = _location(_send(connection, "POST", f"/v2/{REPOSITORY}/blobs/uploads/", 202))
    with blob.open("rb") as body:
        offset = 0
        while chunk and offset < size:
            count = min(chunk, size - offset)
            location = _location(_send(
                connection, "PATCH", urljoin(base, location), 202, body=body, offset=offset,
                count=count, headers={"Content-Range": f"{offset}-{offset + count - 1}"}))
            offset += count
        separator = "&" if "?" in location else "?"
        _send(connection, "PUT", urljoin(base, location) + f"{separator}digest={digest}", 201,
              body=body, offset=offset, count=size - offset)
    connection.close()


def _location(answer: http.client.HTTPResponse) -> str:
    location = answer.getheader("Location")
    if not location:
        raise RuntimeError("the registry's answer has no Location")
    return location


def _send(connection: http.client.HTTPConnection, method: str, target: str, status: int,
          *, body: BinaryIO | None = None, offset: int = 0, count: int = 0,
          headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One request whose body is *count* bytes of *body* from *offset* (by sendfile);
    raises unless the answer has *status*."""
    parts = urlsplit(target)
    connection.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
    if method != "HEAD":
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(count))
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    if count:
        assert body is not None and connection.sock is not None
        connection.sock.sendfile(body, offset, count)
    answer = connection.getresponse()
    answer.read()
    if answer.status != status:
        raise RuntimeError(f"{method} {target} answered {answer.status}, not {status}")
    return answer


def _main(argv: list[str]) -> None:
    """``SPEC HOST``: send into the registry at HOST."""
    ingest(json.loads(Path(argv[0]).read_text()), argv[1])


def _row(client: str, operation: str, goal: str = "") -> Benchmark:
    return Benchmark(name="fakeregistry-ingest" + ("" if client == "skopeo" else f"-{client}"),
                     operation=operation, ours_label="fakeregistry (serve)",
                     peer_label="docker-registry 2.8", setup=setup_for(client),
                     fresh_registry=True, fake_for_ours=True, goal=goal)


BENCHMARKS = [
    _row("skopeo", "skopeo copy, one gzip layer as it is -> the registry over HTTP",
         "time <= 1.0x at 32 MiB, <= 0.7x at 512 MiB"),
    _row("put", "one gzip layer: POST, one monolithic PUT"),
    _row("patch", f"one gzip layer: POST, PATCHes of {PATCH_SIZE >> 20} MiB, PUT"),
]

if __name__ == "__main__":
    _main(sys.argv[1:])
