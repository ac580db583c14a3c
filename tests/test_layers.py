"""The package's folders are layers: each imports only the layers before it."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import pytest

from harness.model import manifest

ROOT = Path(__file__).resolve().parent.parent
RANK = {"util": 0, "model": 1, "store": 2, "transports": 3, "copy": 4, "builder": 5,
        "cli": 6, "peers": 6, "pytest_plugin": 6, "strategies": 6}
ALLOWED_FOR_FAKEREGISTRY = {"util", "model"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "harness" and len(parts) > 1 else None


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_layer_table_covers_every_folder() -> None:
    folders = {p.name for p in (ROOT / "harness").iterdir() if p.is_dir()
               and (p / "__init__.py").exists()}
    assert folders <= set(RANK), f"folders without a layer rank: {folders - set(RANK)}"


@pytest.mark.parametrize("path", _sources("harness"), ids=lambda p: str(p.relative_to(ROOT)))
def test_harness_imports_only_earlier_layers(path: Path) -> None:
    rel = path.relative_to(ROOT / "harness")
    own = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem in RANK else None
    for module in _imports(path):
        top = module.split(".")[0]
        if top in {"fakeregistry", "conformance"}:
            assert own == "pytest_plugin", f"{rel} imports {module}: only the plugin may"
        layer = _layer(module)
        if own is None or layer is None or layer == own or layer not in RANK:
            continue
        if RANK[own] == max(RANK.values()):
            assert RANK[layer] <= RANK[own], f"{rel} imports {module}"
        else:
            assert RANK[layer] < RANK[own], f"{rel} (layer {own}) imports {module} (layer {layer})"


@pytest.mark.parametrize("path", _sources("fakeregistry"), ids=lambda p: str(p.relative_to(ROOT)))
def test_fakeregistry_uses_only_the_model(path: Path) -> None:
    for module in _imports(path):
        layer = _layer(module)
        assert layer is None or layer in ALLOWED_FOR_FAKEREGISTRY, f"{path.name} imports {module}"


COPY_MAY_USE = {"harness.transports.types", "harness.transports.alltransports"}


@pytest.mark.parametrize("path", _sources("harness/copy"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_copy_engine_knows_no_transport_in_particular(path: Path) -> None:
    """Like containers/image's copy package: only the contract and the transport registry."""
    for module in _imports(path):
        if module.startswith("harness.transports"):
            assert module in COPY_MAY_USE, f"{path.name} imports {module}"


ENGINE = ROOT / "harness" / "copy" / "engine.py"
_FORMAT_WORDS = re.compile(r"schema ?1|v2s1|fs_?layers|v1compatibility", re.IGNORECASE)


def _format_mentions(source: str) -> list[str]:
    """What in *source* names a manifest format: a format's word, or a concrete manifest
    class (those :data:`harness.model.manifest.Manifest` unites, and the union itself)."""
    classes = {cls.__name__ for cls in get_args(manifest.Manifest)} | {"Manifest"}
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name)
    return sorted(names & classes) + _FORMAT_WORDS.findall(source)


def test_the_copy_engine_knows_no_manifest_format() -> None:
    """As in containers/image: conversions and layer edits live behind the model's
    ImageManifest, and a destination refuses a type with a typed error."""
    assert _format_mentions(ENGINE.read_text()) == []


@pytest.mark.parametrize("snippet", [
    "from harness.model.manifest import Schema1Manifest",
    "if isinstance(m, OCIManifest | DockerManifest):\n    pass",
    "x: Manifest = parse(raw)",
    "# a schema1 source needs diffIDs",
    "types = mediatype.SCHEMA1",
])
def test_the_format_check_catches_each_kind_of_mention(snippet: str) -> None:
    assert _format_mentions(snippet)
