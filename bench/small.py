"""Small work, where start-up and per-request cost decide: the CLI's start-up, a 1 KiB push,
and many small images pushed one after another, as a CI run does.

- ``startup``: ``python -m harness --version`` against the bare interpreter
  (``python -c pass``). Both run with bytecode cached (:func:`bench.api.bytecode_env`, as
  an installed package has it), so neither side compiles source while it is timed.
- ``push-1k``: the ``push`` benchmark (:mod:`bench.push`) with a 1 KiB layer, whatever the
  scale: ``python -m harness copy`` against ``skopeo copy``, each to a fresh registry.
- ``push-1k-floor``: the same push by :mod:`bench.floor`, the fewest requests a client can
  make with the standard library and no checks at all, against the same ``skopeo copy``:
  the bound under any CPython push, measured in the same run as ``push-1k``.
- ``many-small-fake``: :data:`IMAGES` images of three small layers each, from one OCI
  layout, copied by the project's ``copy`` command into the in-process fake (the
  ``fake_registry`` fixture's: no socket), all in one process; the peer is ``skopeo copy``
  of the same images, one process each, into a fresh distribution registry.
- ``many-small-server``: the same images copied by ``skopeo copy`` into the fake served
  over HTTP (the ``fake_registry_server`` fixture's), against the same skopeo into
  distribution: what the fake costs a CI run that drives a Go client.

The many-image wrappers print the cost per image on stderr; the table's time is for all
:data:`IMAGES` (divide by it for one image).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench import push
from bench.api import Benchmark, Run, Scale, Workload, bytecode_env, python_command
from harness.peers.clients import Skopeo
from harness.peers.launchers import RunningRegistry

MODULE = "bench.small"
ENV = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}  # bench is not installed
IMAGES = 100
LAYERS = 3
LAYER_FILE_SIZE = 1024
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(rng: random.Random) -> tuple[bytes, str]:
    """A gzip layer holding one file of random bytes, and its diffID."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as archive:
        content = rng.randbytes(LAYER_FILE_SIZE)
        info = tarfile.TarInfo(f"file-{rng.randrange(1 << 32):08x}")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    raw = tar.getvalue()
    return gzip.compress(raw, mtime=0), f"sha256:{hashlib.sha256(raw).hexdigest()}"


def tag(index: int) -> str:
    return f"img-{index:03d}"


def write_images(layout: Path, count: int = IMAGES) -> None:
    """An OCI layout holding *count* images tagged :func:`tag`, each of :data:`LAYERS`
    layers no other image shares (so nothing is mounted or skipped as already there)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    rng = random.Random(0)
    manifests = []
    for index in range(count):
        layers, diff_ids = [], []
        for _ in range(LAYERS):
            data, diff_id = _layer(rng)
            layers.append(_blob(layout, data, _OCI_LAYER))
            diff_ids.append(diff_id)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": _OCI_MANIFEST,
                               "config": _blob(layout, config, _OCI_CONFIG),
                               "layers": layers}).encode()
        manifests.append({**_blob(layout, manifest, _OCI_MANIFEST),
                          "annotations": {"org.opencontainers.image.ref.name": tag(index)}})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2,
                                                   "manifests": manifests}))


@contextlib.contextmanager
def startup_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    env = bytecode_env(inputs / "pycache")
    ours, peer = python_command("harness", "--version"), [sys.executable, "-c", "pass"]
    for argv in (ours, peer):  # the standard library's bytecode lands in the cache too
        subprocess.run(argv, env={**os.environ, **env}, check=True, capture_output=True)
    yield Workload(work_bytes=0, ours=lambda run: ours, peer=lambda run: peer, env=env)


@contextlib.contextmanager
def push_1k_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    with push.setup(inputs, Scale(size=1024, quick=scale.quick)) as workload:
        yield workload


@contextlib.contextmanager
def push_1k_floor_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    floor = Path(__file__).with_name("floor.py")

    def ours(run: Run) -> Sequence[str]:
        assert run.registry is not None  # the benchmark asks for a fresh registry per run
        return [sys.executable, str(floor), str(inputs / "layout"), push.TAG,
                run.registry.host, f"bench/floor-{run.index}"]

    with push_1k_setup(inputs, scale) as workload:
        yield dataclasses.replace(workload, ours=ours)


def _many(inputs: Path, ours: str) -> Iterator[Workload]:
    layout = inputs / "layout"
    write_images(layout)
    skopeo = Skopeo(inputs / "skopeo")
    policy = inputs / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')

    def peer(run: Run) -> Sequence[str]:
        assert run.registry is not None  # the benchmark asks for a fresh registry per run
        return python_command(MODULE, "skopeo-into", str(layout), str(inputs / "skopeo"),
                              run.registry.url, run.registry.host)

    yield Workload(work_bytes=0, peer=peer,
                   ours=lambda run: python_command(MODULE, ours, str(layout),
                                                   str(inputs / "skopeo"), str(policy)),
                   env={**ENV, **skopeo.config.overrides()})


@contextlib.contextmanager
def many_fake_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    yield from _many(inputs, "copy-into-inprocess")


@contextlib.contextmanager
def many_server_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    yield from _many(inputs, "skopeo-into-fake")


def _skopeo_all(layout: Path, workdir: Path, registry: RunningRegistry, count: int) -> None:
    skopeo = Skopeo(workdir, registry)
    for index in range(count):
        skopeo.copy(f"oci:{layout}:{tag(index)}",
                    f"docker://{registry.image(f'bench/small-{index}:latest')}")


def _copy_all_inprocess(layout: Path, policy: Path, count: int) -> None:
    from fakeregistry import Registry, inprocess  # noqa: PLC0415
    from harness.cli.main import main  # noqa: PLC0415

    with inprocess(Registry()) as url:
        host = url.removeprefix("http://")
        for index in range(count):
            code = main(["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
                         f"oci:{layout}:{tag(index)}",
                         f"docker://{host}/bench/small-{index}:latest"])
            if code != 0:
                raise SystemExit(f"copy of {tag(index)} failed ({code})")


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("copy-into-inprocess", "skopeo-into-fake", "skopeo-into"):
        command = commands.add_parser(name)
        command.add_argument("layout", type=Path)
        command.add_argument("workdir", type=Path)
        if name == "skopeo-into":
            command.add_argument("url")
            command.add_argument("host")
        else:
            command.add_argument("policy", type=Path)
        command.add_argument("--images", type=int, default=IMAGES, help="the first N only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "copy-into-inprocess":
        _copy_all_inprocess(args.layout, args.policy, args.images)
    elif args.command == "skopeo-into-fake":
        from fakeregistry import Registry, serve  # noqa: PLC0415

        with serve(Registry()) as server:
            _skopeo_all(args.layout, args.workdir,
                        RunningRegistry(url=server.url, host=server.host), args.images)
    else:
        _skopeo_all(args.layout, args.workdir, RunningRegistry(url=args.url, host=args.host),
                    args.images)
    per_image = (time.perf_counter() - started) / args.images
    print(f"{args.command}: {per_image * 1000:.1f} ms per image ({args.images} images of "
          f"{LAYERS} layers)", file=sys.stderr)


BENCHMARKS = [
    Benchmark(
        name="startup",
        operation="python -m harness --version (whole process, bytecode cached)",
        ours_label="python -m harness --version",
        peer_label="python -c pass",
        setup=startup_setup,
        goal="< 100 ms wall",
    ),
    Benchmark(
        name="push-1k",
        operation="OCI layout, one 1 KiB uncompressed layer -> distribution, gzip",
        ours_label="python -m harness copy",
        peer_label="skopeo copy",
        setup=push_1k_setup,
        fresh_registry=True,
        goal="time <= 1.0x",
    ),
    Benchmark(
        name="push-1k-floor",
        operation="the push-1k image by the fewest stdlib requests, no checks (bench/floor.py)",
        ours_label="python bench/floor.py",
        peer_label="skopeo copy",
        setup=push_1k_floor_setup,
        fresh_registry=True,
        goal="the bound under push-1k: any Python push >= this",
    ),
    Benchmark(
        name="many-small-fake",
        operation=f"{IMAGES} images of {LAYERS} 1 KiB layers: harness copy into the "
                  "in-process fake, one process",
        ours_label="harness copy -> fake_registry (in process)",
        peer_label=f"skopeo copy x{IMAGES} -> docker-registry 2.8",
        setup=many_fake_setup,
        fresh_registry=True,
        goal="per-image cost (stderr; time / 100)",
    ),
    Benchmark(
        name="many-small-server",
        operation=f"{IMAGES} images of {LAYERS} 1 KiB layers: skopeo copy into the fake "
                  "served over HTTP",
        ours_label=f"skopeo copy x{IMAGES} -> fake_registry_server",
        peer_label=f"skopeo copy x{IMAGES} -> docker-registry 2.8",
        setup=many_server_setup,
        fresh_registry=True,
        goal="per-image cost (stderr; time / 100)",
    ),
]

if __name__ == "__main__":
    _main(sys.argv[1:])
