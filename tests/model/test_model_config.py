"""OCI and Docker image configs side by side, and the history/diff_ids rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.model import mediatype
from harness.model.config import (
    ConfigError,
    DockerConfig,
    HistoryEntry,
    OCIConfig,
    parse_config,
)
from harness.model.digest import Digest

DIFF = "sha256:" + "d" * 64


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


OCI_DOC = {
    "created": "2024-01-01T00:00:00Z", "author": "me", "architecture": "arm64", "os": "linux",
    "variant": "v8",
    "config": {"User": "u", "Env": ["A=1"], "Entrypoint": ["/e"], "Cmd": ["c"],
               "WorkingDir": "/w", "Labels": {"k": "v"}, "StopSignal": "SIGTERM"},
    "rootfs": {"type": "layers", "diff_ids": [DIFF]},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD", "author": "me"},
                {"created_by": "ENV", "comment": "c", "empty_layer": True}],
}


def test_oci_config_round_trip_is_byte_exact() -> None:
    data = compact(OCI_DOC)
    config = OCIConfig.from_bytes(data)
    assert config.diff_ids == [Digest.parse(DIFF)]
    assert config.history[1] == HistoryEntry(created_by="ENV", comment="c", empty_layer=True)
    assert config.to_bytes() == data
    config.check_history()


def test_docker_config_keeps_docker_fields_and_its_key_order() -> None:
    doc = {"id": "i", "comment": "x", "created": "2024-01-01T00:00:00Z", "container": "c",
           "container_config": {"Cmd": ["sh"]}, "docker_version": "20.10", "author": "a",
           "config": {"Hostname": "h", "Cmd": ["x"]}, "architecture": "amd64", "os": "linux",
           "size": 5, "parent": "p", "rootfs": {"type": "layers", "diff_ids": [DIFF]},
           "history": [{"created": "2024-01-01T00:00:00Z", "author": "a", "created_by": "ADD"}]}
    config = parse_config(compact(doc), mediatype.DOCKER_CONFIG)
    assert isinstance(config, DockerConfig)
    assert (config.docker_version, config.size, config.container) == ("20.10", 5, "c")
    assert config.to_bytes() == compact(doc)
    oci = config.to_oci()
    assert type(oci) is OCIConfig
    assert oci.config == {"Cmd": ["x"]}  # Hostname is Docker-only
    assert "docker_version" not in json.loads(oci.to_bytes())
    assert oci.to_docker().diff_ids == config.diff_ids


def test_docker_history_always_has_created() -> None:
    assert HistoryEntry(created_by="x").to_json(docker=True) == {
        "created": "0001-01-01T00:00:00Z", "created_by": "x"}
    assert HistoryEntry(created_by="x").to_json() == {"created_by": "x"}


def test_history_must_match_diff_ids() -> None:
    config = OCIConfig.from_bytes(compact({**OCI_DOC, "rootfs": {"type": "layers",
                                                                 "diff_ids": [DIFF, DIFF]}}))
    with pytest.raises(ConfigError, match="1 non-empty entries but rootfs has 2 diff_ids"):
        config.check_history()
    assert [h.created_by for h in config.layer_history()] == ["ADD"]
    OCIConfig(diff_ids=[Digest.parse(DIFF)]).check_history()  # no history: nothing to check


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda d: d.update(rootfs={"type": "x"}), "rootfs.type must be 'layers'"),
        (lambda d: d["rootfs"].update(diff_ids=["sha256:1"]), "rootfs.diff_ids[0]"),
        (lambda d: d.update(created="yesterday"), "not an RFC 3339 timestamp"),
        (lambda d: d.update(created="2024-01-01"), "not an RFC 3339 timestamp"),
        (lambda d: d.update(created="2024-13-01T00:00:00Z"), "not an RFC 3339 timestamp"),
        (lambda d: d.update(created="2024-01-01 00:00:00Z"), "not an RFC 3339 timestamp"),
        (lambda d: d["history"][0].update(empty_layer="yes"), "empty_layer must be true or false"),
        (lambda d: d.update(history=[1]), "history[0] must be an object"),
        (lambda d: d.update(architecture=1), "architecture must be a string"),
        (lambda d: d.update(config=[]), "config must be an object"),
    ],
)
def test_invalid_configs_name_the_field(mutate: Any, rule: str) -> None:
    doc = json.loads(json.dumps(OCI_DOC))
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        OCIConfig.from_bytes(compact(doc))
    assert rule in str(info.value)


def test_parse_config_rejects_other_media_types() -> None:
    with pytest.raises(ConfigError, match="unsupported image config media type"):
        parse_config(b"{}", "application/json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_config(b"{", mediatype.OCI_CONFIG)
    with pytest.raises(ConfigError, match="not valid JSON"):  # Go reads UTF-8 only
        parse_config(compact(OCI_DOC).decode().encode("utf-16"), mediatype.OCI_CONFIG)
