"""Upload sessions end: abandoned ones expire with their bytes, their number is capped, and
spool files a killed registry left behind are removed at start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from fakeregistry import Registry, inprocess
from fakeregistry.errors import RegistryError
from fakeregistry.sessions import MAX_UPLOADS, UPLOAD_LIFETIME, Upload, UploadSessions
from fakeregistry.storage import UploadBuffer
from harness.model.digest import Digest

SPILLED = os.urandom(2048)  # above the tests' 1 KiB spool threshold: a spool file


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _upload(tmp_path: Path, repository: str = "a") -> Upload:
    return Upload(repository, UploadBuffer(lambda: tmp_path, threshold=1024))


def test_defaults_are_distributions_week_and_room_for_32_parallel_pushes() -> None:
    assert UPLOAD_LIFETIME == 168 * 3600
    assert MAX_UPLOADS >= 32 * 6
    assert Registry().uploads.lifetime == UPLOAD_LIFETIME


def test_a_session_untouched_for_its_lifetime_is_dropped_with_its_spool_file(
        tmp_path: Path) -> None:
    clock = Clock()
    sessions = UploadSessions(lifetime=60, clock=clock)
    upload = _upload(tmp_path)
    session = sessions.open(upload)
    upload.buffer.write(SPILLED)
    assert upload.buffer.path is not None and upload.buffer.path.exists()
    spool = upload.buffer.path
    clock.now += 59
    assert sessions.expire() == 0
    assert sessions.find(session, "a") is upload  # a request touches it
    clock.now += 60
    assert sessions.expire() == 1
    assert not spool.exists()
    with pytest.raises(RegistryError, match="not in progress"):
        sessions.find(session, "a")


def test_a_session_a_request_is_writing_to_does_not_expire_under_it(tmp_path: Path) -> None:
    clock = Clock()
    sessions = UploadSessions(lifetime=60, clock=clock)
    session = sessions.open(_upload(tmp_path))
    with sessions.held(session, "a") as upload:
        clock.now += 3600  # a slow chunk
        assert sessions.expire() == 0
        upload.buffer.write(b"chunk")
    assert sessions.expire() == 0  # the end of the request touched it
    clock.now += 61
    assert sessions.expire() == 1


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        UploadSessions(lifetime=0)
    with pytest.raises(ValueError, match="must be > 0"):
        UploadSessions(limit=0)


def test_over_http_an_expired_session_is_unknown_and_its_bytes_are_gone(
        tmp_path: Path) -> None:
    registry = Registry(storage_dir=tmp_path, spool_threshold=1024, upload_lifetime=0.05)
    with inprocess(registry, "http://sessions.fake") as url:
        location = requests.post(f"{url}/v2/a/blobs/uploads/").headers["Location"]
        assert requests.patch(url + location, data=SPILLED).status_code == 202
        assert len(list((tmp_path / "uploads").iterdir())) == 1
        time.sleep(0.1)  # longer than the lifetime: only a lower bound matters
        assert requests.post(f"{url}/v2/a/blobs/uploads/").status_code == 202  # purges
        assert list((tmp_path / "uploads").iterdir()) == []
        gone = requests.put(url + location, params={"digest": str(Digest.from_bytes(SPILLED))})
        assert gone.status_code == 404
        assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_one_session_over_the_limit_is_a_429_until_one_ends() -> None:
    registry = Registry(max_uploads=2)
    with inprocess(registry, "http://capped.fake") as url:
        first, second = (requests.post(f"{url}/v2/a/blobs/uploads/") for _ in range(2))
        assert (first.status_code, second.status_code) == (202, 202)
        refused = requests.post(f"{url}/v2/a/blobs/uploads/")
        assert refused.status_code == 429
        error = refused.json()["errors"][0]
        assert error["code"] == "TOOMANYREQUESTS"
        assert "2 upload sessions are open" in error["message"]
        # A monolithic upload needs no session: it still works.
        blob = requests.post(f"{url}/v2/a/blobs/uploads/",
                             params={"digest": str(Digest.from_bytes(b"x"))}, data=b"x")
        assert blob.status_code == 201
        assert requests.delete(url + first.headers["Location"]).status_code == 204
        assert requests.post(f"{url}/v2/a/blobs/uploads/").status_code == 202
    assert len(registry.uploads) == 2


def test_spool_files_left_by_a_killed_registry_are_removed_at_start(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "upload-abc123").write_bytes(b"half a layer")
    (uploads / "notes.txt").write_text("not ours")
    registry = Registry(storage_dir=tmp_path)
    with inprocess(registry, "http://restarted.fake") as url:
        assert requests.get(f"{url}/v2/").status_code == 200
    assert sorted(p.name for p in uploads.iterdir()) == ["notes.txt"]


def test_cli_passes_the_lifetime_and_limit(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fakeregistry", "serve", "--max-uploads", "1",
         "--upload-lifetime", "3600"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert requests.post(f"{url}/v2/a/blobs/uploads/", timeout=30).status_code == 202
        assert requests.post(f"{url}/v2/a/blobs/uploads/", timeout=30).status_code == 429
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
