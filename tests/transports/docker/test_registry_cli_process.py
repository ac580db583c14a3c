"""``python -m harness`` as its own process against distribution 2.8.2: its registry
sessions are on http.client (requests and urllib3 are never imported), and what it pushes
is byte for byte what skopeo and the in-process (requests) command line push."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.peers.launchers import RunningRegistry
from harness.pytest_plugin.images import ImageSpec, write_image
from harness.pytest_plugin.trees import files_tree
from harness.transports.alltransports import parse_image_name
from tests._support.importsets import modules_of_process

pytestmark = pytest.mark.requires_peer("skopeo")
_NEVER = {"requests", "urllib3"}



def _digest(registry: RunningRegistry, policy: Path, name: str) -> str:
    out = subprocess.run(["skopeo", "--policy", str(policy), "inspect", "--tls-verify=false",
                          f"docker://{registry.image(name)}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    digest: str = json.loads(out)["Digest"]
    return digest


@pytest.fixture
def layout(tmp_path: Path) -> str:
    """Two layers: one over the monolithic limit (a streamed PATCH), one small (a PUT)."""
    reference = f"oci:{tmp_path / 'layout'}:v1"
    spec = ImageSpec((files_tree({"data": random.Random(19).randbytes(3 * 1024 * 1024)}),
                      files_tree({"etc/motd": b"hello\n"})))
    write_image(spec, parse_image_name(reference))
    return reference


def test_copy_process_pushes_on_http_client_what_skopeo_pushes(
        distribution: RunningRegistry, layout: str, policy: Path) -> None:
    modules = modules_of_process("copy", "-q", "--policy", str(policy),
                                 "--dest-tls-verify=false", layout,
                                 f"docker://{distribution.image('cli-process/copy:v1')}")
    assert "harness.transports.docker.stdlib_session" in modules
    assert not modules & _NEVER, sorted(modules & _NEVER)
    subprocess.run(["skopeo", "--policy", str(policy), "copy", "--dest-tls-verify=false",
                    layout, f"docker://{distribution.image('cli-process/skopeo:v1')}"],
                   capture_output=True, timeout=120, check=True)
    assert (_digest(distribution, policy, "cli-process/copy:v1")
            == _digest(distribution, policy, "cli-process/skopeo:v1"))


def test_push_process_pushes_on_http_client_what_requests_pushes(
        distribution: RunningRegistry, root: str, policy: Path) -> None:
    modules = modules_of_process("--root", root, "push", "-q", "--signature-policy",
                                 str(policy), "--tls-verify=false", "app:v1",
                                 f"docker://{distribution.image('cli-process/push:v1')}")
    assert "harness.transports.docker.stdlib_session" in modules
    assert not modules & _NEVER, sorted(modules & _NEVER)
    # The same command in process: requests, the library's default.
    assert main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                 "--tls-verify=false", "app:v1",
                 f"docker://{distribution.image('cli-process/in-process:v1')}"]) == 0
    assert (_digest(distribution, policy, "cli-process/push:v1")
            == _digest(distribution, policy, "cli-process/in-process:v1"))
