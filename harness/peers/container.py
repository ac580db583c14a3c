"""The distribution registry inside a Docker container, built here and never pulled.

The engine on these machines reaches no registry, so the image is made locally: the host's
``docker-registry`` binary and the libraries ``ldd`` lists, either ``docker import``ed as a
rootfs tar or committed by the project's own builder to a docker-archive and loaded (the
project checking itself), tagged from the binary's digest (a new binary, a new image).
The container uses host networking and bind-mounts the launcher's work folder at the same
path, so the config written for the native launcher works unchanged.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.model.digest import digest_stream
from harness.peers.clients import run_peer
from harness.peers.launchers import (
    DistributionSettings,
    PreparedConfig,
    RunningRegistry,
    ServerHandle,
    require_executable,
    serve_distribution,
)

IMAGE_REPOSITORY = "oci-harness/docker-registry"
ImageBuilder = Literal["import", "harness"]


def shared_libraries(executable: Path) -> list[Path]:
    """The absolute paths ``ldd`` prints for *executable* (the loader included)."""
    out = subprocess.run(["ldd", str(executable)], check=True, capture_output=True,
                         text=True).stdout
    paths: list[Path] = []
    for line in out.splitlines():
        target = line.split("=>", 1)[-1].split()
        if target and target[0].startswith("/"):
            paths.append(Path(target[0]))
    return paths


def rootfs_files(executable: Path) -> list[Path]:
    """Every file the image needs: *executable* and its libraries, at their host paths."""
    return [executable, *shared_libraries(executable)]


def _import_rootfs(client: Any, executable: Path, tag: str, tmp: Path) -> None:
    """``docker import`` a tar of the files, symlinks resolved to their contents."""
    tar_path = tmp / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for path in rootfs_files(executable):
            tar.add(os.path.realpath(path), arcname=str(path).lstrip("/"))
    repository, _, version = tag.partition(":")
    client.api.import_image_from_file(str(tar_path), repository=repository, tag=version)


def _build_with_harness(client: Any, executable: Path, tag: str, tmp: Path) -> None:
    """Dogfooding: the project's own ``from``/``add``/``commit`` write a docker-archive
    that the engine loads, so the registry's image proves the project's writer."""
    harness = [sys.executable, "-m", "harness", "--root", str(tmp / "store")]
    container = run_peer([*harness, "from", "scratch"]).stdout.strip()
    for path in rootfs_files(executable):
        run_peer([*harness, "add", container, os.path.realpath(path), str(path)])
    archive = tmp / "image.tar"
    run_peer([*harness, "commit", container, f"docker-archive:{archive}:{tag}"])
    with archive.open("rb") as stream:
        client.images.load(stream)


_BUILDERS = {"import": _import_rootfs, "harness": _build_with_harness}


def registry_image(client: Any, executable: Path, builder: ImageBuilder = "import") -> str:
    """The tag of an engine image running *executable*; built on first use."""
    import docker.errors  # noqa: PLC0415 - the SDK is slow to import; only load it when used

    with executable.open("rb") as handle:
        digest, _size = digest_stream(handle)
    tag = f"{IMAGE_REPOSITORY}:{digest.hex[:16]}-{builder}"
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        with tempfile.TemporaryDirectory(prefix="oci-harness-registry-image-") as tmp:
            _BUILDERS[builder](client, executable, tag, Path(tmp))
    return tag


@dataclass
class _Container:
    """A registry container; its output is copied to the log file while it runs."""

    container: Any

    def follow_log(self, log_path: Path) -> None:
        def copy() -> None:
            with log_path.open("ab") as log:
                for chunk in self.container.logs(stream=True, follow=True):
                    log.write(chunk)
                    log.flush()

        threading.Thread(target=copy, name="registry-log", daemon=True).start()

    def exit_problem(self) -> str | None:
        self.container.reload()
        if self.container.status in {"exited", "dead"}:
            code = self.container.attrs["State"]["ExitCode"]
            return f"container exited with code {code}"
        return None

    def stop(self) -> None:
        self.container.remove(force=True)


@dataclass(frozen=True)
class DistributionContainerLauncher(DistributionSettings):
    """The same registry as :class:`DistributionLauncher`, run by the Docker engine."""

    name: str = "distribution-container"
    image_builder: ImageBuilder = "import"  # "harness": built by the project itself

    @contextlib.contextmanager
    def start(self) -> Iterator[RunningRegistry]:
        executable = require_executable("docker-registry")
        require_executable("docker")
        import docker  # noqa: PLC0415 - the SDK is slow to import; only load it when used

        client = docker.from_env(timeout=60)
        image = registry_image(client, Path(executable), self.image_builder)

        def run(prepared: PreparedConfig) -> ServerHandle:
            workdir = str(prepared.config_path.parent)
            container = client.containers.run(
                image, command=[executable, "serve", str(prepared.config_path)],
                network_mode="host", detach=True,
                user=f"{os.getuid()}:{os.getgid()}",  # files it writes stay removable by us
                volumes={workdir: {"bind": workdir, "mode": "rw"}},
                labels={"oci-harness": "registry"},
            )
            handle = _Container(container)
            assert prepared.registry.log_path is not None
            handle.follow_log(prepared.registry.log_path)
            return handle

        try:
            with serve_distribution(self, run) as registry:
                yield registry
        finally:
            client.close()
