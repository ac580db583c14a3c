"""The suite's target holds the project's one "how to reach a registry" value; the command
line, the environment, xdist workers, the client and the copies all go through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import config
from conformance.client import Client, Target
from conformance.runner import parse_options
from harness.model.access import Credentials, RegistryAccess
from harness.peers.launchers import RunningRegistry
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError


def _ca(tmp_path: Path) -> Path:
    ca = tmp_path / "ca.crt"
    ca.write_text("a CA\n")
    return ca


def test_flags_and_environment_make_one_access(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    basic = parse_options(["--registry", "https://r.example:5000/", "--username", "u",
                           "--password", "p", "--ca-file", str(ca)], {}).registry
    assert basic is not None
    assert basic.access == RegistryAccess(Credentials("u", "p"), ca_file=ca,
                                          url="https://r.example:5000")
    bearer = config.target_from({"OCI_ROOT_URL": "https://r.example", "CONFORMANCE_TOKEN": "t",
                                 "CONFORMANCE_INSECURE": "1"})
    assert bearer is not None
    assert (bearer.access.token, bearer.access.insecure, bearer.access.verify) == ("t", True,
                                                                                  False)
    # A CA file on the command line replaces the environment's "insecure".
    chosen = config.target_from({"OCI_ROOT_URL": "https://r.example",
                                 "CONFORMANCE_INSECURE": "1"}, ca_file=ca)
    assert chosen is not None and (chosen.access.ca_file, chosen.access.insecure) == (ca, False)
    plain = config.target_from({"OCI_ROOT_URL": "http://127.0.0.1:5000"}, insecure=True)
    assert plain is not None  # no TLS to skip on plain HTTP
    assert plain.access == RegistryAccess(url="http://127.0.0.1:5000")
    assert config.target_from({}) is None


def test_a_contradiction_is_one_usage_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="does not exist"):
        parse_options(["--registry", "https://r.example", "--ca-file",
                       str(tmp_path / "missing.crt")], {})
    with pytest.raises(HarnessError, match="needs the registry's URL"):
        Target(RegistryAccess())


def test_xdist_workers_receive_the_same_target(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    running = RunningRegistry(Credentials("u", "p"), ca_file=ca, url="https://127.0.0.1:5000",
                              host="127.0.0.1:5000", log_path=tmp_path / "log")
    settings = config.Settings(Target(running, "a/b", "c/d", "local", isolate=True))
    received = config.Settings.from_json(settings.to_json())
    assert received.target == Target(RegistryAccess(Credentials("u", "p"), ca_file=ca,
                                                    url="https://127.0.0.1:5000"),
                                     "a/b", "c/d", "local", isolate=True)
    bearer = RegistryAccess(token="t", insecure=True, cert_dir=tmp_path, url="https://r.example")
    assert RegistryAccess.from_plain(bearer.to_plain()) == bearer


def test_client_and_copies_use_the_targets_access(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    target = Target(RegistryAccess(Credentials("u", "p"), ca_file=ca, url="https://r.example"))
    client = Client(target)
    assert (client.session.verify, client.url("/v2/")) == (str(ca), "https://r.example/v2/")
    assert client.mask("user u sent p") == "user u sent <masked>"
    ctx = SystemContext.reaching(target.access)
    assert (ctx.credentials, ctx.ca_file, ctx.tls_verify) == (Credentials("u", "p"), ca, True)
