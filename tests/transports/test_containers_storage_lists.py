"""Manifest lists in buildah's store: ``manifest push``, ``push`` of a list (``--all``,
``--rm``) and ``commit --manifest``, each against buildah 1.28.2 on the same inputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.peers.clients import Buildah
from harness.peers.launchers import RunningRegistry
from harness.store.containers.lockfile import LockFile

pytestmark = pytest.mark.requires_peer("buildah")

sys.path.insert(0, str(Path(__file__).parent))
from test_containers_storage import _harness  # noqa: E402

ARCHES = ("amd64", "s390x")  # amd64: this machine's; a list of s390x alone has none
NO_LABEL = ("--identity-label=false", "--timestamp", "0")


def _file(tmp: Path, text: str) -> Path:
    path = tmp / f"file-{text}"
    path.write_text(text)
    return path


def _buildah_image(buildah: Buildah, tmp: Path, arch: str, name: str) -> None:
    ctr = buildah.from_image("scratch")
    buildah.copy(ctr, _file(tmp, arch), "/f")
    buildah.config_set(ctr, "--arch", arch)
    buildah.commit(ctr, name, "--quiet", *NO_LABEL)


def _buildah_list(buildah: Buildah, tmp: Path, name: str, arches: tuple[str, ...]) -> None:
    buildah.run("manifest", "create", name)
    for arch in arches:
        _buildah_image(buildah, tmp, arch, f"{name}-{arch}")
        buildah.run("manifest", "add", name, f"{name}-{arch}")


def _images(buildah: Buildah) -> list[str]:
    """Each image's name and ID, as buildah lists them (no times: they drift)."""
    return buildah.run("images", "--all", "--no-trunc", "--format",
                       "{{.Name}}:{{.Tag}} {{.ID}}").stdout.splitlines()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _ok(*args: str) -> str:
    done = _harness(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_manifest_push_all_writes_buildahs_bytes(tmp_path: Path, policy: Path) -> None:
    """Every file of a dir: destination (the list, each image's manifest, config and
    layers) is byte for byte what ``buildah manifest push --all`` writes."""
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ARCHES)
    buildah.run("manifest", "push", "--quiet", "--all", "app", f"dir:{tmp_path / 'theirs'}")
    _ok("manifest", "push", "-q", "--all", "--signature-policy", str(policy),
        f"containers-storage:{buildah.store_spec}app", f"dir:{tmp_path / 'ours'}")
    theirs = _files(tmp_path / "theirs")
    assert len(theirs) == 2 + 3 * len(ARCHES)  # list, version; per image manifest/config/layer
    assert _files(tmp_path / "ours") == theirs


def test_manifest_push_without_all_writes_the_list_alone(tmp_path: Path,
                                                         policy: Path) -> None:
    """No --all: the list alone, as buildah writes it, and its digest in --digestfile."""
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ARCHES)
    buildah.run("manifest", "push", "--quiet", "--digestfile", str(tmp_path / "theirs.d"),
                "app", f"dir:{tmp_path / 'theirs'}")
    _ok("manifest", "push", "-q", "--digestfile", str(tmp_path / "ours.d"),
        "--signature-policy", str(policy), f"containers-storage:{buildah.store_spec}app",
        f"dir:{tmp_path / 'ours'}")
    theirs = _files(tmp_path / "theirs")
    assert sorted(theirs) == ["manifest.json", "version"]
    assert _files(tmp_path / "ours") == theirs
    assert (tmp_path / "ours.d").read_bytes() == (tmp_path / "theirs.d").read_bytes() == \
        f"sha256:{hashlib.sha256(theirs['manifest.json']).hexdigest()}".encode()


def test_commit_manifest_naming_an_image_fails_as_buildahs(tmp_path: Path,
                                                           policy: Path) -> None:
    """A --manifest name that an image (not a list) has: the commit is done, then making
    the list fails on the taken name, with buildah's words."""
    buildah = Buildah(tmp_path / "b")
    _buildah_image(buildah, tmp_path, "amd64", "taken")
    taken_id = _images(buildah)[0].split()[-1].removeprefix("sha256:")
    ctr = buildah.from_image("scratch")
    theirs = buildah.run("commit", "--quiet", "--manifest", "taken", ctr, "theirs",
                         check=False)
    root = tmp_path / "ours"
    ours_ctr = _ok("--root", str(root), "from", "scratch").strip().splitlines()[-1]
    ours = _harness("--root", str(root), "commit", "-q", "--signature-policy", str(policy),
                    "--manifest", "taken", ours_ctr,
                    f"containers-storage:{buildah.store_spec}localhost/ours")
    words = (f'creating image to hold manifest list: image name "localhost/taken:latest" '
             f'is already associated with image "{taken_id}": that name is already in use')
    assert (theirs.returncode, ours.returncode) == (125, 125)
    assert theirs.stderr.rstrip().endswith(words)
    assert ours.stderr == f"Error: {words}\n"
    names = [line.split()[0] for line in _images(buildah)]
    assert sorted(names) == ["localhost/ours:latest", "localhost/taken:latest",
                             "localhost/theirs:latest"]


# Reads a written image: ("manifest", None) the top manifest, ("manifest", digest) an
# instance's, ("blob", digest) a blob.
Reader = Callable[[str, str | None], bytes]


def _dir_reader(directory: Path) -> Reader:
    def read(kind: str, digest: str | None) -> bytes:
        if digest is None:
            return (directory / "manifest.json").read_bytes()
        hex_digest = digest.split(":", 1)[1]
        name = f"{hex_digest}.manifest.json" if kind == "manifest" else hex_digest
        return (directory / name).read_bytes()
    return read


def _registry_reader(registry: RunningRegistry, repo: str) -> Reader:
    accept = ",".join(["application/vnd.oci.image.index.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.docker.distribution.manifest.v2+json"])

    def read(kind: str, digest: str | None) -> bytes:
        what = "manifests" if kind == "manifest" else "blobs"
        request = urllib.request.Request(f"{registry.url}/v2/{repo}/{what}/{digest or 'latest'}",
                                         headers={"Accept": accept})
        with urllib.request.urlopen(request) as response:
            return bytes(response.read())
    return read


def _ordered(raw: bytes) -> Any:
    return json.loads(raw, object_pairs_hook=lambda pairs: pairs)


def _with(descriptor: list[tuple[str, Any]], digest: str, size: int) -> list[tuple[str, Any]]:
    return [(k, digest if k == "digest" else size if k == "size" else v)
            for k, v in descriptor]


def _image_differs_by_gzip_only(ours: Reader, theirs: Reader, our_digest: str | None,
                                their_digest: str | None) -> tuple[str, int]:
    """One image: the same config bytes, gzip layers that decompress to the same tars,
    and a manifest equal, field for field and in order, to theirs naming our layer
    blobs. Returns our manifest's digest and size."""
    our_raw, their_raw = ours("manifest", our_digest), theirs("manifest", their_digest)
    our_m, their_m = json.loads(our_raw), json.loads(their_raw)
    assert ours("blob", our_m["config"]["digest"]) == theirs("blob", their_m["config"]["digest"])
    expected = dict(_ordered(their_raw))
    layers = []
    for our_layer, their_layer, raw_layer in zip(our_m["layers"], their_m["layers"],
                                                 expected["layers"], strict=True):
        assert our_layer["mediaType"].endswith("gzip")
        assert gzip.decompress(ours("blob", our_layer["digest"])) == \
            gzip.decompress(theirs("blob", their_layer["digest"]))
        layers.append(_with(raw_layer, our_layer["digest"], our_layer["size"]))
    expected["layers"] = layers
    assert _ordered(our_raw) == list(expected.items())
    return f"sha256:{hashlib.sha256(our_raw).hexdigest()}", len(our_raw)


def _list_differs_by_gzip_only(ours: Reader, theirs: Reader) -> None:
    """A pushed list and its images are buildah's but for the compressor's bytes (item 4
    of docs/store.md's deliberate differences) and the digests and sizes naming them."""
    our_raw, their_raw = ours("manifest", None), theirs("manifest", None)
    expected = dict(_ordered(their_raw))
    entries = []
    for our_entry, their_entry in zip(json.loads(our_raw)["manifests"], expected["manifests"],
                                      strict=True):
        digest, size = _image_differs_by_gzip_only(ours, theirs, our_entry["digest"],
                                                   dict(their_entry)["digest"])
        entries.append(_with(their_entry, digest, size))
    expected["manifests"] = entries
    assert _ordered(our_raw) == list(expected.items())


@pytest.mark.parametrize("rm", [(), ("--rm",)])
def test_push_all_falls_back_to_the_list_as_buildah_does(tmp_path: Path, policy: Path,
                                                         rm: tuple[str, ...]) -> None:
    """zstd layers cannot be named in a Docker manifest, so ``push --all
    --compression-format zstd -f v2s2 LIST`` fails for the image and then pushes the
    list and all its images (gzip: buildah forces compression for dir: unless -D), and
    with --rm removes the list, in both tools (each on its own copy of the store)."""
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ARCHES)
    shutil.copytree(tmp_path / "b", tmp_path / "o", symlinks=True)
    ours_store = Buildah(tmp_path / "o")
    flags = ("--all", *rm, "--compression-format", "zstd", "-f", "v2s2")
    buildah.run("push", "--quiet", *flags, "--signature-policy", str(policy), "app",
                f"dir:{tmp_path / 'theirs'}")
    _ok("push", "-q", *flags, "--signature-policy", str(policy),
        f"containers-storage:{ours_store.store_spec}app", f"dir:{tmp_path / 'ours'}")
    theirs = tmp_path / "theirs"
    assert json.loads((theirs / "manifest.json").read_bytes())["mediaType"] == \
        "application/vnd.docker.distribution.manifest.list.v2+json"
    assert len(list((tmp_path / "ours").iterdir())) == len(list(theirs.iterdir()))
    _list_differs_by_gzip_only(_dir_reader(tmp_path / "ours"), _dir_reader(theirs))
    listed = _images(ours_store)
    assert listed == _images(buildah)
    assert any(line.startswith("localhost/app:latest ") for line in listed) is not bool(rm)


def test_manifest_push_all_to_distribution(tmp_path: Path, policy: Path,
                                           distribution: RunningRegistry) -> None:
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ARCHES)
    host = distribution.host
    buildah.run("manifest", "push", "--quiet", "--all", "--tls-verify=false", "app",
                f"docker://{host}/lists/theirs")
    _ok("manifest", "push", "-q", "--all", "--tls-verify=false", "--signature-policy",
        str(policy), f"containers-storage:{buildah.store_spec}app",
        f"docker://{host}/lists/ours")
    _list_differs_by_gzip_only(_registry_reader(distribution, "lists/ours"),
                               _registry_reader(distribution, "lists/theirs"))


@pytest.mark.parametrize("flags", [(), ("--all",), ("--all", "--rm")])
def test_push_of_a_list_is_its_platform_image(tmp_path: Path, policy: Path,
                                              flags: tuple[str, ...]) -> None:
    """buildah 1.28 ``push LIST`` sends the list's image for this platform, whatever
    --all/--rm say (they act only when that push fails), and keeps the list; every file
    written to dir: is buildah's."""
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ARCHES)
    buildah.run("push", "--quiet", "-D", *flags, "--signature-policy", str(policy), "app",
                f"dir:{tmp_path / 'theirs'}")
    _ok("push", "-q", "-D", *flags, "--signature-policy", str(policy),
        f"containers-storage:{buildah.store_spec}app", f"dir:{tmp_path / 'ours'}")
    theirs = _files(tmp_path / "theirs")
    assert json.loads(theirs["manifest.json"])["mediaType"] == \
        "application/vnd.oci.image.manifest.v1+json"
    assert _files(tmp_path / "ours") == theirs
    assert any(line.startswith("localhost/app:latest ") for line in _images(buildah))


def test_push_of_a_list_without_this_platform_fails_as_buildahs(
        tmp_path: Path, policy: Path, distribution: RunningRegistry) -> None:
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ("s390x",))
    dest = f"docker://{distribution.host}/lists/none"
    theirs = buildah.run("push", "--all", "--tls-verify=false", "app", dest, check=False)
    ours = _harness("push", "--all", "--tls-verify=false", "--signature-policy", str(policy),
                    f"containers-storage:{buildah.store_spec}app", dest)
    assert (theirs.returncode, ours.returncode) == (125, 125)
    for out in (theirs.stderr, ours.stderr):
        assert 'no image found in image index for architecture amd64, variant "", OS ' \
               "linux" in out
        assert out.rstrip().endswith("image not known")
    assert len(ours.stderr.strip().splitlines()) == 1


def test_manifest_push_rm_leaves_the_store_as_buildah_does(tmp_path: Path,
                                                           policy: Path) -> None:
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ARCHES)
    shutil.copytree(tmp_path / "b", tmp_path / "o", symlinks=True)
    ours = Buildah(tmp_path / "o")
    buildah.run("manifest", "push", "--quiet", "--all", "--rm", "app",
                f"dir:{tmp_path / 'theirs'}")
    _ok("manifest", "push", "-q", "--all", "--rm", "--signature-policy", str(policy),
        f"containers-storage:{ours.store_spec}app", f"dir:{tmp_path / 'ours'}")
    images = Path("vfs-images")
    assert sorted(p.name for p in (ours.root / images).iterdir()) == \
        sorted(p.name for p in (buildah.root / images).iterdir())
    assert (ours.root / images / "images.json").read_bytes() == \
        (buildah.root / images / "images.json").read_bytes()
    assert _images(ours) == _images(buildah)


def _list_record(buildah: Buildah, name: str) -> dict[str, object]:
    records = json.loads((buildah.root / "vfs-images/images.json").read_bytes())
    return next(r for r in records if f"localhost/{name}:latest" in r.get("names", []))


def _list_data(buildah: Buildah, name: str) -> tuple[bytes, bytes, str]:
    record = _list_record(buildah, name)
    directory = buildah.root / "vfs-images" / str(record["id"])
    return ((directory / "manifest").read_bytes(), (directory / "instances.json").read_bytes(),
            buildah.run("manifest", "inspect", name).stdout)


def test_commit_manifest_makes_the_list_buildah_makes(tmp_path: Path, policy: Path) -> None:
    """The same two containers committed with --manifest by both tools into one store:
    the same images, and lists with the same bytes (a Docker list when created, an OCI
    index once saved again, as buildah's), the same instances and the same record
    fields but for the random ID, the name and the time."""
    buildah = Buildah(tmp_path / "b")
    spec = buildah.store_spec
    root = tmp_path / "ours"
    for step, arch in enumerate(ARCHES):
        ctr = buildah.from_image("scratch")
        buildah.copy(ctr, _file(tmp_path, arch), "/f")
        buildah.config_set(ctr, "--arch", arch)
        theirs_id = buildah.commit(ctr, f"img-{arch}", "--quiet", "--manifest", "theirs",
                                   *NO_LABEL)
        ours_ctr = _ok("--root", str(root), "from", "scratch").strip().splitlines()[-1]
        _ok("--root", str(root), "add", ours_ctr, str(_file(tmp_path, arch)), "/f")
        _ok("--root", str(root), "config", "--arch", arch, ours_ctr)
        ours_id = _ok("--root", str(root), "commit", "-q", "--signature-policy", str(policy),
                      "--manifest", "ours", *NO_LABEL, ours_ctr,
                      f"containers-storage:{spec}localhost/img-{arch}").strip()
        assert ours_id == theirs_id
        ours, theirs = _list_data(buildah, "ours"), _list_data(buildah, "theirs")
        assert (ours[0], ours[2]) == (theirs[0], theirs[2])
        # instances.json: the same bytes, but for the list's own ID under "" (kept from
        # the second save on, as buildah's LoadFromImage records it)
        own = {"": _list_record(buildah, "ours")["id"]} if step else {}
        theirs_own = {"": _list_record(buildah, "theirs")["id"]} if step else {}
        assert json.loads(theirs[1]) == {**json.loads(theirs[1]), **theirs_own}
        assert ours[1] == json.dumps({**json.loads(theirs[1]), **own}, sort_keys=True,
                                     separators=(",", ":")).encode()
        kind = json.loads(theirs[0])["mediaType"]
        assert kind == ("application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.oci.image.index.v1+json")[step]
        fields = ("digest", "big-data-names", "big-data-sizes")
        ours_record, theirs_record = _list_record(buildah, "ours"), _list_record(buildah,
                                                                                  "theirs")
        assert list(ours_record) == list(theirs_record)
        assert {k: ours_record[k] for k in fields} == {k: theirs_record[k] for k in fields}
        locks = {p.name: p.stat().st_size for p in (buildah.runroot / "vfs-locks").iterdir()}
        assert locks == ({} if step == 0 else {  # the lock buildah takes to change a list
            f"sha256:{ours_record['id']}": 0, f"sha256:{theirs_record['id']}": 0})
        digests = ours_record["big-data-digests"], theirs_record["big-data-digests"]
        assert [d["manifest"] for d in digests] == [  # type: ignore[index]
            f"sha256:{hashlib.sha256(ours[0]).hexdigest()}"] * 2
        assert digests[0]["instances.json"] == \
            f"sha256:{hashlib.sha256(ours[1]).hexdigest()}"  # type: ignore[index]


@pytest.mark.parametrize(("args", "message"), [
    (("manifest", "push", "--all", "{spec}nosuch", "dir:{tmp}/x"),
     "Error: nosuch: image not known\n"),
    (("manifest", "push", "--all", "{spec}app-amd64", "dir:{tmp}/x"),
     "Error: localhost/app-amd64:latest: image is not a manifest list\n"),
    (("manifest", "push", "--format", "v2s1", "{spec}app", "dir:{tmp}/x"),
     "invalid choice: 'v2s1'"),
    (("push", "{spec}nosuch", "dir:{tmp}/x"), "nosuch: image not known"),
])
def test_bad_input_is_one_line(tmp_path: Path, policy: Path, args: tuple[str, ...],
                               message: str) -> None:
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ("amd64",))
    argv = [a.format(spec=f"containers-storage:{buildah.store_spec}", tmp=tmp_path)
            for a in args]
    done = _harness(*argv[:2] if argv[0] == "manifest" else argv[:1],
                    "--signature-policy", str(policy),
                    *argv[2:] if argv[0] == "manifest" else argv[1:])
    assert done.returncode in (2, 125)
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_commit_manifest_needs_buildahs_store(tmp_path: Path) -> None:
    root = tmp_path / "ours"
    ctr = _ok("--root", str(root), "from", "scratch").strip().splitlines()[-1]
    done = _harness("--root", str(root), "commit", "--manifest", "l", ctr, "img")
    assert done.returncode == 125
    assert done.stderr == ("Error: --manifest needs a containers-storage:[DRIVER@ROOT+RUNROOT]"
                           "NAME destination: lists are kept in buildah's store only\n")
    assert _ok("--root", str(root), "images", "-q") == "\n"


def test_commit_manifest_waits_for_the_lists_lock(tmp_path: Path, policy: Path) -> None:
    """Changing a list takes the lock buildah takes (its digest lock); held elsewhere,
    the commit waits, then fails in one line and leaves the list as it was."""
    buildah = Buildah(tmp_path / "b")
    _buildah_list(buildah, tmp_path, "app", ("amd64",))
    list_id = _list_record(buildah, "app")["id"]
    before = _list_data(buildah, "app")
    root = tmp_path / "ours"
    ctr = _ok("--root", str(root), "from", "scratch").strip().splitlines()[-1]
    with LockFile(buildah.runroot / "vfs-locks" / f"sha256:{list_id}").exclusive():
        done = _harness("--root", str(root), "commit", "-q", "--signature-policy",
                        str(policy), "--manifest", "app", ctr,
                        f"containers-storage:{buildah.store_spec}localhost/new",
                        env={"OCI_HARNESS_LOCK_WAIT": "0.5"})
    assert done.returncode == 125
    assert done.stderr.startswith(f"Error: containers-storage: {buildah.runroot}/vfs-locks/"
                                  f"sha256:{list_id} is locked by process ")
    assert len(done.stderr.splitlines()) == 1
    assert _list_data(buildah, "app") == before
