"""The ingest rows (bench/ingest.py) measure what they say: the layer goes to the registry
as it is (no recompression), by each client, into the fake and into distribution; not
their speed (that is ``python -m bench``); and the runner gives ours a fresh served fake
per run, started before timing as distribution is."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench import ingest
from bench.api import Run, Scale
from bench.runner import fake_registry, run_benchmark
from fakeregistry import Registry, serve
from harness.model.digest import Digest
from harness.peers.launchers import DistributionLauncher

_BENCHMARKS = {b.name: b for b in ingest.BENCHMARKS}
_SIZE = 3 * ingest.PATCH_SIZE // 2  # two PATCHes, the second short


def _wrapper(spec: Path, where: str, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", ingest.MODULE, str(spec), where],
                          capture_output=True, text=True, check=False, timeout=300,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.requires_peer("skopeo", "umoci", "docker-registry")
@pytest.mark.parametrize("client", ingest.CLIENTS)
def test_each_client_sends_the_layouts_gzip_layer_as_it_is(tmp_path: Path, client: str) -> None:
    benchmark = _BENCHMARKS["fakeregistry-ingest" + ("" if client == "skopeo" else f"-{client}")]
    assert benchmark.fresh_registry and benchmark.fake_for_ours
    with (benchmark.setup(tmp_path / "inputs", Scale(size=_SIZE, quick=True)) as workload,
          fake_registry() as fake):
        assert workload.ours is not None and workload.peer is not None
        argv = list(workload.ours(Run(scratch=tmp_path, index=0, registry=fake)))
        assert argv[-1] == fake.host  # the runner's served fake, not one the wrapper starts
        spec_path, env = Path(argv[-2]), dict(workload.env)
        _wrapper(spec_path, fake.host, env)  # checks the blob's digest and size by HEAD
    spec = json.loads(spec_path.read_text())
    blob = Path(spec["blob"]).read_bytes()
    assert gzip.decompress(blob)  # a gzip layer, sent as it is: its digest is the layout's
    assert spec["digest"] == f"sha256:{hashlib.sha256(blob).hexdigest()}"
    assert spec["size"] == workload.work_bytes == len(blob) > _SIZE  # random: no smaller
    registry = Registry(record=tmp_path / "fake.jsonl")
    with serve(registry) as server:
        _wrapper(spec_path, server.host, env)
    sent = [e for e in registry.transcript.entries if "/blobs/uploads/" in e.path]
    body = sum(e.request_bytes for e in sent if e.method in {"PATCH", "PUT"})
    assert body >= len(blob)  # skopeo also uploads the config
    assert registry.blobs.read(Digest.parse(spec["digest"])) == blob
    if client == "patch":
        assert [e.method for e in sent] == ["POST", "PATCH", "PATCH", "PUT"]
    elif client == "put":
        assert [e.method for e in sent] == ["POST", "PUT"]
    with DistributionLauncher(log_level="warn").start() as real:
        argv = list(workload.peer(Run(scratch=tmp_path, index=0, registry=real)))
        assert argv[-1] == real.host
        _wrapper(spec_path, real.host, env)  # checks the blob's digest and size by HEAD


def test_the_runners_fake_serves_from_a_temporary_folder_until_stopped() -> None:
    with fake_registry() as fake:
        assert fake.log_path is not None
        folder = fake.log_path.parent  # its log and its --storage
        host, port = fake.host.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"GET /v2/ HTTP/1.0\r\n\r\n")
            assert connection.recv(64).startswith(b"HTTP/1.1 200")
        assert folder.is_dir()
    assert not folder.exists()  # the folder goes with the registry
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)


@pytest.mark.requires_peer("skopeo", "umoci", "docker-registry")
def test_the_runner_times_the_client_against_a_fresh_fake_and_distribution(
        tmp_path: Path) -> None:
    result = run_benchmark(_BENCHMARKS["fakeregistry-ingest-put"],
                           Scale(size=_SIZE, quick=True), repetitions=2, workdir=tmp_path)
    assert not result.error and not result.ours.error and not result.peer.error, result
    assert len(result.ours.samples) == len(result.peer.samples) == 2  # fresh: no 'exists'
