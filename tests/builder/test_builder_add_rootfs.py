"""``add`` never writes outside the rootfs, whatever symlinks the base image or the
sources hold, and writes what ``buildah add`` writes (hypothesis trees, both sides).

A sentinel directory outside the rootfs is the target of every hostile link (absolute,
climbing with ``..``, chains, loops); it must be unchanged after each ``add``. Where
buildah is installed, the same base tree and the same ``add`` go through ``buildah add``
too and the two rootfs trees must be equal entry by entry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.builder.builder import Builder
from harness.peers.clients import Buildah
from harness.store.store import Store
from harness.util.errors import HarnessError

NAMES = ("a", "b", "x")
SOURCE_TIME = 1_000_000  # generated entries get old times; "now" is what add itself sets
BASE_TIME = 500_000
NOW_AFTER = 1_500_000_000
LINKED = ("t_file", "t_dir", "t_dir/a")  # what a source link points at (never dangling)

# (path, kind, payload): kind "dir", "file" (payload = content) or "link" (payload = target)
Spec = list[tuple[str, str, str]]


@dataclass(frozen=True)
class Case:
    base: Spec
    sources: list[tuple[str, Spec]]  # top-level name, entries under it ("" = itself)
    dest: str


def _targets(sentinel: str) -> st.SearchStrategy[str]:
    climb = "../" * 16 + sentinel.lstrip("/")
    hostile = [sentinel, f"{sentinel}/file", f"{sentinel}/sub", climb, f"{climb}/file",
               "/", "..", "../..", "../../..", "/tmp", "/tmp/victim"]
    inside = st.lists(st.sampled_from((*NAMES, "..", ".")), min_size=1, max_size=3).map(
        "/".join)
    return st.one_of(st.sampled_from(hostile), inside, inside.map(lambda p: "/" + p))


def _paths(depth: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(NAMES), min_size=1, max_size=depth).map("/".join)


def _entries(sentinel: str, depth: int) -> st.SearchStrategy[Spec]:
    path = _paths(depth)
    entry = st.one_of(st.tuples(path, st.just("dir"), st.just("")),
                      st.tuples(path, st.just("file"), st.text("xyz", max_size=3)),
                      st.tuples(path, st.just("link"), _targets(sentinel)))
    return st.lists(entry, max_size=8)


@st.composite
def cases(draw: st.DrawFn, sentinel: str) -> Case:
    base = draw(_entries(sentinel, 3))
    sources: list[tuple[str, Spec]] = []
    for name in draw(st.lists(st.sampled_from(["s1", "s2", "a"]), min_size=1, max_size=2,
                              unique=True)):
        kind = draw(st.sampled_from(["file", "dir", "link"]))
        if kind == "file":
            sources.append((name, [("", "file", draw(st.text("pq", max_size=3)))]))
        elif kind == "link":  # a source given as a link is followed (to a file or a tree)
            sources.append((name, [("", "link", draw(st.sampled_from(LINKED)))]))
        else:
            sources.append((name, [("", "dir", ""), *draw(_entries(sentinel, 2))]))
    dest = draw(st.one_of(
        st.sampled_from(["/", "/a", "/a/", "/a/b", "/x/a/", "/../a", "b", "/tmp/victim"]),
        _paths(3).map(lambda p: "/" + p)))
    return Case(base, sources, dest)


def _plain_parents(root: Path, rel: str) -> bool:
    """Whether every parent of *rel* under *root* is a real directory or missing."""
    path = root
    for part in rel.split("/")[:-1]:
        path = path / part
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return False
    return True


def _build(root: Path, spec: Spec, time: int) -> None:
    """Create *spec* under *root* (generated trees hold clashes: an entry below a link or
    a file, or one that exists already, is skipped; nothing here follows a link)."""
    dirs: list[Path] = []
    for number, (rel, kind, payload) in enumerate(spec):
        path = root / rel if rel else root
        if not _plain_parents(root, rel) or (rel and os.path.lexists(path)):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=not rel)
            dirs.append(path)
        elif kind == "file":
            path.write_text(payload)
            path.chmod(0o4755 if "z" in payload else 0o640)
        else:
            path.symlink_to(payload)
        os.utime(path, (time + number, time + number), follow_symlinks=False)
    for number, path in enumerate(reversed(dirs)):
        os.utime(path, (time + number, time + number))


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under *root*, without following links: kind, mode, owner, content,
    link target and the time (an old generated time exactly, "now" as such)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            content: object = None
            if stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                content = str(path.readlink())
            when: object = int(info.st_mtime) if info.st_mtime < NOW_AFTER else "now"
            out[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode),
                                                stat.S_IMODE(info.st_mode), info.st_uid,
                                                info.st_gid, content, when)
    return out


def _reset(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _sources(tmp: Path, case: Case) -> list[Path]:
    src = tmp / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir()
    _build(src, [("t_file", "file", "z"), ("t_dir", "dir", ""), ("t_dir/a", "file", "in"),
                 ("t_dir/b", "link", "/x")], SOURCE_TIME)
    for name, spec in case.sources:
        _build(src / name, spec, SOURCE_TIME)
    return [src / name for name, _ in case.sources]


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A directory outside every rootfs that hostile links aim at."""
    path = tmp_path / "sentinel"
    (path / "sub").mkdir(parents=True)
    (path / "file").write_text("host data\n")
    (path / "sub/inner").write_text("more\n")
    return path


def _ours(store: Store) -> tuple[Builder, Callable[[Case, list[Path]], bool]]:
    builder = Builder.new(store, "scratch")

    def add(case: Case, sources: list[Path]) -> bool:
        try:
            builder.add(sources, case.dest)
        except HarnessError:
            return False
        return True
    return builder, add


FLAT = settings(max_examples=150,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_hostile_trees_never_write_outside(tmp_path: Path, sentinel: Path) -> None:
    before = snapshot(sentinel)
    builder, add = _ours(Store.open(tmp_path / "store"))

    @FLAT
    @given(cases(str(sentinel)))
    def check(case: Case) -> None:
        _reset(builder.rootfs)
        _build(builder.rootfs, case.base, BASE_TIME)
        add(case, _sources(tmp_path, case))
        assert snapshot(sentinel) == before
    check()


@pytest.mark.requires_peer("buildah")
def test_hostile_trees_add_like_buildah(tmp_path: Path, sentinel: Path) -> None:
    before = snapshot(sentinel)
    buildah = Buildah(tmp_path / "buildah")
    ctr = buildah.from_image("scratch")
    mount = Path(buildah.run("mount", ctr).stdout.strip())
    builder, add = _ours(Store.open(tmp_path / "store"))

    @settings(FLAT, max_examples=40)
    @given(cases(str(sentinel)))
    def check(case: Case) -> None:
        sources = _sources(tmp_path, case)
        for root in (builder.rootfs, mount):
            _reset(root)
            _build(root, case.base, BASE_TIME)
        theirs = buildah.run("add", ctr, *map(str, sources), case.dest, check=False)
        assert add(case, sources) == (theirs.returncode == 0), theirs.stderr
        assert snapshot(builder.rootfs) == snapshot(mount)
        assert snapshot(sentinel) == before
    check()


def test_issue_scenario_through_the_command_line(tmp_path: Path, sentinel: Path) -> None:
    """The report's case: ``data -> <host dir>`` and ``etc/conf -> <host file>`` in the
    base; both ``add`` runs succeed and land inside the rootfs, as in a chroot."""
    before = snapshot(sentinel)
    store = Store.open(tmp_path / "store")
    builder = Builder.new(store, "scratch", "evil")
    (builder.rootfs / "etc").mkdir()
    (builder.rootfs / "data").symlink_to(sentinel)
    (builder.rootfs / "etc/conf").symlink_to(sentinel / "file")
    src_a, src_b = tmp_path / "srcA", tmp_path / "srcB"
    (src_a / "dropped.txt").parent.mkdir()
    (src_a / "dropped.txt").write_text("dropped\n")
    (src_b / "conf").parent.mkdir()
    (src_b / "conf").write_text("overwritten\n")
    for src, dest in ((src_a, "/data"), (src_b, "/etc")):
        done = subprocess.run([sys.executable, "-m", "harness", "--root", str(tmp_path / "store"),
                               "add", "evil", str(src), dest], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
    assert snapshot(sentinel) == before
    inside = builder.rootfs / str(sentinel).lstrip("/")
    assert (inside / "dropped.txt").read_text() == "dropped\n"
    assert (builder.rootfs / "etc/conf").read_text() == "overwritten\n"
    assert not (builder.rootfs / "etc/conf").is_symlink()


@pytest.mark.requires_peer("buildah")
@pytest.mark.parametrize("dest", ["rel", "rel/", "../up", ".", "/w/d"])
def test_relative_dest_is_taken_from_the_working_directory(tmp_path: Path, dest: str) -> None:
    buildah = Buildah(tmp_path / "buildah")
    ctr = buildah.from_image("scratch")
    buildah.config_set(ctr, "--workingdir", "/w/d")
    mount = Path(buildah.run("mount", ctr).stdout.strip())
    builder = Builder.new(Store.open(tmp_path / "store"), "scratch")
    builder.set_field("WorkingDir", "/w/d")
    source = tmp_path / "file"
    source.write_text("content")
    os.utime(source, (SOURCE_TIME, SOURCE_TIME))
    buildah.run("add", ctr, str(source), dest)
    builder.add([source], dest)
    assert snapshot(builder.rootfs) == snapshot(mount)
