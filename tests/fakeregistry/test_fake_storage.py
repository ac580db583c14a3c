"""Storage: spooling to files, persistence in a directory, interrupted uploads, concurrency."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import requests

from fakeregistry import Registry, inprocess, serve
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client

BIG = bytes(range(256)) * 64  # 16 KiB, above the 1 KiB threshold used below


def _blob_file(registry: Registry, digest: Digest) -> Path:
    return registry.blobs.root / "blobs" / digest.algorithm / digest.encoded[:2] / digest.encoded


def _spooled(registry: Registry) -> list[Path]:
    spool = registry.blobs.root / "uploads"
    return list(spool.iterdir()) if spool.exists() else []


def test_large_uploads_spool_to_files_and_small_ones_stay_in_memory() -> None:
    registry = Registry(spool_threshold=1024)
    with inprocess(registry) as url:
        client = Client(url, requests.Session())
        location = client.request("POST", "/v2/a/blobs/uploads/").headers["Location"]
        client.request("PATCH", location, data=BIG)
        assert len(_spooled(registry)) == 1  # in progress: on disk, not in RAM
        digest = Digest.from_bytes(BIG)
        client.request("PUT", location, params={"digest": str(digest)})
        assert _spooled(registry) == []
        assert _blob_file(registry, digest).read_bytes() == BIG
        small = client.push_blob("a", b"small")
        assert not _blob_file(registry, small).exists()
        assert client.request("GET", f"/v2/a/blobs/{small}").content == b"small"


def test_cancelled_upload_leaves_nothing() -> None:
    registry = Registry(spool_threshold=1024)
    with inprocess(registry) as url:
        client = Client(url, requests.Session())
        location = client.request("POST", "/v2/a/blobs/uploads/").headers["Location"]
        client.request("PATCH", location, data=BIG)
        client.request("DELETE", location)
    assert _spooled(registry) == []


def test_interrupted_monolithic_upload_never_becomes_a_blob() -> None:
    registry = Registry(spool_threshold=1024)
    digest = Digest.from_bytes(BIG)
    with serve(registry) as server:
        host, port = server.host.split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(f"POST /v2/a/blobs/uploads/?digest={digest} HTTP/1.1\r\n"
                         f"Host: {server.host}\r\nContent-Length: {len(BIG)}\r\n\r\n".encode()
                         + BIG[:5000])
            sock.shutdown(socket.SHUT_WR)  # the client goes away mid-body
            answer = sock.recv(4096)
        assert b" 400 " in answer.split(b"\r\n")[0]
        assert requests.head(f"{server.url}/v2/a/blobs/{digest}").status_code == 404
    assert _spooled(registry) == []
    assert not _blob_file(registry, digest).exists()


def test_directory_storage_survives_a_restart(tmp_path: Path) -> None:
    first = Registry(storage_dir=tmp_path, spool_threshold=1024)
    with inprocess(first) as url:
        client = Client(url, requests.Session())
        digest, body = client.push_image("a/b", "v1", layer=BIG)
        layer = client.push_blob("a/b", b"small")
    second = Registry(storage_dir=tmp_path)
    with inprocess(second) as url:
        client = Client(url, requests.Session())
        got = client.request("GET", "/v2/a/b/manifests/v1")
        assert got.content == body
        assert got.headers["Docker-Content-Digest"] == str(digest)
        assert client.request("GET", f"/v2/a/b/blobs/{layer}").content == b"small"
        assert client.request("GET", f"/v2/a/b/blobs/{Digest.from_bytes(BIG)}").content == BIG
        assert client.request("GET", "/v2/_catalog").json()["repositories"] == ["a/b"]


def test_concurrent_pushes_to_one_tag_always_show_a_complete_manifest() -> None:
    registry = Registry()
    with serve(registry) as server:
        client = Client(server.url, requests.Session())
        bodies = {client.image_manifest("race", layer=f"layer {i}".encode()) for i in range(6)}
        stop = threading.Event()
        seen: list[tuple[int, bytes, str]] = []

        def read() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    response = session.get(f"{server.url}/v2/race/manifests/latest")
                    seen.append((response.status_code, response.content,
                                 response.headers.get("Docker-Content-Digest", "")))

        def write(body: bytes) -> Iterator[int]:
            with requests.Session() as session:
                for _ in range(5):
                    yield Client(server.url, session).push_manifest("race", "latest",
                                                                    body).status_code

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        results: list[int] = []
        writers = [threading.Thread(target=lambda b=body: results.extend(write(b)))
                   for body in bodies]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        stop.set()
        for reader in readers:
            reader.join()
        assert results == [201] * 30
        for status, content, digest in seen:
            assert status in {200, 404}  # 404 only before the first push landed
            if status == 200:
                assert content in bodies
                assert digest == str(Digest.from_bytes(content))
        final = client.request("GET", "/v2/race/manifests/latest").content
        assert final in bodies
        assert json.loads(final)["schemaVersion"] == 2


def _race(url: str, digest: Digest) -> list[int]:
    """Finish twice, cancel and append at once on one session; return the statuses."""
    location = url + requests.post(f"{url}/v2/a/blobs/uploads/").headers["Location"]
    requests.patch(location, data=BIG)
    finish = {"digest": str(digest)}
    calls = [lambda: requests.put(location, params=finish), lambda: requests.delete(location),
             lambda: requests.put(location, params=finish),
             lambda: requests.patch(location, data=b"more")]
    results: list[int] = []
    threads = [threading.Thread(target=lambda c=call: results.append(c().status_code))
               for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_requests_on_one_upload_session() -> None:
    """One of finish/cancel ends the session; the others see it ended, never a 500. A
    finish after the racing append ends it too, refused (400 DIGEST_INVALID)."""
    digest = Digest.from_bytes(BIG)
    with serve(Registry()) as server:
        for _ in range(5):
            results = _race(server.url, digest)
            assert all(status < 500 for status in results), results
            assert sum(status in {201, 204, 400} for status in results) == 1, results
