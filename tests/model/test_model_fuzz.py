"""Hostile input only ever raises the module's own HarnessError subclass (never a crash:
the fake registry turns these into 400s, and a stray exception would be a 500)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import strategies as hs
from harness.model import gojson, mediatype, schema1
from harness.model.config import ConfigError, OCIConfig, parse_config
from harness.model.convert import convert_manifest
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import Manifest, ManifestError, manifest_digest, parse_manifest
from harness.util.errors import HarnessError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["\ud800", "<&>\u2028", "x\udfffy"])
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = json.loads(json.dumps(value))
    copy[head] = replaced(copy[head], tuple(rest), new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> bytes:
    document = draw(documents)
    path = draw(st.sampled_from(paths(document)))
    return json.dumps(replaced(document, path, draw(JSON))).encode()


def manifest_json(manifest: Manifest) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(manifest.to_bytes())
    return result


@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()),
       st.none() | st.sampled_from(sorted(mediatype.ALL_MANIFESTS)))
def test_any_bytes_parse_or_raise_manifest_error(data: bytes, media_type: str | None) -> None:
    with contextlib.suppress(ManifestError):
        parse_manifest(data, media_type)


@given(mutated(hs.manifests().map(manifest_json)))
@settings(max_examples=200)
def test_mutated_manifests_parse_or_raise_manifest_error(data: bytes) -> None:
    with contextlib.suppress(ManifestError):
        manifest = parse_manifest(data)
        assert parse_manifest(manifest.to_bytes()).to_bytes() == manifest.to_bytes()


def test_deep_nesting_and_unrepresentable_numbers_are_manifest_errors() -> None:
    for data in (b"[" * 100_000, b'{"schemaVersion":' + b"9" * 5000 + b"}",
                 b'{"schemaVersion":2,"x":1e999}', b'{"schemaVersion":2,"x":NaN}',
                 b'{"schemaVersion":2,"x":-Infinity}', '{"schemaVersion":2}'.encode("utf-16"),
                 b'\xef\xbb\xbf{"schemaVersion":2}'):
        try:
            parse_manifest(data)
        except ManifestError:
            continue
        raise AssertionError(f"accepted {data[:20]!r}")


@given(mutated(hs.oci_configs().map(lambda c: json.loads(c.to_bytes()))))
@settings(max_examples=100)
def test_mutated_configs_parse_or_raise_config_error(data: bytes) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(data, mediatype.DOCKER_CONFIG)


@given(mutated(hs.schema1_manifests(signed=True).map(
    lambda m: json.loads(m.to_bytes()))))
@settings(max_examples=60)
def test_mutated_signatures_raise_signature_error(data: bytes) -> None:
    with contextlib.suppress(schema1.SignatureError):
        schema1.verify(data)
    with contextlib.suppress(schema1.SignatureError):
        manifest_digest(data)


@st.composite
def mutated_schema1_history(draw: st.DrawFn) -> bytes:
    manifest = draw(hs.schema1_manifests(signed=False))
    index = draw(st.integers(0, len(manifest.history) - 1))
    compat = json.loads(manifest.history[index])
    path = draw(st.sampled_from([p for p in paths(compat) if p != ("id",)]))
    manifest.history[index] = json.dumps(replaced(compat, path, draw(JSON)))
    return manifest.to_bytes()


@given(mutated_schema1_history())
@settings(max_examples=100)
def test_schema1_conversion_of_odd_history_raises_harness_errors(data: bytes) -> None:
    try:
        source = parse_manifest(data)
    except ManifestError:
        return
    layers = [Descriptor(mediatype.DOCKER_LAYER_GZIP, d.digest, 1) for d in source.layers]
    diff_ids = [Digest.from_bytes(b"%d" % i) for i in range(len(layers))]
    for target in (mediatype.DOCKER_V2S2_MANIFEST, mediatype.OCI_MANIFEST):
        with contextlib.suppress(HarnessError):
            convert_manifest(data, source.media_type, target, layers=layers, diff_ids=diff_ids)


@given(hs.oci_configs(layers=1), JSON)
@settings(max_examples=60)
def test_schema1_conversion_of_odd_configs_raises_harness_errors(config: OCIConfig,
                                                                 extra: Any) -> None:
    raw = {**json.loads(config.to_bytes()), "config": extra}
    config_bytes = gojson.dumps(raw)
    manifest = parse_manifest(gojson.dumps({
        "schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
        "config": {"mediaType": mediatype.OCI_CONFIG,
                   "digest": str(Digest.from_bytes(config_bytes)), "size": len(config_bytes)},
        "layers": [{"mediaType": mediatype.OCI_LAYER_GZIP, "digest": "sha256:" + "a" * 64,
                    "size": 1}]}))
    for target in (mediatype.DOCKER_V2S1_SIGNED_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST):
        with contextlib.suppress(HarnessError):
            convert_manifest(manifest.to_bytes(), manifest.media_type, target,
                             config=config_bytes)


def _schema1_with_history(v1_compatibility: str) -> bytes:
    return json.dumps({
        "schemaVersion": 1, "name": "a", "tag": "t", "architecture": "amd64",
        "fsLayers": [{"blobSum": str(schema1.EMPTY_LAYER_DIGEST)}],
        "history": [{"v1Compatibility": v1_compatibility}]}).encode()


def test_lone_surrogates_in_schema1_history_read_as_go_reads_them() -> None:
    """Go decodes a lone surrogate as U+FFFD: inside the embedded document's strings it is
    kept that way; as the whole document it is no JSON (it was a UnicodeEncodeError)."""
    kept = parse_manifest(_schema1_with_history(
        json.dumps({"id": "a" * 64, "comment": "x\ud800y"}, ensure_ascii=False)))
    assert json.loads(kept.history[0])["comment"] == "x\ufffdy"  # type: ignore[union-attr]
    assert parse_manifest(kept.to_bytes()) == kept
    with pytest.raises(ManifestError, match=r"history\[0\]\.v1Compatibility"):
        parse_manifest(_schema1_with_history("\ud800"))
