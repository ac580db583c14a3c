"""The ``Copying blob`` lines off a terminal, against skopeo 1.9 and buildah 1.28.2.

containers/image prints a layer's line when its copy starts, after taking one slot of its
semaphore per layer in manifest order: one slot when the source or the destination takes
one blob at a time (oci:, dir:...), six otherwise (copy/copy.go). So:

- one at a time the output is deterministic, and ours is byte for byte skopeo's;
- in parallel the lines come in whatever order the threads start (skopeo prints the first
  six in varying orders from run to run), so both outputs are compared as the same lines
  in the same places, the blob lines as a set; and a later layer is announced only once
  an earlier copy ended: with the first six layers held by the registry, both tools have
  printed exactly six lines; releasing one lets the seventh layer start and print, whose
  end lets the eighth start and print.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.copy.engine import CopyOptions, copy_image
from harness.model.config import HistoryEntry
from harness.model.digest import Digest
from harness.peers.clients import Buildah, Skopeo
from harness.pytest_plugin.images import ImageSpec, write_image
from harness.pytest_plugin.trees import files_tree
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from tests._support.manifest_samples import history_spec

pytestmark = pytest.mark.requires_peer("skopeo")

SIZES = (300_000, 1_000, 200_000, 2_000, 100_000, 3_000, 50_000, 4_000)
HANG_GUARD = 120.0  # seconds before a wait that should never block that long fails the test


def _spec() -> ImageSpec:
    """Eight layers of different sizes, incompressible so that sizes stay different."""
    rng = random.Random(16)
    return ImageSpec(tuple(files_tree({f"layer{i}": rng.randbytes(size)})
                           for i, size in enumerate(SIZES)))


@pytest.fixture
def layout(tmp_path: Path) -> tuple[str, list[Digest]]:
    """``oci:DIR:v1`` holding the eight layers gzip-compressed, and their blob digests."""
    ref = f"oci:{tmp_path / 'src'}:v1"
    built = write_image(_spec(), parse_image_name(ref))
    return ref, [d.digest for d in built.layers]


def _ours(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "harness", "copy", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _skopeo(tool: Skopeo, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(tool.argv("copy", *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **tool.overrides()})


def _finish(process: subprocess.Popen[bytes]) -> str:
    out, err = process.communicate(timeout=HANG_GUARD)
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.parametrize("dest", ["oci:{}:v1", "dir:{}"])
def test_one_at_a_time_the_output_is_skopeos_byte_for_byte(
        tmp_path: Path, policy: Path, layout: tuple[str, list[Digest]], dest: str) -> None:
    """An oci: source takes one blob at a time in containers/image: layers in manifest
    order, each line as its layer starts, the whole stdout equal; copied again to the
    same place (every blob already there: "skipped" only on a terminal), equal again."""
    src, _ = layout
    tool = Skopeo(tmp_path / "skopeo")
    for _ in range(2):
        theirs = _finish(_skopeo(tool, src, dest.format(tmp_path / "theirs")))
        ours = _finish(_ours("--policy", str(policy), src, dest.format(tmp_path / "ours")))
        assert ours == theirs


class _HeldRegistry(Registry):
    """A fake registry whose GETs of the held blobs wait until the test releases them."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, threading.Event] = {}
        self.waiting: set[str] = set()
        self.changed = threading.Condition()

    def wsgi_app(self, environ: dict[str, object], start_response: object) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        digest = path.rpartition("/blobs/")[2]
        gate = self.held.get(digest) if environ.get("REQUEST_METHOD") == "GET" else None
        if gate is not None:
            with self.changed:
                self.waiting.add(digest)
                self.changed.notify_all()
            assert gate.wait(HANG_GUARD)
            with self.changed:
                self.waiting.discard(digest)
        return super().wsgi_app(environ, start_response)  # type: ignore[arg-type]

    def wait_for_waiting(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.waiting) == count,
                                         timeout=HANG_GUARD)


@pytest.fixture
def registry(layout: tuple[str, list[Digest]], policy: Path) -> Iterator[tuple[_HeldRegistry,
                                                                              str]]:
    """The eight-layer image at ``docker://HOST/lines/img:v1`` (plain HTTP)."""
    held = _HeldRegistry()
    with serve(held) as server:
        ref = f"docker://{server.host}/lines/img:v1"
        copy_image(parse_image_name(ref), parse_image_name(layout[0]),
                   CopyOptions(dest_ctx=SystemContext(tls_verify=False),
                               signature_policy_path=policy))
        yield held, ref


def _blob_lines(out: str) -> list[str]:
    return [x.removeprefix("Copying blob ") for x in out.splitlines()
            if x.startswith("Copying blob ")]


def _shape(out: str) -> tuple[list[str], list[str]]:
    """Every line with the blob lines' digests blanked, and those digests sorted."""
    lines = out.splitlines()
    return [("Copying blob ..." if x.startswith("Copying blob ") else x) for x in lines], \
        sorted(_blob_lines(out))


def test_in_parallel_both_print_the_same_lines_in_the_same_places(
        tmp_path: Path, policy: Path, layout: tuple[str, list[Digest]],
        registry: tuple[_HeldRegistry, str]) -> None:
    """docker:// to oci: runs six copies at once in both tools; two runs each. Which
    blob comes where depends on thread timing in both (a small layer that ends before the
    sixth thread prints lets the seventh print first), so the blob lines are compared as a
    set; the order rule itself is the test below, where the registry decides the timing."""
    _, ref = registry
    tool = Skopeo(tmp_path / "skopeo")
    outputs = []
    for run in range(2):
        outputs.append(_finish(_skopeo(tool, "--src-tls-verify=false", ref,
                                       f"oci:{tmp_path / f'theirs{run}'}:v1")))
        outputs.append(_finish(_ours("--policy", str(policy), "--src-tls-verify=false", ref,
                                     f"oci:{tmp_path / f'ours{run}'}:v1")))
    assert _shape(outputs[0])[1] == sorted(map(str, layout[1]))
    for out in outputs:
        assert _shape(out) == _shape(outputs[0])


def _available(process: subprocess.Popen[bytes]) -> bytes:
    """What the process has written to stdout so far, without waiting for more."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def _next_line(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    while not data.endswith(b"\n"):
        ready = select.select([fd], [], [], HANG_GUARD)[0]
        assert ready, f"no line in {HANG_GUARD} s; so far {data!r}"
        chunk = os.read(fd, 1)
        assert chunk, f"stdout ended; so far {data!r}"
        data += chunk
    return data.decode().rstrip("\n")


@pytest.mark.parametrize("tool", ["skopeo", "ours"])
def test_a_later_layer_is_announced_only_when_a_copy_ends(
        tmp_path: Path, policy: Path, layout: tuple[str, list[Digest]],
        registry: tuple[_HeldRegistry, str], tool: str) -> None:
    """The registry holds the first six layers: six lines, no seventh; releasing the
    third lets the seventh start, whose end lets the eighth start; then the rest."""
    held, ref = registry
    digests = list(map(str, layout[1]))
    held.held = {d: threading.Event() for d in digests[:6]}
    dest = f"oci:{tmp_path / 'out'}:v1"
    process = _skopeo(Skopeo(tmp_path / "skopeo"), "--src-tls-verify=false", ref, dest) \
        if tool == "skopeo" else _ours("--policy", str(policy), "--src-tls-verify=false",
                                       ref, dest)
    try:
        held.wait_for_waiting(6)
        # Each line is written before its blob is asked for, so all six are there.
        so_far = _available(process).decode()
        assert so_far.splitlines()[0] == "Getting image source signatures"
        assert sorted(_blob_lines(so_far)) == sorted(digests[:6])
        assert len(so_far.splitlines()) == 7
        held.held[digests[2]].set()
        assert _next_line(process) == f"Copying blob {digests[6]}"
        assert _next_line(process) == f"Copying blob {digests[7]}"
    finally:
        for gate in held.held.values():
            gate.set()
    rest = _finish(process).splitlines()
    assert [x.split(" sha256:")[0] for x in rest] == [
        "Copying config", "Writing manifest to image destination", "Storing signatures"]


def test_a_schema1_image_in_parallel_gets_a_line_per_fs_layer(
        tmp_path: Path, policy: Path) -> None:
    """docker:// schema1 to oci: (six at a time, diffIDs computed): one line per fsLayer,
    the empty layer once per occurrence, as skopeo prints; ours copies it once."""
    tool = Skopeo(tmp_path / "skopeo")
    write_image(history_spec(HistoryEntry("2024-01-09T00:00:00Z",
                                          '/bin/sh -c #(nop) CMD ["sh"]', empty_layer=True)),
                parse_image_name(f"oci:{tmp_path / 'oci'}:v1"))
    s1 = tmp_path / "s1"
    _finish(_skopeo(tool, "--quiet", "--format", "v2s1", f"oci:{tmp_path / 'oci'}:v1",
                    f"dir:{s1}"))
    fs_layers = [x["blobSum"] for x in json.loads((s1 / "manifest.json").read_text())
                 ["fsLayers"]]
    assert len(fs_layers) == len(set(fs_layers)) + 1  # the empty layer, twice
    with serve(Registry()) as server:
        ref = f"docker://{server.host}/lines/s1:v1"
        _finish(_skopeo(tool, "--quiet", "--dest-tls-verify=false", f"dir:{s1}", ref))
        theirs = _finish(_skopeo(tool, "--src-tls-verify=false", "--format", "oci", ref,
                                 f"oci:{tmp_path / 'theirs'}:v1"))
        ours = _finish(_ours("--policy", str(policy), "--src-tls-verify=false", "--format",
                             "oci", ref, f"oci:{tmp_path / 'ours'}:v1"))
    assert _shape(theirs)[1] == sorted(fs_layers)
    assert _shape(ours) == _shape(theirs)


@pytest.mark.requires_peer("buildah")
def test_buildah_push_and_ours_from_its_store_print_the_same_lines(
        tmp_path: Path, policy: Path) -> None:
    """containers-storage: to oci: copies six at a time (both ends allow it): buildah
    push's lines (uncompressed digests, the layers being compressed on the way) and ours
    are the same lines in the same places."""
    if os.geteuid() != 0:
        pytest.skip("buildah mount needs root")
    buildah = Buildah(tmp_path / "buildah")
    image = "scratch"
    for index, size in enumerate(SIZES[:7]):
        ctr = buildah.from_image(image)
        root = Path(buildah.run("mount", ctr).stdout.strip())
        (root / f"layer{index}").write_bytes(random.Random(index).randbytes(size))
        image = f"layers{index}"
        buildah.commit(ctr, image, "--quiet")
    theirs = buildah.run("push", "--signature-policy", str(buildah.config.policy), image,
                         f"oci:{tmp_path / 'theirs'}:v1").stderr
    ours = _finish(_ours("--policy", str(policy),
                         f"containers-storage:{buildah.store_spec}localhost/{image}",
                         f"oci:{tmp_path / 'ours'}:v1"))
    assert len(_shape(theirs)[1]) == 7
    assert _shape(ours) == _shape(theirs)
