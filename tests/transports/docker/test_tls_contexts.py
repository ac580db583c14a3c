"""One TLS context per process and trust setting (loading the system CAs costs ~29 ms of
CPU per context): reused while the files are the same, built again when a CA file or cert
dir changes, never kept when loading fails, built once when threads ask at the same time."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.transports import httpclient
from harness.transports.docker.requests_session import CA_BUNDLE
from harness.transports.docker.session import new_session
from harness.transports.docker.tls import TLSConfigError, ssl_context, unverified_context
from harness.transports.types import SystemContext
from harness.util.tls import TLSFiles, make_tls_files


def _der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def _cert_dir(directory: Path, files: TLSFiles) -> Path:
    directory.mkdir()
    shutil.copyfile(files.ca_file, directory / "ca.crt")
    shutil.copyfile(files.cert_file, directory / "client.cert")
    shutil.copyfile(files.key_file, directory / "client.key")
    return directory


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every verifying context built (each loads the system CAs)."""
    built: list[str] = []
    create = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        built.append("verify")
        return create(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    return built


def test_equal_settings_share_one_context(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    certs = _cert_dir(tmp_path / "certs", files)
    contexts: list[Callable[[SystemContext], ssl.SSLContext]] = [
        ssl_context, unverified_context, lambda ctx: ssl_context(ctx, CA_BUNDLE)]
    for make in contexts:
        first = make(SystemContext(cert_dir=certs, ca_file=files.ca_file))
        assert make(SystemContext(cert_dir=Path(str(certs)), ca_file=files.ca_file,
                                  user_agent="another/1")) is first
        assert make(SystemContext(cert_dir=certs)) is not first
    assert ssl_context(SystemContext()) is ssl_context(SystemContext())
    assert unverified_context() is unverified_context(SystemContext())
    assert len({id(ssl_context(SystemContext())), id(unverified_context()),
                id(ssl_context(SystemContext(), CA_BUNDLE))}) == 3


@pytest.mark.parametrize("library", [httpclient.REQUESTS, httpclient.STDLIB])
def test_clients_load_the_system_cas_once(tmp_path: Path, builds: list[str],
                                          library: str) -> None:
    """Each client builds its session; the second of equal settings builds no context."""
    certs = _cert_dir(tmp_path / "certs", make_tls_files(tmp_path / "pki"))
    previous = httpclient.selected()
    httpclient.select(library)
    try:
        for _ in range(3):
            new_session(SystemContext(cert_dir=certs)).close()
        assert builds == ["verify"]
        new_session(SystemContext(cert_dir=certs, tls_verify=False)).close()
        assert builds == ["verify"]  # the unverified context loads no system CA
    finally:
        httpclient.select(previous)


def test_a_changed_cert_dir_is_loaded_again(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    other = make_tls_files(tmp_path / "other")
    certs = _cert_dir(tmp_path / "certs", files)
    ctx = SystemContext(cert_dir=certs)
    first = ssl_context(ctx)
    assert ssl_context(ctx) is first
    (certs / "ca.crt").write_bytes(other.ca_file.read_bytes())  # same size, same tick
    rewritten = ssl_context(ctx)
    assert rewritten is not first
    assert _der(other.ca_file) in rewritten.get_ca_certs(binary_form=True)
    assert _der(files.ca_file) not in rewritten.get_ca_certs(binary_form=True)
    shutil.copyfile(files.ca_file, certs / "extra.crt")
    added = ssl_context(ctx)
    assert added is not rewritten
    assert _der(files.ca_file) in added.get_ca_certs(binary_form=True)
    (certs / "extra.crt").unlink()
    assert ssl_context(ctx) is rewritten  # the same files as before: the same context
    (certs / "client.key").unlink()
    (certs / "client.cert").unlink()
    assert ssl_context(ctx) not in (first, rewritten, added)
    (certs / "notes.txt").write_text("not a certificate: containers/image ignores it too")
    assert unverified_context(ctx) is unverified_context(ctx)


def test_a_changed_ca_file_is_loaded_again(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path / "pki")
    other = make_tls_files(tmp_path / "other")
    ca_file = tmp_path / "ca.pem"
    shutil.copyfile(files.ca_file, ca_file)
    first = ssl_context(SystemContext(ca_file=ca_file))
    ca_file.write_bytes(other.ca_file.read_bytes())
    second = ssl_context(SystemContext(ca_file=ca_file))
    assert second is not first
    assert _der(other.ca_file) in second.get_ca_certs(binary_form=True)
    assert _der(files.ca_file) not in second.get_ca_certs(binary_form=True)


def test_a_broken_file_fails_every_time_with_its_message(tmp_path: Path) -> None:
    """A failure is not kept: each client names the file again, and once it is mended the
    next client gets a context."""
    files = make_tls_files(tmp_path / "pki")
    certs = _cert_dir(tmp_path / "certs", files)
    (certs / "client.key").unlink()
    for _ in range(2):
        for verify in (True, False):
            with pytest.raises(TLSConfigError) as raised:
                new_session(SystemContext(cert_dir=certs, tls_verify=verify))
            assert str(raised.value) == "--cert-dir: client.cert has no matching client.key"
    (certs / "bad.crt").write_text("not PEM\n")
    shutil.copyfile(files.key_file, certs / "client.key")
    for _ in range(2):
        with pytest.raises(TLSConfigError) as raised:
            ssl_context(SystemContext(cert_dir=certs))
        assert str(raised.value) == (f"cannot load TLS file {certs / 'bad.crt'}: "
                                     "no certificate or crl found")
    (certs / "bad.crt").unlink()
    assert ssl_context(SystemContext(cert_dir=certs)) is ssl_context(SystemContext(cert_dir=certs))
    for _ in range(2):
        with pytest.raises(TLSConfigError) as raised:
            ssl_context(SystemContext(ca_file=tmp_path / "absent.crt"))
        assert str(raised.value) == (f"cannot load TLS file {tmp_path / 'absent.crt'}: "
                                     "No such file or directory")


def test_threads_asking_at_once_get_one_context(tmp_path: Path, builds: list[str]) -> None:
    certs = _cert_dir(tmp_path / "certs", make_tls_files(tmp_path / "pki"))
    barrier = threading.Barrier(8)
    got: list[ssl.SSLContext] = []

    def client() -> None:
        barrier.wait()
        got.append(ssl_context(SystemContext(cert_dir=certs)))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and len({id(context) for context in got}) == 1
    assert builds == ["verify"]


def test_requests_trusts_certifi_from_the_shared_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests verifies with certifi's bundle besides the system's: it is in the shared
    context from the start, and urllib3 no longer loads it into the context again for each
    new connection (two sessions, two connections, no load)."""
    context = ssl_context(SystemContext(), CA_BUNDLE)
    certifi = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    certifi.load_verify_locations(CA_BUNDLE)
    assert set(certifi.get_ca_certs(binary_form=True)) <= set(context.get_ca_certs(True))
    registry = Registry()
    previous = httpclient.selected()
    httpclient.select(httpclient.REQUESTS)
    loads: list[object] = []
    try:
        with serve(registry, tls=True) as server:
            ctx = SystemContext(ca_file=server.ca_file)
            shared = ssl_context(ctx, CA_BUNDLE)
            monkeypatch.setattr(shared, "load_verify_locations",
                                lambda *args, **kwargs: loads.append(args))
            for _ in range(2):
                session = new_session(ctx)
                assert session.get(f"https://{server.host}/v2/", timeout=30).status_code == 200
                session.close()
    finally:
        httpclient.select(previous)
    assert loads == []
    assert len(registry.transcript.requests(path="/v2/")) == 2
