"""Start-up cost: a command imports only what it uses.

Each command runs in a fresh interpreter (``main`` as ``python -m harness`` calls it) that
then reports which of the heavy modules it imported: ``--version``, ``--help`` and the
parsing of any command load no store, transport, builder or copy engine (nor requests,
cryptography, the compressors, dataclasses, ctypes); a local commit must not load the copy
engine or the docker transport (requests); a commit that leaves the store, and a policy
with scoped entries, still load what they need. Against a registry (the fake, served):
``copy`` from a layout loads no builder or store, ``push`` the store but no working
container, ``inspect`` neither the store nor the copy engine, and none of them loads zstd
(unless asked) or cryptography. Start-up time itself is a row of ``python -m bench``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.builder.builder import Builder
from harness.cli.main import main
from harness.pytest_plugin import assert_pushed
from harness.pytest_plugin.registries import RegistryUnderTest
from harness.store.store import Store
from tests._support.importsets import modules_of_process

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


# What building the parser may load: the CLI's own modules, the light util ones, and the
# manifest format names; anything else is for the command function to import.
PARSER_MODULES = ("harness", "harness.cli", "harness.util", "harness.model",
                  "harness.model.mediatype")
NEVER_AT_START_UP = ("harness.builder", "harness.store", "harness.transports", "harness.copy",
                     "requests", "urllib3", "cryptography", "zstandard", "isal", "docker")

# The snippets report the modules loaded after they start: what the interpreter's start-up
# (site, a coverage hook...) loaded before is not the command's doing.
_START_UP = """
import json, runpy, sys
before = set(sys.modules)
sys.argv = ["harness", *sys.argv[1:]]
try:
    runpy.run_module("harness", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print(json.dumps([code, sorted(set(sys.modules) - before)]))
"""

_PARSE = """
import json, sys
before = set(sys.modules)
from harness.cli.main import build_parser
args = build_parser().parse_args(sys.argv[1:])
print(json.dumps([args.command, sorted(set(sys.modules) - before)]))
"""

_RUN = """
import json, sys
before = set(sys.modules)
from harness.cli.main import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(set(sys.modules) - before)]))
"""


def _modules(snippet: str, *args: str) -> tuple[object, set[str]]:
    proc = subprocess.run([sys.executable, "-c", snippet, *args], capture_output=True,
                          text=True, check=True, timeout=120)
    outcome, modules = json.loads(proc.stdout.splitlines()[-1])
    return outcome, set(modules)


def _loaded_under(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages)}


def _harness_beyond_the_parser(modules: set[str]) -> set[str]:
    return {m for m in modules if (m == "harness" or m.startswith("harness."))
            and m not in PARSER_MODULES and not m.startswith(("harness.cli.", "harness.util."))}


# Standard modules that only a command's work needs: dataclasses (with inspect and ast,
# ~10 ms), ctypes (the malloc tuning of a command that streams), threads and logging,
# getpass (a password prompt).
NOT_FOR_THE_PARSER = ("dataclasses", "inspect", "ctypes", "concurrent", "logging", "platform",
                      "getpass")


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_load_only_the_parser(flag: str) -> None:
    code, modules = _modules(_START_UP, flag)
    assert code == 0
    assert _loaded_under(modules, NEVER_AT_START_UP) == set()
    assert _loaded_under(modules, NOT_FOR_THE_PARSER) == set()
    assert _harness_beyond_the_parser(modules) == set()
    assert "harness.cli.main" in modules  # the snippet did run the CLI


@pytest.mark.parametrize("argv", [["inspect", "--raw", "docker://localhost:5000/app:1"],
                                  ["push", "--creds", "u:p", "app:1", "oci:/tmp/layout:v1"],
                                  ["copy", "oci:/a:1", "dir:/b"],
                                  ["commit", "--format", "docker", "ctr", "app:1"]])
def test_parsing_a_command_loads_none_of_its_work(argv: list[str]) -> None:
    command, modules = _modules(_PARSE, *argv)
    assert command == argv[0]
    assert _loaded_under(modules, NEVER_AT_START_UP) == set()
    assert _harness_beyond_the_parser(modules) == set()


_PARSERS_BUILT = """
import argparse, json, sys
built = []
init = argparse.ArgumentParser.__init__
def counting(self, *args, **kwargs):
    init(self, *args, **kwargs)
    built.append(self.prog)
argparse.ArgumentParser.__init__ = counting
from harness.cli.main import build_parser
args = build_parser().parse_args(sys.argv[1:])
print(json.dumps(built))
"""


@pytest.mark.parametrize(("argv", "parsers"), [
    (["copy", "oci:/a:1", "dir:/b"], ["python -m harness", "python -m harness copy"]),
    (["--root", "/r", "manifest", "push", "a", "oci:/b"],
     ["python -m harness", "python -m harness manifest", "python -m harness manifest push"]),
])
def test_parsing_a_command_builds_only_its_own_parser(argv: list[str],
                                                      parsers: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", _PARSERS_BUILT, *argv], capture_output=True,
                          text=True, check=True, timeout=120)
    assert json.loads(proc.stdout) == parsers  # not all 18 commands' (~4 ms)


def test_a_push_to_a_local_layout_loads_no_registry_client(tmp_path: Path,
                                                           policy: Path) -> None:
    root = tmp_path / "root"
    builder = Builder.new(Store.open(root), "scratch")
    (Path(builder.rootfs) / "file.txt").write_text("content")
    builder.commit("app:1")
    modules = imported(root, "push", "-q", "--signature-policy", str(policy), "app:1",
                       f"oci:{tmp_path / 'layout'}:v1")
    assert modules == ["harness.copy.engine"]
    assert (tmp_path / "layout" / "index.json").is_file()


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


def _ran(*args: str) -> set[str]:
    """Run ``python -m harness ARGS`` (as ``main``) in a fresh interpreter; the modules it
    loaded."""
    code, modules = _modules(_RUN, *args)
    assert code == 0
    return modules


# Never needed to move an image between a layout, the store and a registry: the working
# containers (and the store's layer applying and snapshots, with tarfile), buildah's and
# podman's store, the docker daemon's SDK, schema1 (its signing, and the module itself for
# an image that is not schema1), zstd, a concurrent.futures pool (it loads logging), the
# registry access settings of flags and the environment (only the credentials).
NOT_FOR_A_TRANSFER = ("harness.builder.builder", "harness.store.apply", "harness.store.diff",
                      "harness.store.containers", "docker", "cryptography", "zstandard",
                      "harness.model.schema1", "concurrent", "harness.model.access")


@pytest.fixture
def stored_image(tmp_path: Path, policy: Path) -> tuple[Path, str]:
    """A store holding ``app:1``, and the same image in an OCI layout (its reference)."""
    root = tmp_path / "root"
    builder = Builder.new(Store.open(root), "scratch")
    (Path(builder.rootfs) / "file.txt").write_text("content")
    builder.commit("app:1")
    layout = f"oci:{tmp_path / 'layout'}:v1"
    assert main(["--root", str(root), "push", "-q", "--signature-policy", str(policy),
                 "app:1", layout]) == 0
    return root, layout


def test_copy_to_a_registry_loads_no_builder_or_store(
        stored_image: tuple[Path, str], fake_registry_server: RegistryUnderTest,
        policy: Path) -> None:
    modules = _ran("copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
                   "--dest-compress-format", "gzip", stored_image[1],
                   f"docker://{fake_registry_server.image('app:1')}")
    assert {"requests", "harness.copy.engine", "harness.transports.oci",
            "harness.transports.docker.transport"} <= modules
    assert _loaded_under(modules, (*NOT_FOR_A_TRANSFER, "harness.builder", "harness.store.store",
                                   "harness.model.convert",  # no type change
                                   "harness.util.scratch")) == set()  # only archives stage
    assert_pushed(fake_registry_server, "app:1", layers=1)


# What only writing to the store needs: the layer tar writer (commit) and the image
# config's parser (storing a pulled image reads its diffIDs).
NOT_FOR_READING_THE_STORE = ("harness.store.tarstream", "harness.store.gotar",
                             "harness.model.config")


def test_push_to_a_registry_loads_the_store_but_no_working_container(
        stored_image: tuple[Path, str], fake_registry_server: RegistryUnderTest,
        policy: Path) -> None:
    modules = _ran("--root", str(stored_image[0]), "push", "-q", "--tls-verify=false",
                   "--signature-policy", str(policy), "app:1",
                   f"docker://{fake_registry_server.image('app:1')}")
    assert {"requests", "harness.copy.engine", "harness.store.store",
            "harness.builder.push"} <= modules
    assert _loaded_under(modules, (*NOT_FOR_A_TRANSFER, *NOT_FOR_READING_THE_STORE)) == set()
    assert_pushed(fake_registry_server, "app:1", layers=1)



# What no command-line copy, push or inspect of an OCI or schema2 image loads: requests
# (the process's client is http.client), logging (requests and a concurrent.futures pool
# loaded it), secrets, the access settings of flags and the environment, schema1.
NOT_FOR_THE_PROCESS = ("requests", "urllib3", "logging", "concurrent", "secrets",
                       "harness.model.access", "harness.model.schema1")


def test_the_copy_process_loads_only_what_its_copy_uses(
        stored_image: tuple[Path, str], fake_registry_server: RegistryUnderTest,
        policy: Path) -> None:
    dest = f"docker://{fake_registry_server.image('app:1')}"
    modules = modules_of_process("copy", "-q", "--policy", str(policy),
                                 "--dest-tls-verify=false", "--dest-compress-format", "gzip",
                                 stored_image[1], dest)
    assert "harness.transports.docker.transport" in modules
    assert _loaded_under(modules, (*NOT_FOR_THE_PROCESS, *NOT_FOR_A_TRANSFER, "tempfile",
                                   "harness.util.scratch", "harness.store",
                                   "harness.builder")) == set()
    modules = modules_of_process("inspect", "--tls-verify=false", dest)
    assert "harness.transports.inspect" in modules
    assert _loaded_under(modules, (*NOT_FOR_THE_PROCESS, *NOT_FOR_A_TRANSFER, "tempfile",
                                   "harness.copy", "harness.store")) == set()


def test_the_push_process_reads_the_store_and_stages_nothing(
        stored_image: tuple[Path, str], fake_registry_server: RegistryUnderTest,
        policy: Path) -> None:
    modules = modules_of_process("--root", str(stored_image[0]), "push", "-q",
                                 "--tls-verify=false", "--signature-policy", str(policy),
                                 "app:1", f"docker://{fake_registry_server.image('app:1')}")
    assert {"harness.store.store", "harness.transports.docker.transport"} <= modules
    assert _loaded_under(modules, (*NOT_FOR_THE_PROCESS, *NOT_FOR_A_TRANSFER,
                                   *NOT_FOR_READING_THE_STORE, "tempfile",
                                   "harness.util.scratch")) == set()
    assert_pushed(fake_registry_server, "app:1", layers=1)


def test_inspecting_a_registry_image_loads_no_copy_engine_or_store(
        stored_image: tuple[Path, str], fake_registry_server: RegistryUnderTest,
        policy: Path) -> None:
    dest = f"docker://{fake_registry_server.image('app:1')}"
    assert main(["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
                 stored_image[1], dest]) == 0
    modules = _ran("inspect", "--tls-verify=false", dest)
    assert {"requests", "harness.transports.docker.transport",
            "harness.transports.inspect"} <= modules
    assert _loaded_under(modules, (*NOT_FOR_A_TRANSFER, "harness.builder", "harness.store",
                                   "harness.copy")) == set()
