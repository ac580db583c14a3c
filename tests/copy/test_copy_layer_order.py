"""Layer scheduling and the ``Copying blob`` lines, as containers/image 5.23's copyLayers:
a slot (six in parallel, else one) taken per layer in manifest order, the line printed as
the layer's copy starts; and what this project adds: the first failure stops the rest.

The real peers' side of the same rules is tests/copy/test_copy_report_peers.py."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, ClassVar

import pytest

from harness.copy.engine import CopyOptions, copy_image
from harness.copy.layerpool import CopyCancelledError, copy_layers
from harness.model.compression import Algorithm
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.pytest_plugin.images import ImageSpec, plain_layers, write_image
from harness.pytest_plugin.trees import files_tree, layer_tar
from harness.transports.alltransports import parse_image_name
from harness.transports.oci import OCIImageSource, OCILayout, OCIReference
from harness.transports.types import BlobInfo, ImageSource, SystemContext
from harness.util.errors import HarnessError

HANG_GUARD = 120.0  # seconds before a wait that should never block that long fails the test


class _Lines(io.StringIO):
    """A report writer that lets a test wait for a line to be written."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            written = super().write(text)
            self.changed.notify_all()
        return written

    def blobs(self) -> list[str]:
        return [x.removeprefix("Copying blob ") for x in self.getvalue().splitlines()
                if x.startswith("Copying blob ")]

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout=HANG_GUARD)


class _GatedSource(OCIImageSource):
    """A thread-safe source whose gated layers stop at their first read until released."""

    gates: ClassVar[dict[Digest, threading.Event]] = {}
    waiting: ClassVar[set[Digest]] = set()
    opened: ClassVar[list[tuple[Digest, int]]] = []  # each open, with the lines printed then
    lines: ClassVar[_Lines]
    changed = threading.Condition()
    thread_safe = True

    def has_thread_safe_get_blob(self) -> bool:
        return self.thread_safe

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        assert info.digest is not None
        digest = info.digest
        type(self).opened.append((digest, len(self.lines.blobs())))
        stream, size = super().get_blob(info)
        gate = self.gates.get(digest)
        if gate is None:
            return stream, size
        with self.changed:
            self.waiting.add(digest)
            self.changed.notify_all()
        assert gate.wait(HANG_GUARD)
        return stream, size


class _GatedReference(OCIReference):
    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return _GatedSource(self, OCILayout(self.resolved), self.image)


def _image(tmp_path: Path, count: int) -> tuple[list[bytes], list[Digest]]:
    trees = tuple(files_tree({f"f{i}": bytes([65 + i]) * (100 + 50_000 * (i % 3))})
                  for i in range(count))
    built = write_image(ImageSpec(trees, compression=Algorithm.NONE),
                        parse_image_name(f"oci:{tmp_path}/src:v1"))
    return built.layer_tars(), [d.digest for d in built.layers]


def _start(tmp_path: Path, policy: Path, lines: _Lines) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(copy_image(parse_image_name(f"oci:{tmp_path}/d:v1"),
                                      _GatedReference(str(tmp_path / "src"), "v1"),
                                      CopyOptions(signature_policy_path=policy,
                                                  report_writer=lines)))
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.fixture
def gated() -> type[_GatedSource]:
    _GatedSource.gates = {}
    _GatedSource.waiting = set()
    _GatedSource.opened = []
    _GatedSource.lines = _Lines()
    _GatedSource.thread_safe = True
    return _GatedSource


def test_a_layer_past_the_sixth_is_announced_when_a_copy_ends(
        tmp_path: Path, policy: Path, gated: type[_GatedSource]) -> None:
    """Six copies hold their slots: the seventh layer is neither started nor announced
    until one of them ends, whichever it is (here the third)."""
    layers, digests = _image(tmp_path, 8)
    gated.gates = {d: threading.Event() for d in digests[:6]}
    thread, outcome = _start(tmp_path, policy, gated.lines)
    with gated.changed:
        assert gated.changed.wait_for(lambda: len(gated.waiting) == 6, timeout=HANG_GUARD)
    assert sorted(gated.lines.blobs()) == sorted(map(str, digests[:6]))
    assert digests[6] not in {d for d, _ in gated.opened}
    gated.gates[digests[2]].set()
    gated.lines.wait_for(lambda: len(gated.lines.blobs()) == 8)  # 7 ends at once, then 8
    assert gated.lines.blobs()[6:] == [str(digests[6]), str(digests[7])]
    for gate in gated.gates.values():
        gate.set()
    thread.join()
    assert not isinstance(outcome[0], BaseException), outcome
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/d:v1")) == layers


def test_one_at_a_time_each_line_comes_as_its_layer_starts(
        tmp_path: Path, policy: Path, gated: type[_GatedSource]) -> None:
    """A source that takes no concurrent reads (oci:, dir:, a commit's own image): the
    layers go in manifest order, each announced just before it is read, as the lines of
    skopeo and buildah come (byte-equal outputs: test_copy_report_peers.py)."""
    _, digests = _image(tmp_path, 4)
    gated.thread_safe = False
    thread, outcome = _start(tmp_path, policy, gated.lines)
    thread.join()
    assert not isinstance(outcome[0], BaseException), outcome
    assert [x for x in gated.opened if x[0] in digests] == [
        (d, n) for n, d in enumerate(digests, start=1)]
    assert gated.lines.blobs() == list(map(str, digests))


def test_a_repeated_layer_is_announced_in_its_turn_and_read_once(
        tmp_path: Path, policy: Path, gated: type[_GatedSource]) -> None:
    trees = files_tree({"a": b"a" * 3000}), files_tree({"b": b"b"})
    write_image(ImageSpec((trees[0], trees[1], trees[0]), compression=Algorithm.NONE),
                parse_image_name(f"oci:{tmp_path}/src:v1"))
    one, two = map(layer_tar, trees)
    thread, outcome = _start(tmp_path, policy, gated.lines)
    thread.join()
    assert not isinstance(outcome[0], BaseException), outcome
    first, second = Digest.from_bytes(one), Digest.from_bytes(two)
    assert gated.lines.blobs() == [str(first), str(second), str(first)]
    assert sorted(d for d, _ in gated.opened if d in (first, second)) == sorted([first, second])
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/d:v1")) == [one, two, one]


# -- failures: copy_layers itself, where the test sees every copy --------------------------

class _Endless(io.RawIOBase):
    """A blob that never ends: only a stopped copy gets out of reading it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        buffer[:1] = b"x"
        return 1


class _EndlessSource(ImageSource):
    reference = None  # type: ignore[assignment]

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        raise AssertionError("not read here")

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        return _Endless(), -1  # type: ignore[return-value]


def _layers(count: int) -> list[Descriptor]:
    return [Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.from_bytes(bytes([i])),
                       1) for i in range(count)]


def test_the_first_failure_stops_every_other_copy_and_is_raised_alone() -> None:
    """Layer 3 fails while 1-6 run: the five others stop at their next read, 7-9 never
    start nor are announced, every thread is joined, and layer 3's error is raised."""
    layers = _layers(9)
    started = threading.Barrier(6)
    announced: list[Digest] = []
    ended: dict[Digest, str] = {}
    failure = HarnessError("blob 3: the registry said no")
    before = set(threading.enumerate())

    def copy_one(source: ImageSource, layer: Descriptor) -> int:
        stream, _ = source.get_blob(BlobInfo.of(layer))
        stream.read(1)
        started.wait(HANG_GUARD)
        if layer is layers[2]:
            raise failure
        reads = 0
        try:
            while reads < 10_000_000:  # an unstopped copy fails the test, not hangs it
                stream.read(1)
                reads += 1
        except CopyCancelledError:
            ended[layer.digest] = "stopped"
            raise
        ended[layer.digest] = "never stopped"
        return reads

    with pytest.raises(HarnessError) as raised:
        copy_layers(_EndlessSource(), layers, copy_one, workers=6,
                    announce=lambda layer: announced.append(layer.digest))
    assert raised.value is failure
    assert sorted(announced) == sorted(d.digest for d in layers[:6])
    assert ended == {d.digest: "stopped" for i, d in enumerate(layers[:6]) if i != 2}
    assert set(threading.enumerate()) - before == set()


def test_a_failure_before_the_others_start_keeps_them_from_starting() -> None:
    layers = _layers(4)
    announced: list[Digest] = []

    def copy_one(source: ImageSource, layer: Descriptor) -> int:
        raise HarnessError(f"cannot read {layer.digest}")

    with pytest.raises(HarnessError, match=f"cannot read {layers[0].digest}"):
        copy_layers(_EndlessSource(), layers, copy_one, workers=1,
                    announce=lambda layer: announced.append(layer.digest))
    assert announced == [layers[0].digest]


def test_an_interrupt_while_a_layer_thread_starts_is_raised_as_it_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C inside the second layer's Thread.start: the first copy is stopped and joined,
    and the interrupt (not a RuntimeError about joining a thread never started) goes up."""
    layers = _layers(3)
    start = threading.Thread.start
    starts: list[str] = []
    before = set(threading.enumerate())

    def interrupted_start(thread: threading.Thread) -> None:
        starts.append(thread.name)
        if len(starts) == 2:
            raise KeyboardInterrupt
        start(thread)

    def copy_one(source: ImageSource, layer: Descriptor) -> int:
        return len(source.get_blob(BlobInfo.of(layer))[0].read(1))

    monkeypatch.setattr(threading.Thread, "start", interrupted_start)
    with pytest.raises(KeyboardInterrupt):
        copy_layers(_EndlessSource(), layers, copy_one, workers=6, announce=lambda layer: None)
    assert starts == ["layer-0", "layer-1"]
    assert set(threading.enumerate()) - before == set()


def test_a_failing_layer_fails_the_copy_with_its_own_message(
        tmp_path: Path, policy: Path, gated: type[_GatedSource]) -> None:
    """Through copy_image: one line of error (the broken layer's), nothing published, no
    thread left running."""
    _, digests = _image(tmp_path, 3)
    blob = tmp_path / "src" / "blobs" / "sha256" / digests[1].hex
    blob.write_bytes(b"not the layer")
    before = set(threading.enumerate())
    with pytest.raises(HarnessError) as raised:
        copy_image(parse_image_name(f"oci:{tmp_path}/d:v1"),
                   _GatedReference(str(tmp_path / "src"), "v1"),
                   CopyOptions(signature_policy_path=policy))
    assert str(digests[1]) in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "d" / "index.json").exists()
    assert set(threading.enumerate()) - before == set()
