"""The small-work benchmarks (bench/small.py) measure what they say: their inputs, their
wrappers' pushes and the argv of each side; not their speed (that is ``python -m bench``)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bench import small
from bench.api import Run, Scale
from harness.peers.launchers import DistributionLauncher

ROOT = Path(__file__).resolve().parents[2]
_BENCHMARKS = {b.name: b for b in small.BENCHMARKS}


def _wrapper(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m bench.small ARGS``; its stderr (the per-image line)."""
    proc = subprocess.run([sys.executable, "-m", small.MODULE, *args], capture_output=True,
                          text=True, check=False, timeout=300,
                          env={**os.environ, **small.ENV, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def _layout(tmp_path: Path, count: int) -> tuple[Path, dict[str, str]]:
    """A layout of *count* images; each tag's manifest digest."""
    layout = tmp_path / "layout"
    small.write_images(layout, count)
    index = json.loads((layout / "index.json").read_text())
    return layout, {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
                    for m in index["manifests"]}


def test_the_images_have_three_layers_none_shared(tmp_path: Path) -> None:
    layout, tags = _layout(tmp_path, 4)
    assert list(tags) == [small.tag(i) for i in range(4)]
    layers: list[str] = []
    for digest in tags.values():
        blob = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
        assert f"sha256:{hashlib.sha256(blob.read_bytes()).hexdigest()}" == digest
        layers += [layer["digest"] for layer in json.loads(blob.read_bytes())["layers"]]
    assert len(layers) == len(set(layers)) == 4 * small.LAYERS


def test_the_in_process_side_pushes_every_image_through_the_cli(tmp_path: Path) -> None:
    layout, _ = _layout(tmp_path, 2)
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    err = _wrapper("copy-into-inprocess", str(layout), str(tmp_path / "w"), str(policy),
                   "--images", "2")
    assert "ms per image (2 images of 3 layers)" in err


@pytest.mark.requires_peer("skopeo", "docker-registry")
def test_the_skopeo_side_pushes_the_images_byte_for_byte(tmp_path: Path) -> None:
    layout, tags = _layout(tmp_path, 2)
    benchmark = _BENCHMARKS["many-small-server"]
    with benchmark.setup(tmp_path / "inputs", Scale(size=0, quick=True)) as workload:
        env = dict(workload.env)
    with DistributionLauncher(log_level="warn").start() as registry:
        err = _wrapper("skopeo-into", str(layout), str(tmp_path / "w"), registry.url,
                       registry.host, "--images", "2", env=env)
        for index in range(2):
            answer = requests.head(f"{registry.url}/v2/bench/small-{index}/manifests/latest",
                                   headers={"Accept": "application/vnd.oci.image.manifest"
                                                      ".v1+json"}, timeout=30)
            assert answer.headers["Docker-Content-Digest"] == tags[small.tag(index)]
    assert "ms per image (2 images of 3 layers)" in err


def test_the_many_image_rows_compare_against_a_fresh_registry(tmp_path: Path) -> None:
    for name, ours in (("many-small-fake", "copy-into-inprocess"),
                       ("many-small-server", "skopeo-into-fake")):
        benchmark = _BENCHMARKS[name]
        assert benchmark.fresh_registry
        with benchmark.setup(tmp_path / name, Scale(size=0, quick=True)) as workload:
            assert workload.ours is not None and workload.peer is not None
            argv = list(workload.ours(Run(scratch=tmp_path, index=0)))
            assert argv[:4] == [sys.executable, "-m", small.MODULE, ours]
            assert workload.env["PYTHONPATH"] == str(ROOT)


def test_startup_compares_version_with_the_bare_interpreter(tmp_path: Path) -> None:
    with _BENCHMARKS["startup"].setup(tmp_path, Scale(size=0, quick=True)) as workload:
        assert workload.ours is not None and workload.peer is not None
        run = Run(scratch=tmp_path, index=0)
        assert list(workload.peer(run)) == [sys.executable, "-c", "pass"]
        proc = subprocess.run(workload.ours(run), capture_output=True, text=True, check=True,
                              env={**os.environ, **workload.env})
        cache = Path(workload.env["PYTHONPYCACHEPREFIX"])
    assert proc.stdout.startswith("oci-harness ")
    compiled = {p.name.split(".")[0] for p in cache.rglob("*.pyc")}
    assert {"main", "options", "argparse"} <= compiled  # the CLI's and the stdlib's


@pytest.mark.requires_peer("skopeo", "umoci")
def test_push_1k_pushes_one_kibibyte_whatever_the_scale(tmp_path: Path) -> None:
    with _BENCHMARKS["push-1k"].setup(tmp_path, Scale(size=32 << 20, quick=True)) as workload:
        assert workload.work_bytes == 1024
        assert workload.ours is not None and workload.peer is not None
    payload = tmp_path / "payload"
    assert sum(f.stat().st_size for f in payload.iterdir()) == 1024


@pytest.mark.requires_peer("skopeo", "umoci", "docker-registry")
def test_the_floor_pushes_the_push_1k_image_gzipped(tmp_path: Path) -> None:
    """bench/floor.py pushes the same image as push-1k: each layer gzipped, the config as
    it is, under the tag the row reads back."""
    benchmark = _BENCHMARKS["push-1k-floor"]
    assert benchmark.fresh_registry
    with benchmark.setup(tmp_path / "inputs", Scale(size=0, quick=True)) as workload, \
            DistributionLauncher(log_level="warn").start() as registry:
        assert workload.ours is not None
        subprocess.run(workload.ours(Run(scratch=tmp_path, index=3, registry=registry)),
                       check=True, timeout=120)
        blobs = tmp_path / "inputs" / "layout" / "blobs" / "sha256"
        index = json.loads((tmp_path / "inputs" / "layout" / "index.json").read_bytes())
        source = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
        base = f"{registry.url}/v2/bench/floor-3"
        pushed = requests.get(f"{base}/manifests/latest", timeout=30, headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
        assert pushed["config"] == source["config"]
        assert len(pushed["layers"]) == len(source["layers"]) == 1
        layer = requests.get(f"{base}/blobs/{pushed['layers'][0]['digest']}", timeout=30)
    assert pushed["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert gzip.decompress(layer.content) == (
        blobs / source["layers"][0]["digest"][7:]).read_bytes()
