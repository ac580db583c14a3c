"""Hypothesis strategies for the image model, for this project's tests and for users' own.

Valid values come from the grammars in :mod:`harness.model`; the ``invalid_*``
strategies produce values that break exactly one rule, so a property can assert that
the parser rejects every one of them. Layer trees and whole images are drawn as
:mod:`harness.pytest_plugin.trees` and :mod:`~harness.pytest_plugin.images` descriptions,
which build into real layers.
"""

from __future__ import annotations

import base64
import json
import operator
from datetime import UTC, datetime

from hypothesis import strategies as st

from harness.model import mediatype, transportref
from harness.model.compression import Algorithm
from harness.model.config import DockerConfig, HistoryEntry, OCIConfig
from harness.model.descriptor import Descriptor, Platform
from harness.model.digest import Digest
from harness.model.manifest import (
    DockerManifest,
    DockerManifestList,
    Manifest,
    OCIIndex,
    OCIManifest,
    Schema1Manifest,
)
from harness.model.reference import NAME_TOTAL_LENGTH_MAX, Reference
from harness.model.transportref import TRANSPORTS, StorageSpec, TransportReference
from harness.pytest_plugin.images import PUSHABLE_TYPES, ImageSpec
from harness.pytest_plugin.trees import LayerTree, TreeEntry, apply_tree, parent_paths

_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_TAG_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"


def _alnum_runs(max_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(_LOWER_ALNUM, min_size=1, max_size=max_size)


@st.composite
def path_components(draw: st.DrawFn) -> str:
    """``[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*``."""
    parts = [draw(_alnum_runs())]
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(st.sampled_from([".", "_", "__", "-", "--"])))
        parts.append(draw(_alnum_runs()))
    return "".join(parts)


def repository_paths(max_components: int = 3) -> st.SearchStrategy[str]:
    """Repository paths as a registry sees them (``library/busybox``)."""
    return st.lists(path_components(), min_size=1, max_size=max_components).map("/".join)


@st.composite
def domains(draw: st.DrawFn) -> str:
    """Registry hosts that the reference grammar recognises as domains."""
    label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
    host = draw(st.one_of(
        st.just("localhost"),
        st.lists(label, min_size=2, max_size=3).map(".".join),
        st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    ))
    port = draw(st.none() | st.integers(1, 65535))
    return host if port is None else f"{host}:{port}"


def tags() -> st.SearchStrategy[str]:
    """``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``."""
    return st.builds(operator.add, st.sampled_from(_TAG_FIRST),
                     st.text(_TAG_FIRST + ".-", max_size=127))


def digests(algorithms: tuple[str, ...] = ("sha256", "sha512")) -> st.SearchStrategy[Digest]:
    """Well-formed digests (random hex of the algorithm's length)."""
    sizes = {"sha256": 32, "sha512": 64}
    return st.sampled_from(algorithms).flatmap(
        lambda a: st.binary(min_size=sizes[a], max_size=sizes[a]).map(lambda b: Digest(a, b.hex()))
    )


@st.composite
def reference_strings(draw: st.DrawFn) -> str:
    """Valid reference strings, familiar or fully qualified, with or without tag/digest."""
    domain = draw(st.none() | domains())
    name = draw(repository_paths())
    first, slash, _ = name.partition("/")
    if domain is None and slash and ("." in first or first == "localhost"):
        domain = "docker.io"  # else the first component would be read as a domain
    text = f"{domain}/{name}" if domain else name
    if draw(st.booleans()):
        text += ":" + draw(tags())
    if draw(st.booleans()):
        text += f"@{draw(digests())}"
    normalised_name = Reference.parse(text.split("@")[0]).name
    if len(normalised_name) > NAME_TOTAL_LENGTH_MAX:
        return draw(reference_strings())
    return text


def references() -> st.SearchStrategy[Reference]:
    return reference_strings().map(Reference.parse)


@st.composite
def invalid_tags(draw: st.DrawFn) -> str:
    """Tags that break the tag grammar: a bad first character, a bad character, too long."""
    tag = draw(tags())
    kind = draw(st.sampled_from(["first", "char", "long", "empty"]))
    if kind == "first":
        return draw(st.sampled_from([".", "-"])) + tag[:127]
    if kind == "char":
        at = draw(st.integers(0, len(tag)))
        return tag[:at] + draw(st.sampled_from(list("!$ /+é:@"))) + tag[at:]
    if kind == "long":
        return tag + "a" * (129 - len(tag))
    return ""


@st.composite
def invalid_reference_strings(draw: st.DrawFn) -> str:
    """Reference strings that break one rule of the grammar."""
    domain = draw(domains())
    path = draw(repository_paths())
    kind = draw(st.sampled_from(["upper", "char", "empty-component", "tag", "long", "hex"]))
    if kind == "upper":
        return f"{domain}/{path.upper()}" if path.upper() != path else f"{domain}/A{path}"
    if kind == "char":
        at = draw(st.integers(0, len(path)))
        return f"{domain}/{path[:at]}{draw(st.sampled_from(list('!$ +é~')))}{path[at:]}"
    if kind == "empty-component":
        return f"{domain}/{path}//x"
    if kind == "tag":
        # ':', '@' and '/' would move the split between name and tag, not break the tag.
        tag = draw(invalid_tags().filter(lambda t: not set(t) & set(":@/")))
        return f"{domain}/{path}:{tag}"
    if kind == "long":
        return f"{domain}/{path}/" + "a" * NAME_TOTAL_LENGTH_MAX
    return draw(st.binary(min_size=32, max_size=32)).hex()


def _paths() -> st.SearchStrategy[str]:
    """Filesystem paths without ':' (the separator of the image part)."""
    return st.lists(st.text("abcxyz019._-", min_size=1, max_size=6), min_size=1, max_size=3
                    ).map(lambda parts: "/" + "/".join(parts))


def _tagged(ref: Reference) -> Reference:
    return ref.with_tag("latest") if ref.tag is None and ref.digest is None else ref


@st.composite
def transport_references(draw: st.DrawFn) -> TransportReference:
    """Valid references of every transport, as :func:`parse_transport_reference` returns them."""
    transport = draw(st.sampled_from(TRANSPORTS))
    if transport == transportref.DOCKER:
        ref = _tagged(draw(references().filter(lambda r: not (r.tag and r.digest))))
        return TransportReference(transport, reference=ref)
    if transport == transportref.DIR:
        return TransportReference(transport, path=draw(_paths()))
    if transport in (transportref.OCI, transportref.OCI_ARCHIVE):
        component = st.from_regex(r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+){0,2}",
                                  fullmatch=True)
        name = draw(st.none() | st.lists(component, min_size=1, max_size=2).map("/".join))
        return TransportReference(transport, path=draw(_paths()), image_name=name)
    if transport == transportref.DOCKER_ARCHIVE:
        kind = draw(st.sampled_from(["none", "name", "index"]))
        ref = _tagged(draw(references().filter(lambda r: r.digest is None)))
        return TransportReference(
            transport, path=draw(_paths()), reference=ref if kind == "name" else None,
            source_index=draw(st.integers(0, 9)) if kind == "index" else None)
    if transport == transportref.DOCKER_DAEMON:
        if draw(st.booleans()):
            digest = draw(st.binary(min_size=32, max_size=32)).hex()
            return TransportReference(transport, image_id=f"sha256:{digest}")
        ref = _tagged(draw(references().filter(lambda r: not (r.tag and r.digest))))
        return TransportReference(transport, reference=ref)
    full_spec = st.builds(
        StorageSpec, driver=st.none() | st.sampled_from(["vfs", "overlay"]), root=_paths(),
        run_root=st.none() | _paths(),
        options=st.lists(st.text("abc=1", min_size=1, max_size=5), max_size=2).map(tuple))
    # harness-store: takes only [ROOT]; drivers, run roots and options are containers-storage:'s.
    root_only = st.builds(StorageSpec, root=_paths())
    storage = draw(st.none() | (
        full_spec if transport == transportref.CONTAINERS_STORAGE else root_only))
    image_id = draw(st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex))
    stored = draw(references() if image_id is None else st.none() | references())
    return TransportReference(transport, reference=_tagged(stored) if stored else None,
                              image_id=image_id, storage=storage)


def _annotations() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=2)


def platforms() -> st.SearchStrategy[Platform]:
    word = st.text(_LOWER_ALNUM, min_size=1, max_size=8)
    return st.builds(
        Platform, architecture=st.sampled_from(["amd64", "arm64", "arm", "s390x"]),
        os=st.sampled_from(["linux", "windows"]), os_version=st.none() | word,
        os_features=st.lists(word, max_size=2).map(tuple), variant=st.none() | word,
        features=st.lists(word, max_size=2).map(tuple),
    )


def descriptors(*types: str, docker: bool = False,
                platform: bool = False) -> st.SearchStrategy[Descriptor]:
    """Descriptors of *types*; Docker ones carry no artifactType or embedded data."""
    return st.builds(
        Descriptor,
        media_type=st.sampled_from(types or (mediatype.OCI_LAYER_GZIP,)),
        digest=digests(("sha256",)),
        size=st.integers(0, 2**40),
        urls=st.lists(st.just("https://example.com/blob"), max_size=1).map(tuple),
        annotations=_annotations(),
        platform=platforms() if platform else st.none(),
        artifact_type=st.none() if docker else st.none() | st.just("application/x.example"),
        data=st.none() if docker else st.none() | st.binary(max_size=8).map(
            lambda raw: base64.b64encode(raw).decode("ascii")),
    )


_OCI_LAYERS = (mediatype.OCI_LAYER, mediatype.OCI_LAYER_GZIP, mediatype.OCI_LAYER_ZSTD)
_DOCKER_LAYERS = (mediatype.DOCKER_LAYER, mediatype.DOCKER_LAYER_GZIP)


def oci_manifests() -> st.SearchStrategy[OCIManifest]:
    return st.builds(
        OCIManifest, config=descriptors(mediatype.OCI_CONFIG),
        layers=st.lists(descriptors(*_OCI_LAYERS), max_size=4),
        subject=st.none() | descriptors(mediatype.OCI_MANIFEST),
        artifact_type=st.none() | st.just("application/x.example"), annotations=_annotations(),
    )


def oci_indexes() -> st.SearchStrategy[OCIIndex]:
    return st.builds(
        OCIIndex, manifests=st.lists(descriptors(mediatype.OCI_MANIFEST, platform=True),
                                     max_size=3),
        subject=st.none() | descriptors(mediatype.OCI_MANIFEST),
        artifact_type=st.none(), annotations=_annotations(),
    )


def docker_manifests() -> st.SearchStrategy[DockerManifest]:
    return st.builds(
        DockerManifest, config=descriptors(mediatype.DOCKER_CONFIG, docker=True),
        layers=st.lists(descriptors(*_DOCKER_LAYERS, docker=True), max_size=4),
    )


def docker_manifest_lists() -> st.SearchStrategy[DockerManifestList]:
    entry = descriptors(mediatype.DOCKER_V2S2_MANIFEST, docker=True, platform=True)
    return st.builds(DockerManifestList, manifests=st.lists(entry, max_size=3))


def timestamps() -> st.SearchStrategy[str]:
    """RFC 3339 UTC timestamps in the form Go writes them."""
    return st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC, microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"))


@st.composite
def schema1_manifests(draw: st.DrawFn, signed: bool | None = None) -> Schema1Manifest:
    count = draw(st.integers(1, 4))
    ids = draw(st.lists(digests(("sha256",)), min_size=count, max_size=count))
    history = [json.dumps({"id": d.hex, "created": draw(timestamps())}, separators=(",", ":"))
               for d in ids]
    return Schema1Manifest(
        name=draw(repository_paths()), tag=draw(tags()),
        architecture=draw(st.sampled_from(["amd64", "arm64"])),
        fs_layers=draw(st.lists(digests(("sha256",)), min_size=count, max_size=count)),
        history=history, signed=draw(st.booleans()) if signed is None else signed,
    )


def manifests() -> st.SearchStrategy[Manifest]:
    """Any manifest kind (schema1 ones unsigned, so that their bytes are deterministic)."""
    return st.one_of(oci_manifests(), oci_indexes(), docker_manifests(),
                     docker_manifest_lists(), schema1_manifests(signed=False))


def history_entries(empty_layer: bool | None = None) -> st.SearchStrategy[HistoryEntry]:
    text = st.none() | st.text(min_size=1, max_size=20)
    return st.builds(HistoryEntry, created=st.none() | timestamps(), created_by=text,
                     author=text, comment=text,
                     empty_layer=st.booleans() if empty_layer is None else st.just(empty_layer))


@st.composite
def oci_configs(draw: st.DrawFn, layers: int | None = None) -> OCIConfig:
    """OCI configs whose non-empty history entries match their diff_ids (*layers* of them)."""
    count = draw(st.integers(0, 4)) if layers is None else layers
    history: list[HistoryEntry] = []
    for _ in range(count):
        history.extend(draw(st.lists(history_entries(empty_layer=True), max_size=1)))
        history.append(draw(history_entries(empty_layer=False)))
    return OCIConfig(
        architecture=draw(st.sampled_from(["amd64", "arm64"])), os="linux",
        created=draw(st.none() | timestamps()),
        author=draw(st.none() | st.text(min_size=1, max_size=5)),
        config=draw(st.fixed_dictionaries({}, optional={
            "Env": st.lists(st.text(max_size=8), min_size=1, max_size=2),
            "Cmd": st.lists(st.text(max_size=8), min_size=1, max_size=2),
            "WorkingDir": st.text(min_size=1, max_size=8),
        })),
        diff_ids=draw(st.lists(digests(("sha256",)), min_size=count, max_size=count)),
        history=history,
    )


def docker_configs(layers: int | None = None) -> st.SearchStrategy[DockerConfig]:
    return st.builds(
        lambda oci, version: DockerConfig(**{**vars(oci), "docker_version": version}),
        oci_configs(layers), st.none() | st.just("20.10.24"),
    )



# --- layer trees and whole images (the pytest plugin's kit: harness.pytest_plugin.trees, .images)

_TREE_NAMES = ("a", "b", "bin", "etc", "usr", "x.conf", ".hidden", "long-name_1")


def _tree_paths(max_depth: int) -> st.SearchStrategy[str]:
    # A few shared names, so that layers collide: overwrites and whiteouts need collisions.
    return st.lists(st.sampled_from(_TREE_NAMES), min_size=1, max_size=max_depth).map("/".join)


def tree_entries(path: str) -> st.SearchStrategy[TreeEntry]:
    """One entry at *path*: a seeded file (small), a directory or a symlink whose target
    stays inside the root."""
    return st.one_of(
        st.builds(TreeEntry, path=st.just(path), kind=st.just("file"),
                  size=st.integers(0, 4096), seed=st.integers(0, 2**32 - 1),
                  mode=st.sampled_from([0o644, 0o755, 0o600])),
        st.builds(TreeEntry, path=st.just(path), kind=st.just("dir")),
        st.builds(TreeEntry, path=st.just(path), kind=st.just("symlink"),
                  target=st.sampled_from(["x.conf", "/usr/bin/x", "/"])),
    )


def _consistent(entries: list[TreeEntry], below: dict[str, str] | None = None) -> LayerTree:
    """Keep the entries a real layer could hold over *below* (path -> kind left by lower
    layers): one entry per path, nothing under a file or symlink, no whiteout of a path
    this layer writes into."""
    kinds = dict(below or {})
    written = {prefix for e in entries if e.kind != "whiteout" for prefix in parent_paths(e.path)}
    kept: dict[str, TreeEntry] = {}
    for entry in sorted(entries, key=lambda e: e.path.count("/")):
        under_dir = all(kinds.get(p, "dir") == "dir" for p in parent_paths(entry.path))
        clash = entry.kind == "whiteout" and entry.path in written
        if entry.path not in kept and under_dir and not clash:
            kept[entry.path] = entry
            kinds[entry.path] = entry.kind
    return tuple(sorted(kept.values(), key=lambda e: e.path))


@st.composite
def layer_trees(draw: st.DrawFn, max_entries: int = 6, max_depth: int = 3) -> LayerTree:
    """The content of one layer: files, directories and symlinks, no path twice and
    nothing below a file or symlink (missing parent directories are implied)."""
    paths = draw(st.lists(_tree_paths(max_depth), max_size=max_entries, unique=True))
    return _consistent([draw(tree_entries(path)) for path in paths])


@st.composite
def layer_stacks(draw: st.DrawFn, max_layers: int = 3) -> tuple[LayerTree, ...]:
    """Layers bottom first; upper ones replace lower paths and delete them with
    whiteouts (``.wh.<name>``), as image builders produce."""
    stack: list[LayerTree] = []
    state: dict[str, TreeEntry] = {}
    for _ in range(draw(st.integers(1, max_layers))):
        tree = list(draw(layer_trees()))
        if state:
            tree += [TreeEntry(path, "whiteout") for path in draw(st.lists(
                st.sampled_from(sorted(state)), unique=True, max_size=2))]
        layer = _consistent(tree, {path: e.kind for path, e in state.items()})
        stack.append(layer)
        state = apply_tree(state, layer)
    return tuple(stack)


@st.composite
def image_specs(draw: st.DrawFn, manifest_types: tuple[str, ...] = PUSHABLE_TYPES,
                max_layers: int = 3) -> ImageSpec:
    """Whole images: a layer stack, a manifest type, a layer compression it allows."""
    manifest_type = draw(st.sampled_from(manifest_types))
    compressions = [Algorithm.GZIP, Algorithm.NONE]
    if manifest_type == mediatype.OCI_MANIFEST:
        compressions.append(Algorithm.ZSTD)
    return ImageSpec(draw(layer_stacks(max_layers)), manifest_type,
                     draw(st.sampled_from(compressions)),
                     draw(st.sampled_from(["amd64", "arm64"])))
