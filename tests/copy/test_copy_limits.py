"""A pull stops at the size the manifest declares, and leaves no temporary file behind,
on an error or on SIGTERM (a hostile registry streaming zeros without end)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from harness.cli.main import main
from harness.model import mediatype
from harness.model.digest import Digest, DigestingReader, SizeMismatchError

DECLARED = 1000
PIECE = 64 << 10
ENDLESS = 256 << 20  # "without end", bounded so that a regression fills no disk
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()


class _Zeros:
    """A stream of zeros without end; counts what it gave."""

    def __init__(self) -> None:
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        size = PIECE if size < 0 else size
        self.given += size
        return bytes(size)


def test_reader_stops_one_byte_past_the_declared_size() -> None:
    zeros = _Zeros()
    reader = DigestingReader(zeros, expected_size=DECLARED)  # type: ignore[arg-type]
    with pytest.raises(SizeMismatchError, match=f"more than the declared {DECLARED} bytes"):
        while reader.read(1 << 20):
            pass
    assert zeros.given == DECLARED + 1


@dataclass
class _Hostile:
    """A registry whose one image has a layer declared as DECLARED bytes (or *declared*)
    and served as zeros without end, *pause* seconds between pieces."""

    declared: int = DECLARED
    pause: float = 0.0
    sent: int = 0
    layer: Digest = field(default_factory=lambda: Digest.from_bytes(bytes(DECLARED)))

    def manifest(self) -> bytes:
        config = Digest.from_bytes(CONFIG)
        return json.dumps({
            "schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
            "config": {"mediaType": mediatype.OCI_CONFIG, "digest": str(config),
                       "size": len(CONFIG)},
            "layers": [{"mediaType": mediatype.OCI_LAYER_GZIP, "digest": str(self.layer),
                        "size": self.declared}]}).encode()

    def zeros(self) -> Iterator[bytes]:
        while self.sent < ENDLESS:
            self.sent += PIECE
            yield bytes(PIECE)
            if self.pause:
                time.sleep(self.pause)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if "/manifests/" in path:
            body = self.manifest()
            start_response("200 OK", [("Content-Type", mediatype.OCI_MANIFEST),
                                      ("Docker-Content-Digest", str(Digest.from_bytes(body))),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path.endswith(str(Digest.from_bytes(CONFIG))):
            start_response("200 OK", [("Content-Length", str(len(CONFIG)))])
            return [CONFIG]
        if path.endswith(str(self.layer)):
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return self.zeros()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


@contextlib.contextmanager
def _serving(app: _Hostile) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def _temporaries(root: Path) -> list[Path]:
    """The temporary files of the dir: transport and of the store."""
    return [p for p in root.rglob("*") if p.name.startswith((".blob-", ".tmp-"))]


def _dest(kind: str, tmp_path: Path) -> str:
    return f"dir:{tmp_path}/out" if kind == "dir" else "harness-store:evil:1"


@pytest.mark.parametrize("kind", ["dir", "harness-store"])
def test_a_blob_longer_than_declared_is_refused(tmp_path: Path, policy: Path, kind: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    app = _Hostile()
    with _serving(app) as host:
        code = main(["--root", str(tmp_path / "store"), "copy", "--policy", str(policy),
                     "--src-tls-verify=false", "--retry-times", "0", "--quiet",
                     f"docker://{host}/evil:1", _dest(kind, tmp_path)])
    err = capsys.readouterr().err
    assert code == 125
    assert err.count("\n") == 1 and f"more than the declared {DECLARED} bytes" in err, err
    assert app.sent < ENDLESS // 4  # stopped early (sent counts what sits in socket buffers)
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("kind", ["dir", "harness-store"])
def test_sigterm_removes_the_temporary_file(tmp_path: Path, policy: Path, kind: str) -> None:
    app = _Hostile(declared=1 << 40, pause=0.01)  # within its size: only a signal stops it
    with _serving(app) as host:
        copy = subprocess.Popen(
            [sys.executable, "-m", "harness", "--root", str(tmp_path / "store"), "copy",
             "--policy", str(policy), "--src-tls-verify=false", "--quiet",
             f"docker://{host}/evil:1", _dest(kind, tmp_path)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        while not _temporaries(tmp_path):  # the pull is under way
            assert copy.poll() is None, copy.stderr.read() if copy.stderr else ""
            time.sleep(0.05)
        copy.send_signal(signal.SIGTERM)
        _, err = copy.communicate()
    assert copy.returncode == 128 + signal.SIGTERM
    assert err == "Error: terminated by SIGTERM\n"
    assert _temporaries(tmp_path) == []
