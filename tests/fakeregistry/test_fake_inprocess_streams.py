"""The in-process fake streams a generator body: a big chunk is never copied whole per read."""

from __future__ import annotations

import hashlib
import tracemalloc

from tests._support.fakeregistry_helpers import Client

MIB = 1 << 20


def test_one_64_mib_chunk_is_taken_in_without_copying_its_rest_per_read(client: Client) -> None:
    """A client's generator body reaches the app as a stream. Re-slicing what was left of
    the chunk on every read held a second copy of it (peak 129 MiB here, and ~2 GiB copied
    in 1 MiB refills); now the peak is the reads' buffers (4 MiB measured). The bound leaves
    room for the ingest's own buffers and stays below one copy of the chunk."""
    chunk = bytes(64 * MIB)
    location = client.request("POST", "/v2/a/blobs/uploads/").headers["Location"]
    tracemalloc.start()
    try:
        response = client.request("PATCH", location, data=iter([chunk]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 202
    assert response.headers["Range"] == f"0-{len(chunk) - 1}"
    assert peak < 32 * MIB
    digest = f"sha256:{hashlib.sha256(chunk).hexdigest()}"
    done = client.request("PUT", response.headers["Location"], params={"digest": digest})
    assert done.status_code == 201
    assert client.request("GET", f"/v2/a/blobs/{digest}").content == chunk
