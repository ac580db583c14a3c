"""``push NAME docker-archive:FILE`` writes the archive ``buildah push`` 1.28.2 writes, byte
for byte: the same two-layer image in buildah's store and (copied) in ours, under the same
names, pushed by each tool by every spelling buildah takes, to archives with and without
a name of their own.

buildah (libimage 0.50's "Buildah compat" tag) adds the stored name the image was found
by to the archive's RepoTags, after the reference's own; an image named by its ID gets
none. The archive itself is containers/image 5.23's ``docker save`` layout (legacy layer
folders, ``repositories``, Go's tar headers): every byte is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from harness.peers.clients import Buildah
from tests.builder.parity import two_layer_image

NAMES = ("localhost/app:v1", "quay.io/team/tool:2.1", "localhost/other:latest")
# How the image is named to push, and the name of the archive's own (none, another, the
# same one spelled short, the same one in full).
SPELLINGS = ("app:v1", "localhost/app:v1", "other", "quay.io/team/tool:2.1", "{id}",
             "{short}")
ARCHIVE_NAMES = ("", ":foo:v2", ":app:v1", ":localhost/app:v1")


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env=dict(os.environ), check=False, timeout=300)


@pytest.fixture
def stores(tmp_path: Path, policy: Path) -> tuple[Buildah, str, str]:
    """buildah's store and ours (its root), each holding the same image under NAMES; its ID."""
    buildah = Buildah(tmp_path / "buildah")
    image = two_layer_image(buildah, tmp_path)  # named app:v1, stored as NAMES[0]
    root = str(tmp_path / "ours")
    done = _harness("--root", root, "copy", "-q", "--policy", str(policy),
                    f"containers-storage:{buildah.store_spec}{image}",
                    f"harness-store:{NAMES[0]}")
    assert done.returncode == 0, done.stderr
    for name in NAMES[1:]:
        buildah.run("tag", NAMES[0], name)
        assert _harness("--root", root, "tag", NAMES[0], name).returncode == 0
    return buildah, root, image


@pytest.mark.requires_peer("buildah")
@pytest.mark.parametrize("archive_name", ARCHIVE_NAMES)
def test_archive_is_the_one_buildah_writes(stores: tuple[Buildah, str, str], tmp_path: Path,
                                           policy: Path, archive_name: str) -> None:
    buildah, root, image = stores
    for number, spelling in enumerate(SPELLINGS):
        source = spelling.format(id=image, short=image[:12])
        theirs, ours = tmp_path / f"theirs-{number}.tar", tmp_path / f"ours-{number}.tar"
        buildah.push(source, f"docker-archive:{theirs}{archive_name}", "--quiet")
        done = _harness("--root", root, "push", "-q", "--signature-policy", str(policy),
                        source, f"docker-archive:{ours}{archive_name}")
        assert done.returncode == 0, done.stderr
        assert ours.read_bytes() == theirs.read_bytes(), (source, archive_name)
    with tarfile.open(tmp_path / "ours-0.tar") as archive:  # what the bytes hold
        manifest = archive.extractfile("manifest.json")
        assert manifest is not None
        tags = {"": [], ":foo:v2": ["docker.io/library/foo:v2"],
                ":app:v1": ["docker.io/library/app:v1"], ":localhost/app:v1": []}
        [entry] = json.loads(manifest.read())
    assert entry["RepoTags"] == [*tags[archive_name], "localhost/app:v1"]


@pytest.mark.requires_peer("buildah")
def test_an_unknown_name_fails_in_both(stores: tuple[Buildah, str, str], tmp_path: Path,
                                       policy: Path) -> None:
    """``app`` means ``localhost/app:latest``, which neither store holds: nothing written."""
    buildah, root, _ = stores
    theirs = buildah.run("push", "app", f"docker-archive:{tmp_path}/theirs.tar", check=False)
    assert theirs.returncode != 0 and "image not known" in theirs.stderr
    ours = _harness("--root", root, "push", "-q", "--signature-policy", str(policy), "app",
                    f"docker-archive:{tmp_path}/ours.tar")
    assert ours.returncode == 125 and "not known" in ours.stderr
    assert not (tmp_path / "ours.tar").exists() and not (tmp_path / "theirs.tar").exists()
