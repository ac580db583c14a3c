"""TLS settings: CA file, certs.d folders with client certificates, and their errors."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from harness.transports.docker import tls
from harness.transports.docker.requests_session import RequestsSession
from harness.transports.docker.session import new_session
from harness.transports.docker.tls import TLSConfigError, ssl_context, unverified_context
from harness.transports.types import SystemContext
from harness.util.tls import make_client_files, make_tls_files


def test_cert_dir_loads_cas_and_client_certificates(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(files.ca_file.read_bytes())
    (certs / "client.cert").write_bytes(files.cert_file.read_bytes())
    (certs / "client.key").write_bytes(files.key_file.read_bytes())
    context = ssl_context(SystemContext(cert_dir=certs))
    assert "oci-harness test CA" in str(context.get_ca_certs())


def test_client_certificate_without_key_is_named(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    (tmp_path / "client.cert").write_bytes(files.cert_file.read_bytes())
    with pytest.raises(TLSConfigError, match=r"client\.cert has no matching client\.key"):
        ssl_context(SystemContext(cert_dir=tmp_path))


def test_key_without_client_certificate_is_named(tmp_path: Path) -> None:
    """containers/image refuses a lone ``NAME.key`` too ("missing client certificate")."""
    files = make_client_files(tmp_path / "pki")
    (tmp_path / "client.key").write_bytes(files.key_file.read_bytes())
    for ctx in (SystemContext(cert_dir=tmp_path), SystemContext(cert_dir=tmp_path,
                                                                tls_verify=False)):
        with pytest.raises(TLSConfigError, match=r"client\.key has no matching client\.cert"):
            new_session(ctx)


def test_client_certificate_is_loaded_with_its_key(tmp_path: Path) -> None:
    """The pair really goes into the context: a key of another certificate is refused."""
    files = make_tls_files(tmp_path / "pki")
    other = make_tls_files(tmp_path / "other")
    (tmp_path / "client.cert").write_bytes(files.cert_file.read_bytes())
    (tmp_path / "client.key").write_bytes(other.key_file.read_bytes())
    with pytest.raises(TLSConfigError) as raised:
        ssl_context(SystemContext(cert_dir=tmp_path))
    assert str(raised.value) == (f"cannot load TLS file {tmp_path / 'client.cert'}: "
                                 "key values mismatch")
    (tmp_path / "client.key").write_bytes(files.key_file.read_bytes())
    ssl_context(SystemContext(cert_dir=tmp_path))


def test_missing_tls_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match="not a directory"):
        ssl_context(SystemContext(cert_dir=tmp_path / "absent"))
    with pytest.raises(TLSConfigError) as raised:
        ssl_context(SystemContext(ca_file=tmp_path / "absent.crt"))
    assert str(raised.value) == (f"cannot load TLS file {tmp_path / 'absent.crt'}: "
                                 "No such file or directory")


def test_session_headers_and_no_environment() -> None:
    built = new_session(SystemContext(tls_verify=False, user_agent="agent/1"))
    assert isinstance(built, RequestsSession)
    session = built.session
    assert session.headers["User-Agent"] == "agent/1"
    assert session.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert session.trust_env is False and session.verify is False


def test_unverified_context_checks_nothing_and_loads_no_ca() -> None:
    """``--tls-verify=false`` probes https with a context that holds no CA (loading the
    system's took 30-50 ms per probe), and accepts any certificate and name."""
    context = unverified_context()
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    session = new_session(SystemContext(tls_verify=False))
    assert isinstance(session, RequestsSession)
    adapter = session.session.get_adapter("https://registry.test/v2/")
    assert adapter.poolmanager.connection_pool_kw["ssl_context"].verify_mode == ssl.CERT_NONE


def test_default_cert_dir_takes_the_first_per_host_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """containers/image's order: ``~/.config/containers/certs.d``, ``/etc/containers/certs.d``,
    ``/etc/docker/certs.d``; the folder is named ``HOST:PORT``, Docker Hub's ``docker.io``."""
    system = (tmp_path / "etc-containers", tmp_path / "etc-docker")
    monkeypatch.setattr(tls, "SYSTEM_CERTS_D", system)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = tmp_path / "home" / tls.HOME_CERTS_D
    assert tls.default_cert_dir("127.0.0.1:5000") is None
    (system[1] / "127.0.0.1:5000").mkdir(parents=True)
    assert tls.default_cert_dir("127.0.0.1:5000") == system[1] / "127.0.0.1:5000"
    (system[0] / "127.0.0.1:5000").mkdir(parents=True)
    assert tls.default_cert_dir("127.0.0.1:5000") == system[0] / "127.0.0.1:5000"
    (home / "127.0.0.1:5000").mkdir(parents=True)
    assert tls.default_cert_dir("127.0.0.1:5000") == home / "127.0.0.1:5000"
    assert tls.default_cert_dir("127.0.0.1:5001") is None


def test_an_explicit_cert_dir_wins_over_the_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken default folder is not read when ``--cert-dir`` names another one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    broken = tmp_path / "home" / tls.HOME_CERTS_D / "registry.test"
    broken.mkdir(parents=True)
    (broken / "lone.key").write_text("")
    with pytest.raises(TLSConfigError, match=r"lone\.key has no matching lone\.cert"):
        new_session(SystemContext(), "registry.test")
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    new_session(SystemContext(cert_dir=explicit), "registry.test")
