"""The ingest rows (bench/ingest.py) measure what they say: the layer goes to the registry
as it is (no recompression), by each client, into the fake and into distribution; not
their speed (that is ``python -m bench``)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import ingest
from bench.api import Run, Scale
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
    assert benchmark.fresh_registry
    with benchmark.setup(tmp_path / "inputs", Scale(size=_SIZE, quick=True)) as workload:
        assert workload.ours is not None and workload.peer is not None
        spec_path = Path(list(workload.ours(Run(scratch=tmp_path, index=0)))[-2])
        env = dict(workload.env)
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
