"""containers/storage's configuration resolution and lock files (no peer needed)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.model.transportref import StorageSpec
from harness.store.containers import conf, drivers
from harness.store.containers.lockfile import TOKEN_SIZE, LockFile, StoreLockedError
from harness.store.containers.store import ContainersStore, big_data_file_name


def _conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "storage.conf"
    path.write_text(text)
    return path


def test_the_conf_env_file_names_the_store(tmp_path: Path) -> None:
    path = _conf(tmp_path, '[storage]\ndriver = "overlay"\ngraphroot = "/g"\nrunroot = "/r"\n')
    options = conf.resolve(None, {conf.CONF_ENV: str(path)})
    assert options == conf.StoreOptions("overlay", Path("/g"), Path("/r"))


def test_the_reference_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = _conf(tmp_path, '[storage]\ndriver = "overlay"\ngraphroot = "/g"\nrunroot = "/r"\n')
    env = {conf.CONF_ENV: str(path), "STORAGE_DRIVER": "vfs"}
    assert conf.resolve(None, env).driver == "vfs"
    spec = StorageSpec(driver="overlay", root="/other", run_root="/run2")
    assert conf.resolve(spec, env) == conf.StoreOptions("overlay", Path("/other"),
                                                        Path("/run2"))
    # a root alone keeps the configured driver and run root, as containers/image does
    assert conf.resolve(StorageSpec(root="/x"), {conf.CONF_ENV: str(path)}) == \
        conf.StoreOptions("overlay", Path("/x"), Path("/r"))


@pytest.mark.skipif(os.geteuid() != 0, reason="the built-in defaults asserted are root's")
def test_a_missing_file_leaves_the_defaults(tmp_path: Path) -> None:
    options = conf.resolve(None, {conf.CONF_ENV: str(tmp_path / "none.conf")})
    assert options == conf.StoreOptions("", Path("/var/lib/containers/storage"),
                                        Path("/run/containers/storage"))


def test_an_xdg_file_is_used_only_when_it_exists(tmp_path: Path) -> None:
    assert conf.config_file({"XDG_CONFIG_HOME": str(tmp_path)}) in (conf.OVERRIDE_CONF,
                                                                      conf.SYSTEM_CONF)
    (tmp_path / "containers").mkdir()
    user = _conf(tmp_path / "containers", "[storage]\n")
    assert conf.config_file({"XDG_CONFIG_HOME": str(tmp_path)}) == user


def test_a_broken_file_is_one_error(tmp_path: Path) -> None:
    path = _conf(tmp_path, "[storage\n")
    with pytest.raises(conf.StorageConfError, match=f"cannot read storage configuration {path}"):
        conf.resolve(None, {conf.CONF_ENV: str(path)})


def test_the_driver_of_an_existing_store_is_found(tmp_path: Path) -> None:
    assert drivers.detect(tmp_path) is None
    (tmp_path / "overlay").mkdir()
    assert drivers.detect(tmp_path) == "overlay"
    (tmp_path / "vfs").mkdir()
    with pytest.raises(drivers.DriverError, match="several drivers"):
        drivers.detect(tmp_path)


def test_a_btrfs_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "btrfs").mkdir()
    with pytest.raises(drivers.DriverError, match="'btrfs' is not supported"):
        ContainersStore(conf.StoreOptions("", tmp_path, tmp_path / "run"))
    assert [p.name for p in tmp_path.iterdir()] == ["btrfs"]


def test_overlay2_is_overlay() -> None:
    assert drivers.canonical("overlay2") == "overlay"


def test_big_data_file_names_are_containers_storages() -> None:
    assert big_data_file_name("manifest") == "manifest"
    assert big_data_file_name("sha256:ab") == "=" + "c2hhMjU2OmFi"
    assert big_data_file_name("Manifest") == "=TWFuaWZlc3Q="


def test_reading_an_empty_store_creates_nothing(tmp_path: Path) -> None:
    store = ContainersStore(conf.StoreOptions("vfs", tmp_path / "root", tmp_path / "run"))
    assert store.images() == [] and store.layers() == []
    assert store.find_image("anything") is None
    assert list(tmp_path.iterdir()) == []


_HOLD = ("import fcntl,sys; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_{}); "
         "print('held', flush=True); sys.stdin.read()")


def _holder(path: Path, kind: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD.format(kind), str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_write_lock_waits_for_a_reader_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "layers.lock"
    path.write_bytes(bytes(TOKEN_SIZE))
    reader = _holder(path, "SH")
    try:
        with LockFile(path, wait=0.1).shared():  # readers share
            pass
        with pytest.raises(StoreLockedError, match=f"locked by process {reader.pid}"), \
                LockFile(path, wait=0.1).exclusive():
            pass
    finally:
        reader.communicate("")
    with LockFile(path, wait=0.1).exclusive():
        pass


def test_a_touch_writes_a_new_token_as_containers_storage_does(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    lock = LockFile(path, wait=0)
    with lock.exclusive():
        lock.touch()
        first = path.read_bytes()
        lock.touch()
    second = path.read_bytes()
    assert len(first) == len(second) == TOKEN_SIZE and first != second
    _, _, pid = struct.unpack("<QQI", second[:20])
    assert pid == os.getpid()
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    """Record locks are per process; the threads still take turns, and a reader closing
    its use does not drop another thread's lock."""
    path = tmp_path / "x.lock"
    lock = LockFile(path, wait=5)
    inside: list[int] = []
    seen: list[int] = []

    def writer(n: int) -> None:
        with lock.exclusive():
            inside.append(n)
            seen.append(len(inside))
            inside.remove(n)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1] * 8
    probe = [sys.executable, "-c", "import fcntl,sys; "
             "fcntl.lockf(open(sys.argv[1],'r+'), fcntl.LOCK_EX|fcntl.LOCK_NB)", str(path)]
    with lock.shared():
        with lock.shared():
            pass
        # the inner reader is done; the outer one still holds the process's lock
        assert subprocess.run(probe, capture_output=True, check=False).returncode != 0
    assert subprocess.run(probe, capture_output=True, check=False).returncode == 0


def test_check_names_what_does_not_hold(tmp_path: Path) -> None:
    """Records that point at nothing: each is one line."""
    from harness.store.containers.check import check  # noqa: PLC0415

    root = tmp_path / "root"
    for sub, name, records in (
            ("vfs-layers", "layers.json", [{"id": "a" * 64, "parent": "b" * 64,
                                            "diff-digest": "sha256:" + "c" * 64,
                                            "flags": {"incomplete": True}}]),
            ("vfs-images", "images.json", [{"id": "d" * 64, "layer": "e" * 64,
                                            "names": ["localhost/x:1"],
                                            "big-data-names": ["manifest"]}])):
        (root / sub).mkdir(parents=True)
        (root / sub / name).write_text(json.dumps(records))
        (root / sub / name.replace(".json", ".lock")).write_bytes(bytes(TOKEN_SIZE))
    (root / "vfs/dir").mkdir(parents=True)
    store = ContainersStore(conf.StoreOptions("vfs", root, tmp_path / "run"))
    assert check(store) == [
        f"layer {'a' * 64}: flagged incomplete (a write that did not finish)",
        f"layer {'a' * 64}: parent {'b' * 64} is missing",
        f"layer {'a' * 64}: its files ({root}/vfs/dir/{'a' * 64}) are missing",
        f"image {'d' * 64}: top layer {'e' * 64} is missing",
        f"image {'d' * 64}: big data 'manifest' is missing",
    ]
