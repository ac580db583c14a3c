"""Push one large uncompressed layer from an OCI layout to a registry, compressing with gzip.

Peer: ``skopeo copy``. Ours: ``python -m harness copy`` with skopeo's flags. Both read the
same layout and write to their own fresh distribution registry on loopback, so no blob is
ever already there. The layer's files gzip to about a quarter of their size, like
real layers, so compression does real work. Ours runs with its bytecode compiled in setup
(:func:`bench.api.bytecode_env`), as an installed package has it.
"""

from __future__ import annotations

import contextlib
import random
import string
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.api import Benchmark, MiB, Run, Scale, Workload, bytecode_env, python_command
from harness.peers.clients import Skopeo, run_peer
from harness.peers.launchers import require_executable

TAG = "bench"
_FILE_SIZE = 4 * MiB


def write_payload(directory: Path, size: int, seed: int = 0, *,
                  compressible: bool = True) -> None:
    """Files totalling *size* bytes, deterministic for *seed*, that gzip to about 1/4
    (or, not *compressible*, random bytes that gzip to their own size).

    Each file is 1/8 random bytes, then sentences drawn from a few hundred, like logs or
    source text: close to the ratio of real layers, so compression costs what it costs.
    """
    directory.mkdir(parents=True)
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
             for _ in range(2000)]
    sentences = [" ".join(rng.choices(words, k=rng.randint(6, 16))) + "." for _ in range(300)]
    text = " ".join(rng.choices(sentences, k=_FILE_SIZE // 64)).encode()
    for index, start in enumerate(range(0, size, _FILE_SIZE)):
        length = min(_FILE_SIZE, size - start)
        noise = length // 8 if compressible else length
        offset = rng.randrange(len(text) - length)
        with (directory / f"part-{index:04d}").open("wb") as part:
            part.write(rng.randbytes(noise))
            part.write(text[offset:offset + length - noise])


def build_gzip_layout(inputs: Path, size: int, *, compressible: bool = True) -> str:
    """An OCI layout (``inputs/gzipped``) whose image has one gzip layer of *size* bytes
    of files, as umoci builds it (see :func:`write_payload` for *compressible*)."""
    umoci = require_executable("umoci")
    payload, gzipped = inputs / "payload", inputs / "gzipped"
    write_payload(payload, size, compressible=compressible)
    run_peer([umoci, "init", "--layout", str(gzipped)])
    run_peer([umoci, "new", "--image", f"{gzipped}:{TAG}"])
    run_peer([umoci, "insert", "--image", f"{gzipped}:{TAG}", str(payload), "/data"])
    return f"oci:{gzipped}:{TAG}"


def build_layout(inputs: Path, size: int) -> str:
    """An OCI layout whose image has one uncompressed layer of *size* bytes of files.

    umoci builds it (gzip-compressed); skopeo rewrites it with the layer decompressed,
    through a ``dir:`` copy because only that transport can decompress.
    """
    gzipped = build_gzip_layout(inputs, size)
    skopeo = Skopeo(inputs / "skopeo")
    skopeo.copy(gzipped, f"dir:{inputs / 'plain'}", "--dest-decompress")
    layout = f"oci:{inputs / 'layout'}:{TAG}"
    skopeo.copy(f"dir:{inputs / 'plain'}", layout, "--dest-oci-accept-uncompressed-layers")
    return layout


def harness_has_command(name: str) -> bool:
    """Whether ``python -m harness NAME`` exists yet (its ``--help`` succeeds)."""
    result = subprocess.run([sys.executable, "-m", "harness", name, "--help"], check=False,
                            stdin=subprocess.DEVNULL, capture_output=True)
    return result.returncode == 0


def _destination(run: Run) -> str:
    assert run.registry is not None  # the benchmark asks for a fresh registry per run
    return f"docker://{run.registry.image(f'bench/push-{run.index}:latest')}"


@contextlib.contextmanager
def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    layout = build_layout(inputs, scale.size)
    skopeo = Skopeo(inputs / "skopeo")

    def peer(run: Run) -> Sequence[str]:
        client = Skopeo(inputs / "skopeo", run.registry)  # the same private config
        return client.argv(*client.copy_args(layout, _destination(run),
                                             "--dest-compress-format", "gzip"))

    def ours(run: Run) -> Sequence[str]:
        return python_command("harness", "copy", "--dest-compress-format", "gzip", layout,
                              _destination(run), "--dest-tls-verify=false")

    available = harness_has_command("copy")
    yield Workload(work_bytes=scale.size, ours=ours if available else None, peer=peer,
                   ours_missing="" if available else "`python -m harness copy` does not "
                                                     "exist yet",
                   env={**skopeo.config.overrides(), **bytecode_env(inputs / "pycache")})


BENCHMARKS = [
    Benchmark(
        name="push",
        operation="OCI layout, one uncompressed layer -> distribution, gzip",
        ours_label="python -m harness copy",
        peer_label="skopeo copy",
        setup=setup,
        fresh_registry=True,
        goal="time <= 1.0x at 32 MiB, <= 0.45x at 512 MiB; RSS <= peer + 20 MB",
    ),
]
