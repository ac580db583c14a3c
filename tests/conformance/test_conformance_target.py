"""The suite's target spells "how to reach a registry" for the environment and xdist
workers; everything that connects goes through the one value the project shares."""

from __future__ import annotations

from pathlib import Path

from conformance.client import Client, Target
from harness.model.access import Credentials, RegistryAccess
from harness.transports.types import SystemContext


def test_target_is_reached_through_the_shared_value(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("a CA\n")
    basic = Target(url="https://r.example:5000/", username="u", password="p", verify=str(ca))
    assert basic.access == RegistryAccess(Credentials("u", "p"), ca_file=ca,
                                          url="https://r.example:5000")
    bearer = Target(url="https://r.example", token="t", verify=False)
    assert (bearer.access.token, bearer.access.insecure, bearer.access.verify) == ("t", True,
                                                                                  False)
    plain = Target(url="http://127.0.0.1:5000", verify=False)  # no TLS to skip
    assert plain.access == RegistryAccess(url="http://127.0.0.1:5000")


def test_client_and_copies_use_the_targets_access(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("a CA\n")
    target = Target(url="https://r.example", username="u", password="p", verify=str(ca))
    assert Client(target).session.verify == str(ca)
    ctx = SystemContext.reaching(target.access)
    assert (ctx.credentials, ctx.ca_file, ctx.tls_verify) == (Credentials("u", "p"), ca, True)
