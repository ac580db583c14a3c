"""Applying layers: path traversal is refused; diff/apply round trips (hypothesis)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.store.apply import TraversalError, apply_layer
from harness.store.diff import diff_stream, take_snapshot
from harness.util.errors import HarnessError


def _tar(*members: tuple[str, str, str]) -> io.BytesIO:
    """A tar of (name, kind, data-or-target) members; kind is file, dir, sym or link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value.encode()))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "link": tarfile.LNKTYPE}[kind]
            info.linkname = value
            tar.addfile(info)
    buf.seek(0)
    return buf


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """``tmp/root`` to apply into, beside ``tmp/outside/secret`` that must stay intact."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret").write_text("keep")
    (tmp_path / "root").mkdir()
    return tmp_path


def _untouched(sandbox: Path) -> bool:
    return ((sandbox / "root").is_dir()
            and sorted(p.name for p in sandbox.iterdir()) == ["outside", "root"]
            and [p.name for p in (sandbox / "outside").iterdir()] == ["secret"]
            and (sandbox / "outside/secret").read_text() == "keep")


@pytest.mark.parametrize("members", [
    [("../outside/secret", "file", "x")],
    [("a/../../outside/secret", "file", "x")],
    [("/outside/secret", "file", "x")],
    [("esc", "sym", "../outside")],
    [("esc", "sym", "a/../../outside")],
    [("abs", "sym", "{sandbox}/outside"), ("abs/secret", "file", "x")],
    [("in", "dir", ""), ("in/up", "sym", "../.."), ("in/up/outside/secret", "file", "x")],
    [("h", "link", "../outside/secret")],
    [("abs", "sym", "{sandbox}/outside"), ("h", "link", "abs/secret")],
    [("d", "dir", ""), ("d/.wh...", "file", "")],
    [(".wh..", "file", "")],
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-up", "symlink-up-nested",
        "through-absolute-symlink", "through-relative-symlink", "hardlink-up",
        "hardlink-through-symlink", "whiteout-of-dotdot", "whiteout-of-dot"])
def test_traversal_is_refused_and_nothing_is_written_outside(
        sandbox: Path, members: list[tuple[str, str, str]]) -> None:
    members = [(n, k, v.format(sandbox=sandbox)) for n, k, v in members]
    with pytest.raises(TraversalError):
        apply_layer(sandbox / "root", _tar(*members))
    assert _untouched(sandbox)


def test_the_root_entry_may_be_spelled_slash_or_dot(sandbox: Path) -> None:
    apply_layer(sandbox / "root", _tar(("/", "dir", ""), ("./", "dir", ""),
                                       ("./etc/x", "file", "x")))
    assert (sandbox / "root/etc/x").read_text() == "x"
    assert _untouched(sandbox)


def test_in_root_symlinks_are_followed(sandbox: Path) -> None:
    apply_layer(sandbox / "root", _tar(("usr/lib", "dir", ""), ("lib", "sym", "usr/lib"),
                                       ("lib/x.so", "file", "elf")))
    assert (sandbox / "root/usr/lib/x.so").read_text() == "elf"


def test_an_absolute_symlink_entry_is_kept_as_is(sandbox: Path) -> None:
    apply_layer(sandbox / "root", _tar(("localtime", "sym", "/usr/share/zoneinfo/UTC")))
    assert (sandbox / "root/localtime").readlink() == Path("/usr/share/zoneinfo/UTC")
    assert _untouched(sandbox)


def test_a_file_replaces_a_symlink_instead_of_writing_through_it(sandbox: Path) -> None:
    apply_layer(sandbox / "root", _tar(("f", "sym", f"{sandbox}/outside/secret"),
                                       ("f", "file", "mine")))
    assert not (sandbox / "root/f").is_symlink()
    assert _untouched(sandbox)


_component = st.sampled_from(["a", "b", "..", ".", "c"])


@settings(max_examples=60)
@given(parts=st.lists(_component, min_size=1, max_size=5).filter(lambda p: ".." in p),
       absolute=st.booleans())
def test_any_name_with_dotdot_or_leading_slash_is_refused(parts: list[str],
                                                          absolute: bool) -> None:
    name = ("/" if absolute else "") + "/".join(parts)
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        (sandbox / "root").mkdir()
        with pytest.raises(TraversalError):
            apply_layer(sandbox / "root", _tar((name, "file", "x")))
        assert list((sandbox / "root").iterdir()) == []


# -- round trips ---------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "c"])
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join)
_owners = st.sampled_from([0, 7, 1000])
_leaf = st.one_of(
    st.tuples(st.just("file"), st.binary(max_size=40), st.sampled_from([0o644, 0o600, 0o4755]),
              _owners),
    st.tuples(st.just("sym"), st.sampled_from(["a", "b/c", "/etc/x"]), st.just(0o777), _owners),
)
_trees = st.dictionaries(_paths, _leaf, max_size=7)


Tree = dict[str, tuple[str, object, int, int]]  # kind, content or target, mode, owner


def _normalise(spec: Tree) -> Tree:
    """Prefixes of other paths become directories; everything else stays a leaf."""
    dirs = {"/".join(p.split("/")[:i]) for p in spec for i in range(1, p.count("/") + 1)}
    tree: Tree = dict.fromkeys(dirs, ("dir", None, 0o755, 0))
    tree.update({p: v for p, v in spec.items() if p not in dirs})
    return tree


def _describe(root: Path) -> Tree:
    found: Tree = {}
    for path in sorted(root.rglob("*")):
        rel, st_ = str(path.relative_to(root)), path.lstat()
        if stat.S_ISLNK(st_.st_mode):
            found[rel] = ("sym", str(path.readlink()), 0o777, st_.st_uid)
        elif stat.S_ISDIR(st_.st_mode):
            found[rel] = ("dir", None, stat.S_IMODE(st_.st_mode), st_.st_uid)
        else:
            found[rel] = ("file", path.read_bytes(), stat.S_IMODE(st_.st_mode), st_.st_uid)
    return found


def _transform(root: Path, target: Tree, recreate: bool) -> None:
    """Turn the tree at *root* into *target* the way a user would: delete, rewrite,
    chown, chmod (an empty *root* becomes *target*)."""
    current = _describe(root)
    for rel in sorted(current, reverse=True):
        kind = current[rel][0]
        if (rel not in target or target[rel][0] != kind or (kind == "sym" and
                                                            current[rel] != target[rel])
                or (recreate and kind == "dir")) and os.path.lexists(root / rel):
            if kind == "dir":
                shutil.rmtree(root / rel)
            else:
                (root / rel).unlink()
    for rel in sorted(target):
        kind, value, mode, owner = target[rel]
        path = root / rel
        if kind == "file" and (not path.exists() or path.read_bytes() != value):
            path.write_bytes(value)  # type: ignore[arg-type]
        elif kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "sym" and not path.is_symlink():
            path.symlink_to(value)  # type: ignore[arg-type]
        os.lchown(path, owner, owner)
        if kind != "sym":
            path.chmod(mode)


@settings(max_examples=60)
@given(base=_trees, target=_trees, recreate=st.booleans())
def test_a_committed_change_applied_again_gives_the_same_tree(
        base: Tree, target: Tree, recreate: bool) -> None:
    base, target = _normalise(base), _normalise(target)
    with tempfile.TemporaryDirectory() as tmp:
        work, replay = Path(tmp, "work"), Path(tmp, "replay")
        work.mkdir()
        replay.mkdir()
        _transform(work, base, recreate=False)
        base_layer = diff_stream(work, {}).read()
        snapshot = take_snapshot(work)
        _transform(work, target, recreate)
        assert _describe(work) == target
        change = diff_stream(work, snapshot).read()
        apply_layer(replay, io.BytesIO(base_layer))
        assert _describe(replay) == base
        apply_layer(replay, io.BytesIO(change))
        assert _describe(replay) == target


def test_filesystem_errors_become_one_line_errors(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(HarnessError, match="cannot apply layer"):
        apply_layer(not_a_dir, _tar(("f", "file", "x")))
