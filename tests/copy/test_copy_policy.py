"""policy.json: strict parsing, scope lookup per transport, enforcement on the source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.copy.policy import (
    PolicyError,
    PolicyRejectedError,
    load_policy,
    parse_policy,
)
from harness.transports.alltransports import TRANSPORTS, parse_image_name

ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]


def _policy(data: Any) -> Any:
    return parse_policy(data, TRANSPORTS)


def test_most_specific_scope_wins(tmp_path: Path) -> None:
    folder = tmp_path.resolve()
    policy = _policy({
        "default": REJECT,
        "transports": {"oci": {str(folder / "ok"): ACCEPT, f"{folder}/mixed:good": ACCEPT,
                               str(folder / "mixed"): REJECT}},
    })
    policy.check(parse_image_name(f"oci:{folder}/ok:any"))
    policy.check(parse_image_name(f"oci:{folder}/ok/deeper/x:any"))
    policy.check(parse_image_name(f"oci:{folder}/mixed:good"))
    with pytest.raises(PolicyRejectedError, match="rejected by the signature policy"):
        policy.check(parse_image_name(f"oci:{folder}/mixed:bad"))
    with pytest.raises(PolicyRejectedError):
        policy.check(parse_image_name(f"dir:{folder}/ok"))  # other transport: default


def test_transport_default_scope_applies_before_global_default(tmp_path: Path) -> None:
    policy = _policy({"default": ACCEPT, "transports": {"dir": {"": REJECT}}})
    policy.check(parse_image_name(f"oci:{tmp_path}:x"))
    with pytest.raises(PolicyRejectedError):
        policy.check(parse_image_name(f"dir:{tmp_path}"))


def test_every_requirement_must_accept(tmp_path: Path) -> None:
    policy = _policy({"default": [*ACCEPT, *REJECT]})
    with pytest.raises(PolicyRejectedError):
        policy.check(parse_image_name(f"dir:{tmp_path}"))


@pytest.mark.parametrize("kind", ["signedBy", "sigstoreSigned"])
def test_signature_requirements_refuse_as_not_supported(kind: str, tmp_path: Path) -> None:
    requirement = {"type": kind, "keyPath": "/k.gpg"}
    if kind == "signedBy":
        requirement["keyType"] = "GPGKeys"
    policy = _policy({"default": [requirement]})
    with pytest.raises(PolicyRejectedError, match=f"'{kind}' is not supported"):
        policy.check(parse_image_name(f"dir:{tmp_path}"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "'default' policy is missing"),
        ({"default": []}, "non-empty list"),
        ({"default": ACCEPT, "extra": 1}, "unknown key 'extra'"),
        ({"default": [{"type": "acceptAll"}]}, "unknown requirement type 'acceptAll'"),
        ({"default": [{"type": "reject", "keyPath": "/x"}]}, "unknown key 'keyPath'"),
        ({"default": ACCEPT, "transports": {"oci": {"relative": ACCEPT}}},
         "invalid policy scope 'relative'"),
        ({"default": ACCEPT, "transports": {"dir": []}}, "must be a JSON object"),
    ],
)
def test_malformed_policies_name_the_fault(data: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _policy(data)


def test_load_policy_reads_the_given_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": REJECT}))
    with pytest.raises(PolicyRejectedError):
        load_policy(path, TRANSPORTS).check(parse_image_name(f"dir:{tmp_path}"))


def test_missing_policy_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"no signature policy at .*insecureAcceptAnything"):
        load_policy(tmp_path / "absent.json", TRANSPORTS)


def test_invalid_json_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text("{not json")
    with pytest.raises(PolicyError, match="invalid JSON"):
        load_policy(path, TRANSPORTS)
