"""Test kit for the buildah parity suite: commit the same container with both tools and,
when a digest differs, say where (the first differing JSON field, the first differing tar
header, field by field) so that a failure reads as the difference it is."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.builder.builder import Builder
from harness.builder.names import local_name
from harness.model.compression import decompress
from harness.model.digest import Digest
from harness.peers.clients import Buildah
from harness.store.store import Store

Populate = Callable[[Path], None]
CONFIG_FLAGS_DEFAULT: tuple[str, ...] = ()
NO_IDENTITY = ("--identity-label=false",)  # the commit flags of the parity cases


@dataclass(frozen=True)
class Case:
    """A scripted container: what is done to its files and its settings."""

    name: str
    populate: Populate
    flags: tuple[str, ...] = CONFIG_FLAGS_DEFAULT
    base: Case | None = None  # committed first (in OCI), then used as the base image
    pulled: bool = False  # the base is pushed to an OCI layout (gzip) and pulled from it
    add_tree: Populate | None = None  # a host tree both tools `add` to ADD_DEST


ADD_DEST = "/srv/added/"


@dataclass(frozen=True)
class Inputs:
    """What both tools read: the layout a pulled base goes through, the `add` source."""

    layout: Path
    add_source: Path


@dataclass
class Commit:
    """One tool's commit of a case: the digests first, the bytes to explain them."""

    image_id: str
    manifest_digest: str
    manifest: bytes
    config: bytes
    layers: Callable[[], list[bytes]] = field(repr=False)

    def digests(self) -> dict[str, Any]:
        return {"image ID": self.image_id, "manifest digest": self.manifest_digest,
                "diffIDs": json.loads(self.config)["rootfs"]["diff_ids"]}


def run_script(script: str, root: Path) -> None:
    """Run a shell *script* with ``$R`` set to the container's root directory."""
    subprocess.run(["sh", "-euc", script], check=True, env={**os.environ, "R": str(root)})


class BuildahSide:
    """buildah on vfs in its own store."""

    def __init__(self, workdir: Path) -> None:
        self.tool = Buildah(workdir)

    def container(self, case: Case, inputs: Inputs) -> str:
        image = "scratch"
        if case.base is not None:
            base_ctr = self.container(case.base, inputs)
            self.tool.commit(base_ctr, case.base.name, "--timestamp", "0",
                             "--identity-label=false", "--quiet")
            image = case.base.name
            if case.pulled:
                self.tool.push(image, f"oci:{inputs.layout}:base")
                image = f"oci:{inputs.layout}:base"
        ctr = self.tool.from_image(image)
        case.populate(Path(self.tool.run("mount", ctr).stdout.strip()))
        if case.add_tree is not None:
            self.tool.run("add", ctr, str(inputs.add_source), ADD_DEST)
        if case.flags:
            self.tool.config_set(ctr, *case.flags)
        return ctr

    def commit_output(self, ctr: str, flags: tuple[str, ...], dest: str) -> tuple[str, str]:
        """(stdout, stderr) of a commit without ``--quiet``."""
        done = self.tool.run("commit", "--signature-policy", str(self.tool.config.policy),
                             "--timestamp", "0", "--identity-label=false", *flags, ctr, dest)
        return done.stdout, done.stderr

    def container_id(self, ctr: str) -> str:
        info = json.loads(self.tool.run("inspect", "--type", "container", ctr).stdout)
        return str(info["ContainerID"])

    def commit(self, ctr: str, fmt: str, name: str, layout: Path, *, gzip: bool = False,
               flags: tuple[str, ...] = NO_IDENTITY) -> Commit:
        image_id = self.tool.commit(ctr, name, "--format", fmt, "--timestamp", "0",
                                    *flags, "--quiet",
                                    f"--disable-compression={str(not gzip).lower()}")
        info = json.loads(self.tool.run("inspect", "--type", "image", name).stdout)

        def layers() -> list[bytes]:
            self.tool.push(name, f"oci:{layout}:{name}")
            index = json.loads((layout / "index.json").read_text())
            pushed = next(m for m in index["manifests"]
                          if m["annotations"]["org.opencontainers.image.ref.name"] == name)
            manifest = json.loads(_blob(layout, pushed["digest"]))
            return [_uncompressed(_blob(layout, x["digest"])) for x in manifest["layers"]]

        return Commit(image_id, info["FromImageDigest"], info["Manifest"].encode(),
                      info["Config"].encode(), layers)


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes()


def _uncompressed(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


class OurSide:
    """``python -m harness`` on a store of its own; the container takes buildah's
    container ID (the Docker config names it, so it is an input like the files)."""

    def __init__(self, root: Path, policy: Path) -> None:
        self.root, self.policy = root, policy
        self.store = Store.open(root)

    def cli(self, *args: str) -> str:
        return self.cli_output(*args)[0]

    def cli_output(self, *args: str) -> tuple[str, str]:
        """(stdout, stderr) of a ``python -m harness`` command that must succeed."""
        done = subprocess.run([sys.executable, "-m", "harness", "--root", str(self.root),
                               *args], check=False, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    def commit_output(self, ctr: str, flags: tuple[str, ...], dest: str) -> tuple[str, str]:
        return self.cli_output("commit", "--timestamp", "0", "--identity-label=false",
                               "--signature-policy", str(self.policy), *flags, ctr, dest)

    def container(self, case: Case, inputs: Inputs, container_id: str | None = None) -> str:
        """The case's container; a pulled base is the layout buildah pushed."""
        image = "scratch"
        if case.base is not None and case.pulled:
            image = f"oci:{inputs.layout}:base"
        elif case.base is not None:
            base_ctr = self.container(case.base, inputs)
            self.cli("commit", "--quiet", "--timestamp", "0", "--identity-label=false",
                     "--signature-policy", str(self.policy), base_ctr, case.base.name)
            image = case.base.name
        builder = Builder.new(self.store, image, container_id=container_id,
                              signature_policy_path=self.policy)
        case.populate(builder.rootfs)
        if case.add_tree is not None:
            self.cli("add", builder.container_name, str(inputs.add_source), ADD_DEST)
        if case.flags:
            self.cli("config", *case.flags, builder.container_name)
        return builder.container_name

    def commit(self, ctr: str, fmt: str, name: str, *, gzip: bool = False,
               flags: tuple[str, ...] = NO_IDENTITY) -> Commit:
        image_id = self.cli("commit", "--quiet", "--timestamp", "0", "--format", fmt, *flags,
                            "--compression", "gzip" if gzip else "none",
                            "--signature-policy", str(self.policy), ctr, name).strip()
        store = Store.open(self.root)
        image = store.image(local_name(name))
        manifest = store.read_blob(Digest.parse(image.manifest_digest))

        def layers() -> list[bytes]:
            out = []
            for layer in json.loads(manifest)["layers"]:
                stream, _ = store.open_blob(Digest.parse(layer["digest"]))
                with decompress(stream) as raw:
                    out.append(raw.read())
            return out

        return Commit(image_id, image.manifest_digest, manifest,
                      store.read_blob(Digest.parse(json.loads(manifest)["config"]["digest"])),
                      layers)


# -- explaining a difference ----------------------------------------------------------

def json_difference(ours: bytes, theirs: bytes, where: str = "") -> str | None:
    """The first field where two JSON documents differ (key order included)."""
    return _first_difference(json.loads(ours), json.loads(theirs), where)


def _first_difference(ours: Any, theirs: Any, where: str) -> str | None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if list(ours) != list(theirs):
            return f"{where or '.'}: keys {list(ours)} != buildah's {list(theirs)}"
        for key in ours:
            found = _first_difference(ours[key], theirs[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            found = _first_difference(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    if ours != theirs or type(ours) is not type(theirs):
        return f"{where}: ours {ours!r} != buildah's {theirs!r}"
    return None


_FIELDS = [("name", 0, 100), ("mode", 100, 108), ("uid", 108, 116), ("gid", 116, 124),
           ("size", 124, 136), ("mtime", 136, 148), ("chksum", 148, 156),
           ("typeflag", 156, 157), ("linkname", 157, 257), ("magic", 257, 265),
           ("uname", 265, 297), ("gname", 297, 329), ("devmajor", 329, 337),
           ("devminor", 337, 345), ("prefix", 345, 500), ("pad", 500, 512)]


def _headers(tar: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(offset, header block, data) of every raw entry, PAX headers included."""
    offset = 0
    while offset + 512 <= len(tar):
        block = tar[offset:offset + 512]
        if block == bytes(512):
            yield offset, block, b""
            offset += 512
            continue
        try:
            size = int(block[124:136].rstrip(b"\0 ") or b"0", 8)
        except ValueError:
            size = 0
        yield offset, block, tar[offset + 512:offset + 512 + size]
        offset += 512 + -(-size // 512) * 512


def tar_difference(ours: bytes, theirs: bytes) -> str:
    """The first raw tar entry where two layers differ, field by field."""
    for (offset, a, data_a), (_, b, data_b) in zip(_headers(ours), _headers(theirs),
                                                     strict=False):
        if a != b:
            fields = [f"  {n}: ours {a[s:e]!r} buildah {b[s:e]!r}" for n, s, e in _FIELDS
                      if a[s:e] != b[s:e]]
            return f"header at offset {offset} differs:\n" + "\n".join(fields)
        if data_a != data_b:
            at = next((i for i, (x, y) in enumerate(zip(data_a, data_b, strict=False))
                       if x != y), min(len(data_a), len(data_b)))
            name = a[:100].rstrip(b"\0")
            return (f"data of {name!r} (header at {offset}) differs from "
                    f"byte {at}: {data_a[at:at + 32]!r} != {data_b[at:at + 32]!r}")
    return f"one layer is a prefix of the other: {len(ours)} vs {len(theirs)} bytes"


def explain(ours: Commit, theirs: Commit) -> str:
    """Every readable difference between two commits of the same container."""
    lines = [f"ours {ours.digests()}", f"buildah {theirs.digests()}"]
    for what, a, b in (("config", ours.config, theirs.config),
                       ("manifest", ours.manifest, theirs.manifest)):
        found = json_difference(a, b)
        if found:
            lines.append(f"{what}: {found}")
        elif a != b:
            lines.append(f"{what}: same JSON, other bytes: {a!r} vs {b!r}")
    a_ids, b_ids = ours.digests()["diffIDs"], theirs.digests()["diffIDs"]
    if a_ids != b_ids:
        for i, (a, b) in enumerate(zip(ours.layers(), theirs.layers(), strict=False)):
            if a != b:
                lines.append(f"layer {i}: {tar_difference(a, b)}")
                break
    return "\n".join(lines)


def two_layer_image(buildah: Buildah, tmp: Path) -> str:
    """``app:v1``, two layers (a base image's and its own), in buildah's store; its ID."""
    for name, text in (("base", "base layer\n" * 500), ("top", "top layer\n" * 700)):
        (tmp / name).write_text(text)
    ctr = buildah.from_image("scratch")
    buildah.copy(ctr, tmp / "base", "/base")
    buildah.commit(ctr, "app:base", "--quiet")
    ctr = buildah.from_image("app:base")
    buildah.copy(ctr, tmp / "top", "/top")
    return buildah.commit(ctr, "app:v1", "--quiet").splitlines()[-1]
