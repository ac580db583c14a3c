"""Start-up cost: a local command imports only what it uses.

Each command runs in a fresh interpreter (``main`` as ``python -m harness`` calls it) that
then reports which of the heavy modules it imported: a local commit must not load the
copy engine or the docker transport (requests); a commit that
leaves the store, and a policy with scoped entries, still load what they need.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.builder.builder import Builder
from harness.store.store import Store

HEAVY = ("requests", "harness.copy.engine", "harness.transports.docker")

_SNIPPET = f"""
import json, sys
from harness.cli.main import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(m for m in sys.modules if m in {HEAVY!r})]))
"""


def imported(root: Path, *args: str) -> list[str]:
    """Run ``python -m harness --root ROOT ARGS`` in a fresh interpreter; the heavy
    modules it imported."""
    proc = subprocess.run([sys.executable, "-c", _SNIPPET, "--root", str(root), *args],
                          capture_output=True, text=True, check=True, timeout=120)
    code, modules = json.loads(proc.stdout.splitlines()[-1])
    assert code == 0, proc.stderr
    return list(modules)


@pytest.fixture
def container(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "root"
    builder = Builder.new(Store.open(root), "scratch")
    (Path(builder.rootfs) / "file.txt").write_text("content")
    return root, builder.container_name


@pytest.mark.parametrize("command", [["images"], ["containers"], ["check"],
                                     ["from", "scratch", "--name", "c"]])
def test_local_commands_import_nothing_heavy(tmp_path: Path, command: list[str]) -> None:
    assert imported(tmp_path / "root", *command) == []


def test_local_commit_imports_no_transport_or_copy_engine(
        container: tuple[Path, str], policy: Path) -> None:
    root, name = container
    assert imported(root, "commit", "--signature-policy", str(policy), "-q", name,
                    "app:1") == []


def test_commit_elsewhere_loads_the_copy_engine(container: tuple[Path, str], policy: Path,
                                                tmp_path: Path) -> None:
    root, name = container
    modules = imported(root, "commit", "--signature-policy", str(policy), "-q", name,
                       f"oci:{tmp_path / 'layout'}:v1")
    assert "harness.copy.engine" in modules
    assert (tmp_path / "layout" / "index.json").is_file()


def test_scoped_policy_is_still_validated_by_its_transport(container: tuple[Path, str],
                                                           tmp_path: Path) -> None:
    root, name = container
    accept = [{"type": "insecureAcceptAnything"}]
    policy = tmp_path / "scoped.json"
    policy.write_text(json.dumps({"default": accept,
                                  "transports": {"docker": {"quay.io/app": accept}}}))
    modules = imported(root, "commit", "--signature-policy", str(policy), "-q", name, "a")
    assert "harness.transports.docker" in modules
    policy.write_text(json.dumps({"default": accept,
                                  "transports": {"docker": {"Not A Scope!": accept}}}))
    proc = subprocess.run([sys.executable, "-m", "harness", "--root", str(root), "commit",
                           "--signature-policy", str(policy), "-q", name, "b"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 125
    assert proc.stderr.startswith("Error: ") and "Not A Scope!" in proc.stderr
