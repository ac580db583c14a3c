"""A registry that requires client certificates (distribution's ``http.tls.clientcas``),
reached with TLS verification off, by our ``push``/``copy`` and by skopeo 1.9 with the
same ``--cert-dir``.

containers/image loads the cert dir whatever ``--tls-verify`` says (``newDockerClient``
calls ``tlsclientconfig.SetupCertificates`` before it sets ``InsecureSkipVerify``), so
verification off still presents ``NAME.cert``/``NAME.key``: both tools must get in with the
client certificate, and both must be turned away without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.peers.launchers import DistributionLauncher, RunningRegistry

pytestmark = [pytest.mark.requires_peer("docker-registry"), pytest.mark.requires_peer("skopeo"),
              pytest.mark.usefixtures("http_library")]

_GO_REFUSAL = "client didn't provide a certificate"  # what distribution logs


@pytest.fixture(scope="module")
def registry() -> Iterator[RunningRegistry]:
    with DistributionLauncher(tls=True, client_certificates=True).start() as running:
        yield running


@pytest.fixture
def layout(tmp_path: Path, root: str, policy: Path) -> str:
    """``app:v1`` as an OCI layout: a source both tools read."""
    reference = f"oci:{tmp_path / 'layout'}:v1"
    assert main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                 "app:v1", reference]) == 0
    return reference


@pytest.fixture
def ca_only(tmp_path: Path, registry: RunningRegistry) -> Path:
    """A cert dir with the registry's CA and no client certificate."""
    assert registry.ca_file is not None
    directory = tmp_path / "ca-only"
    directory.mkdir()
    shutil.copyfile(registry.ca_file, directory / "ca.crt")
    return directory


def _skopeo(policy: Path, cert_dir: Path, src: str, dest: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", "--policy", str(policy), "copy", "--dest-tls-verify=false",
                           "--dest-cert-dir", str(cert_dir), src, dest],
                          capture_output=True, text=True, timeout=120, check=False)


def _manifest_digest(registry: RunningRegistry, policy: Path, name: str) -> str:
    """The digest skopeo reads back (with the client certificate, verifying the CA)."""
    assert registry.cert_dir is not None
    out = subprocess.run(["skopeo", "--policy", str(policy), "inspect", "--cert-dir",
                          str(registry.cert_dir), f"docker://{registry.image(name)}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    digest: str = json.loads(out)["Digest"]
    return digest


def test_client_certificate_is_presented_with_verification_off(
        registry: RunningRegistry, root: str, layout: str, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cert_dir = registry.cert_dir
    assert cert_dir is not None
    peer = _skopeo(policy, cert_dir, layout, f"docker://{registry.image('certs/skopeo:v1')}")
    assert peer.returncode == 0, peer.stderr
    assert main(["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
                 "--dest-cert-dir", str(cert_dir), layout,
                 f"docker://{registry.image('certs/copy:v1')}"]) == 0
    assert main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                 "--tls-verify=false", "--cert-dir", str(cert_dir), "app:v1",
                 f"docker://{registry.image('certs/push:v1')}"]) == 0
    assert capsys.readouterr().err == ""
    # The same layout copied by both tools: the same manifest bytes on the registry.
    assert (_manifest_digest(registry, policy, "certs/copy:v1")
            == _manifest_digest(registry, policy, "certs/skopeo:v1"))


def test_without_a_client_certificate_both_are_refused(
        registry: RunningRegistry, root: str, layout: str, policy: Path, ca_only: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    since = registry.log_size()
    peer = _skopeo(policy, ca_only, layout, f"docker://{registry.image('refused/skopeo:v1')}")
    assert peer.returncode != 0
    assert f"pinging container registry {registry.host}" in peer.stderr
    assert _GO_REFUSAL in registry.read_log(since)
    for argv in (["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
                  "--dest-cert-dir", str(ca_only), layout,
                  f"docker://{registry.image('refused/copy:v1')}"],
                 ["--root", root, "push", "-q", "--signature-policy", str(policy),
                  "--tls-verify=false", "--cert-dir", str(ca_only), "app:v1",
                  f"docker://{registry.image('refused/push:v1')}"]):
        since = registry.log_size()
        assert main(argv) == 125
        lines = capsys.readouterr().err.splitlines()
        assert lines == [
            f"Error: pinging registry {registry.host}: {registry.host} speaks only HTTPS, and "
            f"HTTPS failed: {registry.host}: the registry asks for a client certificate: put "
            "NAME.cert and NAME.key in --cert-dir DIR"], lines
        assert _GO_REFUSAL in registry.read_log(since)


@pytest.mark.parametrize("verify", ["true", "false"])
def test_default_cert_dir_under_home_is_read(
        registry: RunningRegistry, layout: str, policy: Path, tmp_path: Path, verify: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without ``--cert-dir`` both read ``~/.config/containers/certs.d/HOST:PORT`` (the first
    of containers/image's per-host folders): its CA verifies the registry, its client pair
    gets in."""
    assert registry.cert_dir is not None
    home = tmp_path / "home"
    shutil.copytree(registry.cert_dir, home / ".config/containers/certs.d" / registry.host)
    monkeypatch.setenv("HOME", str(home))
    dest = f"docker://{registry.image(f'home/skopeo-{verify}:v1')}"
    peer = subprocess.run(["skopeo", "--policy", str(policy), "copy",
                           f"--dest-tls-verify={verify}", layout, dest],
                          capture_output=True, text=True, timeout=120, check=False)
    assert peer.returncode == 0, peer.stderr
    assert main(["copy", "-q", "--policy", str(policy), f"--dest-tls-verify={verify}", layout,
                 f"docker://{registry.image(f'home/copy-{verify}:v1')}"]) == 0, (
        capsys.readouterr().err)
    assert (_manifest_digest(registry, policy, f"home/copy-{verify}:v1")
            == _manifest_digest(registry, policy, f"home/skopeo-{verify}:v1"))
