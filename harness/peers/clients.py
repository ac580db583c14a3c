"""Run the real client tools (skopeo, buildah, podman, the Docker CLI) against a registry.

Every helper is isolated from the machine's configuration: it works in a folder the
caller gives (its own policy.json accepting anything, an empty registries.conf, its own
storage for buildah, its own Docker client config), so a test sees the same behaviour on
any machine and leaves nothing behind. A failed command raises :class:`PeerCommandError`
carrying stderr; callers that expect a failure pass ``check=False``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.peers.launchers import RunningRegistry, require_executable
from harness.util.errors import HarnessError

RUN_TIMEOUT = 600.0
_POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


def redacted(args: Sequence[str]) -> str:
    """The command line for messages, with the password of every ``--*creds`` hidden."""
    shown = list(args)
    for index, arg in enumerate(shown[:-1]):
        if arg.startswith("--") and arg.endswith("creds"):
            user = shown[index + 1].partition(":")[0]
            shown[index + 1] = f"{user}:<redacted>"
    return shlex.join(shown)


class PeerCommandError(HarnessError):
    """A peer command exited non-zero; ``result`` holds its output."""

    def __init__(self, result: PeerRun) -> None:
        last = result.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        super().__init__(f"{redacted(result.args)} exited with {result.returncode}: "
                         f"{last[0]}")
        self.result = result


@dataclass(frozen=True)
class PeerRun:
    """What a peer command did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_peer(args: Sequence[str], *, env: Mapping[str, str] | None = None,
             input_text: str | None = None, check: bool = True,
             timeout: float = RUN_TIMEOUT) -> PeerRun:
    """Run one command without a terminal; raise :class:`PeerCommandError` if it fails."""
    completed = subprocess.run(
        list(args), check=False, capture_output=True, text=True, env=env, input=input_text,
        stdin=None if input_text is not None else subprocess.DEVNULL, timeout=timeout)
    result = PeerRun(tuple(args), completed.returncode, completed.stdout, completed.stderr)
    if check and result.returncode != 0:
        raise PeerCommandError(result)
    return result


@dataclass(frozen=True)
class ContainersConfig:
    """containers/image configuration files of our own, so no system file is read."""

    workdir: Path

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.policy.exists():
            self.policy.write_text(json.dumps(_POLICY))
            self.registries_conf.write_text("unqualified-search-registries = []\n")
            self.tmpdir.mkdir(exist_ok=True)

    @property
    def policy(self) -> Path:
        return self.workdir / "policy.json"

    @property
    def registries_conf(self) -> Path:
        return self.workdir / "registries.conf"

    @property
    def tmpdir(self) -> Path:
        return self.workdir / "tmp"

    def cert_dir(self, ca_file: Path) -> Path:
        """A folder holding only *ca_file* as ``ca.crt``: containers/image reads every
        ``*.crt`` there as a CA and refuses a ``*.key`` without its ``*.cert``."""
        directory = self.workdir / "certs"
        directory.mkdir(exist_ok=True)
        shutil.copyfile(ca_file, directory / "ca.crt")
        return directory

    def overrides(self) -> dict[str, str]:
        """The environment variables that point the tools at these files."""
        return {"CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
                "TMPDIR": str(self.tmpdir)}

    def registry_flags(self, registry: RunningRegistry | None, prefix: str = "") -> list[str]:
        """TLS and credential flags for *registry* (``prefix`` "src-"/"dest-" for copy)."""
        if registry is None:
            return []
        if registry.ca_file is not None:
            flags = [f"--{prefix}cert-dir", str(self.cert_dir(registry.ca_file))]
        else:
            flags = [f"--{prefix}tls-verify=false"]
        if registry.credentials is not None:
            creds = registry.credentials
            flags += [f"--{prefix}creds", f"{creds.username}:{creds.password}"]
        return flags


@dataclass
class _ContainersTool(ABC):
    """A containers/image tool: private configuration under *workdir*, and the TLS and
    credential flags of ``registry`` for the references that point at a registry."""

    workdir: Path
    registry: RunningRegistry | None = None
    peer: ClassVar[str]

    def __post_init__(self) -> None:
        self.executable = require_executable(self.peer)
        self.config = ContainersConfig(self.workdir)

    @abstractmethod
    def argv(self, *args: str) -> list[str]:
        """The full command line for ``TOOL args``, without running it (for benchmarks)."""

    def overrides(self) -> dict[str, str]:
        """The environment variables the command needs on top of the caller's."""
        return self.config.overrides()

    def run(self, *args: str, check: bool = True) -> PeerRun:
        return run_peer(self.argv(*args), env={**os.environ, **self.overrides()}, check=check)

    def _registry_args(self, ref: str, prefix: str = "") -> list[str]:
        if not ref.startswith("docker://"):
            return []
        return self.config.registry_flags(self.registry, prefix)


@dataclass
class Skopeo(_ContainersTool):
    """``skopeo`` with its own policy; ``registry`` supplies TLS and credential flags."""

    peer = "skopeo"

    def argv(self, *args: str) -> list[str]:
        return [self.executable, "--policy", str(self.config.policy),
                "--tmpdir", str(self.config.tmpdir), *args]

    def copy_args(self, src: str, dest: str, *extra: str) -> list[str]:
        """The arguments of ``skopeo copy``, with registry flags on each docker:// side."""
        flags = self._registry_args(src, "src-") + self._registry_args(dest, "dest-")
        return ["copy", *flags, *extra, src, dest]

    def copy(self, src: str, dest: str, *extra: str, check: bool = True) -> PeerRun:
        return self.run(*self.copy_args(src, dest, *extra), check=check)

    def inspect(self, ref: str, *extra: str) -> str:
        """``skopeo inspect`` output: JSON text (``--raw`` gives the manifest bytes)."""
        return self.run("inspect", *self._registry_args(ref), *extra, ref).stdout

    def list_tags(self, ref: str) -> list[str]:
        out = self.run("list-tags", *self._registry_args(ref), ref).stdout
        tags: list[str] = json.loads(out)["Tags"]
        return tags

    def delete(self, ref: str, check: bool = True) -> PeerRun:
        return self.run("delete", *self._registry_args(ref), ref, check=check)


@dataclass
class Buildah(_ContainersTool):
    """``buildah`` with a private store under *workdir*, on the vfs driver unless *driver*
    names another (``overlay``)."""

    peer = "buildah"
    driver: str = "vfs"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.root = self.workdir / "root"
        self.runroot = self._runroot()
        self.storage_conf = self.workdir / "storage.conf"
        if not self.storage_conf.exists():
            self.storage_conf.write_text(
                f'[storage]\ndriver = "{self.driver}"\nrunroot = "{self.runroot}"\n'
                f'graphroot = "{self.root}"\n')

    def _runroot(self) -> Path:
        return self.workdir / "runroot"

    @property
    def store_spec(self) -> str:
        """The store as a ``containers-storage:`` reference names it."""
        return f"[{self.driver}@{self.root}+{self.runroot}]"

    def argv(self, *args: str) -> list[str]:
        return [self.executable, "--root", str(self.root), "--runroot", str(self.runroot),
                "--storage-driver", self.driver, *args]

    def overrides(self) -> dict[str, str]:
        return {**self.config.overrides(), "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
                "BUILDAH_ISOLATION": "chroot"}

    def _policy(self) -> list[str]:
        return ["--signature-policy", str(self.config.policy)]

    def push_args(self, image: str, dest: str, *extra: str) -> list[str]:
        """The arguments of ``buildah push``, with registry flags for a docker:// *dest*."""
        return ["push", *self._policy(), *self._registry_args(dest), *extra, image, dest]

    def from_image(self, image: str = "scratch") -> str:
        """Create a working container; return its name."""
        out = self.run("from", *self._policy(), *self._registry_args(image), image).stdout
        return out.strip().splitlines()[-1]

    def copy(self, container: str, source: Path, dest: str) -> None:
        self.run("copy", container, str(source), dest)

    def config_set(self, container: str, *flags: str) -> None:
        """``buildah config FLAGS container``, e.g. ``--env A=1``, ``--cmd /bin/sh``."""
        self.run("config", *flags, container)

    def commit(self, container: str, dest: str, *extra: str) -> str:
        """Commit to *dest* (a local name or a transport reference such as ``docker://``).

        Returns the image ID for local storage; buildah prints none for other transports,
        so the result is then "".
        """
        return self.run("commit", *self._policy(), *self._registry_args(dest), *extra,
                        container, dest).stdout.strip()

    def push(self, image: str, dest: str, *extra: str) -> PeerRun:
        return self.run(*self.push_args(image, dest, *extra))

    def pull(self, ref: str, *extra: str) -> str:
        out = self.run("pull", *self._policy(), *self._registry_args(ref), *extra,
                       ref).stdout
        return out.strip().splitlines()[-1]


@dataclass
class Podman(Buildah):
    """``podman`` on a private store under *workdir* (vfs unless *driver* says otherwise),
    with an empty containers.conf, cgroupfs and a file event log, so that it needs
    neither systemd nor the machine's configuration."""

    peer = "podman"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.containers_conf = self.workdir / "containers.conf"
        self.containers_conf.touch()

    def _runroot(self) -> Path:
        """podman refuses a runroot path over 50 characters: a short one in the system's
        temporary folder, removed with this object."""
        runroot = Path(tempfile.mkdtemp(prefix="podman-run-"))
        weakref.finalize(self, shutil.rmtree, runroot, True)
        return runroot

    def argv(self, *args: str) -> list[str]:
        return [self.executable, "--root", str(self.root), "--runroot", str(self.runroot),
                "--storage-driver", self.driver, "--cgroup-manager", "cgroupfs",
                "--events-backend", "file", "--tmpdir", str(self.config.tmpdir), *args]

    def overrides(self) -> dict[str, str]:
        return {**super().overrides(), "CONTAINERS_CONF": str(self.containers_conf)}

    def tag(self, image: str, name: str) -> None:
        self.run("tag", image, name)

    def image_id(self, image: str) -> str:
        return self.run("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


@dataclass
class DockerCLI:
    """The ``docker`` CLI with a private client config (logins never touch ~/.docker).

    The engine trusts plain HTTP to 127.0.0.1 by default; a registry with its own CA
    would need the CA in the engine's certs.d, which is machine state, so it is refused.
    """

    workdir: Path
    registry: RunningRegistry | None = None

    def __post_init__(self) -> None:
        self.executable = require_executable("docker")
        self.config_dir = self.workdir / "docker-config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if self.registry is not None and self.registry.ca_file is not None:
            raise HarnessError("DockerCLI cannot trust a registry CA without changing the "
                               "engine's configuration; use a plain-HTTP loopback registry")

    def run(self, *args: str, check: bool = True, input_text: str | None = None) -> PeerRun:
        return run_peer([self.executable, "--config", str(self.config_dir), *args],
                        check=check, input_text=input_text)

    def login(self) -> None:
        """Log in to the registry when it has credentials; a no-op otherwise."""
        if self.registry is None or self.registry.credentials is None:
            return
        creds = self.registry.credentials
        self.run("login", "--username", creds.username, "--password-stdin",
                 self.registry.host, input_text=creds.password)

    def pull(self, ref: str) -> PeerRun:
        return self.run("pull", ref)

    def push(self, ref: str) -> PeerRun:
        return self.run("push", ref)

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target)

    def load(self, archive: Path) -> list[str]:
        """``docker load``; return the names (or IDs) it reports as loaded."""
        out = self.run("load", "--input", str(archive)).stdout
        return [line.split(": ", 1)[1].strip() for line in out.splitlines()
                if line.startswith("Loaded image")]

    def run_container(self, image: str, *command: str) -> PeerRun:
        """Run *command* in a throwaway container on the host network."""
        return self.run("run", "--rm", "--network", "host", image, *command)

    def remove_image(self, ref: str) -> None:
        self.run("rmi", "--force", ref, check=False)
