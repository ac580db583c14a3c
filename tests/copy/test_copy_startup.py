"""A copy imports only the transports it uses: between local ones, never requests (nor
logging, which requests and a concurrent.futures pool would load); the schema1 module only
for a schema1 manifest, and cryptography only to sign or verify one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.pytest_plugin.images import BuiltImage

_SNIPPET = """
import json, sys
from harness.cli.main import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(m for m in sys.modules
                               if m in ("requests", "cryptography", "logging", "secrets",
                                        "concurrent.futures", "harness.model.schema1",
                                        "tempfile", "harness.util.scratch")
                               or m.startswith("harness.transports."))]))
"""


def _imported(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _SNIPPET, *args], capture_output=True,
                          text=True, check=True, timeout=120)
    code, modules = json.loads(proc.stdout.splitlines()[-1])
    assert code == 0, proc.stderr
    return list(modules)


def test_a_local_copy_loads_only_its_two_transports(oci_image: tuple[str, BuiltImage],
                                                    tmp_path: Path, policy: Path) -> None:
    modules = _imported("copy", "-q", "--policy", str(policy), oci_image[0],
                        f"dir:{tmp_path}/d")
    assert "requests" not in modules and "harness.transports.docker" not in modules
    assert "cryptography" not in modules  # an OCI image is never signed
    assert "harness.model.schema1" not in modules  # nor read as schema1
    assert "logging" not in modules and "concurrent.futures" not in modules
    assert "secrets" not in modules  # a temporary file's random name needs only os.urandom
    assert "harness.util.scratch" not in modules and "tempfile" not in modules  # archives'
    assert {"harness.transports.oci", "harness.transports.directory"} <= set(modules)
    assert (tmp_path / "d" / "manifest.json").is_file()


def test_a_policy_scoping_docker_loads_it_to_validate_the_scope(
        oci_image: tuple[str, BuiltImage], tmp_path: Path) -> None:
    accept = [{"type": "insecureAcceptAnything"}]
    policy = tmp_path / "scoped.json"
    policy.write_text(json.dumps({"default": accept,
                                  "transports": {"docker": {"quay.io/app": accept}}}))
    modules = _imported("copy", "-q", "--policy", str(policy), oci_image[0],
                        f"dir:{tmp_path}/d")
    assert "harness.transports.docker" in modules


def test_inspecting_a_layout_loads_only_its_transport(oci_image: tuple[str, BuiltImage]) -> None:
    modules = _imported("inspect", "--config", oci_image[0])
    assert "requests" not in modules and "harness.transports.docker" not in modules
    assert "harness.transports.oci" in modules


def test_a_conversion_to_schema1_loads_cryptography_to_sign(oci_image: tuple[str, BuiltImage],
                                                            tmp_path: Path,
                                                            policy: Path) -> None:
    modules = _imported("copy", "-q", "--policy", str(policy), "--format", "v2s1",
                        oci_image[0], f"dir:{tmp_path}/d")
    assert {"cryptography", "harness.model.schema1"} <= set(modules)
    assert b'"signatures"' in (tmp_path / "d" / "manifest.json").read_bytes()
