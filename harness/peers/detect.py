"""Find the real peers once per process, and say exactly why one is missing.

Tests ask :func:`require_peer`; on a machine without the peer the test skips with the
install hint, and with ``REQUIRE_REAL_PEERS=1`` (as in CI) the skip becomes a failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

REQUIRE_ENV = "REQUIRE_REAL_PEERS"


@dataclass(frozen=True)
class Peer:
    name: str
    executable: str
    install_hint: str
    version_args: tuple[str, ...] = ("--version",)  # () when it has no version command


PEERS: dict[str, Peer] = {
    p.name: p
    for p in (
        Peer("docker-registry", "docker-registry", "apt-get install docker-registry"),
        Peer("skopeo", "skopeo", "apt-get install skopeo"),
        Peer("buildah", "buildah", "apt-get install buildah"),
        Peer("podman", "podman", "apt-get install podman"),
        Peer("podman", "podman", "apt-get install podman"),
        Peer("umoci", "umoci", "apt-get install umoci"),
        Peer("docker", "docker", "apt-get install docker.io and start dockerd "
             "(dockerd --storage-driver=vfs --iptables=false --bridge=none)",
             ("version", "--format", "engine {{.Server.Version}}, CLI {{.Client.Version}}")),
        Peer("busybox", "busybox", "apt-get install busybox-static", ()),
        Peer("gzip", "gzip", "apt-get install gzip"),
        Peer("zstd", "zstd", "apt-get install zstd"),
    )
}


def _docker_engine_problem() -> str | None:
    import docker  # noqa: PLC0415 - the SDK is slow to import; only load it when asked

    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # the SDK raises many unrelated types for "no engine"
        return f"no Docker engine reachable ({type(exc).__name__})"
    return None


_EXTRA_CHECKS: dict[str, Callable[[], str | None]] = {"docker": _docker_engine_problem}


@functools.cache
def missing_reason(name: str) -> str | None:
    """None when the peer is usable here, else a one-line reason with the install hint."""
    peer = PEERS.get(name)
    if peer is None:
        raise KeyError(f"unknown peer {name!r}; known: {', '.join(sorted(PEERS))}")
    if shutil.which(peer.executable) is None:
        return f"{peer.name} not installed: {peer.install_hint}"
    check = _EXTRA_CHECKS.get(name)
    problem = check() if check else None
    return f"{peer.name}: {problem}: {peer.install_hint}" if problem else None


def version(name: str) -> str:
    """The peer's version line as it prints it ("" when it has none or is missing)."""
    peer = PEERS[name]
    executable = shutil.which(peer.executable)
    if executable is None or not peer.version_args:
        return ""
    try:
        done = subprocess.run([executable, *peer.version_args], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout.strip().splitlines() or [""])[0]


def peers_required() -> bool:
    """Whether a missing peer is a failure (``REQUIRE_REAL_PEERS=1``)."""
    return os.environ.get(REQUIRE_ENV, "") not in {"", "0", "false", "no"}


def require_peer(name: str) -> str:
    """Return the peer's executable path, or skip (fail when required) the current test."""
    reason = missing_reason(name)
    if reason is not None:
        if peers_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    path = shutil.which(PEERS[name].executable)
    assert path is not None
    return path
