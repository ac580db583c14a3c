"""Launchers start real registries, report what clients need, and always clean up."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from fakeregistry import Registry, serve
from harness.model.digest import digest_stream
from harness.peers import launchers
from harness.peers.container import (
    IMAGE_REPOSITORY,
    DistributionContainerLauncher,
    shared_libraries,
)
from harness.peers.launchers import (
    Access,
    DistributionLauncher,
    Feature,
    RegistryStartError,
    RunningRegistry,
    URLLauncher,
)
from harness.transports.types import Credentials
from harness.util.errors import HarnessError
from harness.util.net import free_port

CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"


def _port_open(host: str) -> bool:
    address, port = host.rsplit(":", 1)
    with socket.socket() as sock:
        return sock.connect_ex((address, int(port))) == 0


@pytest.mark.requires_peer("docker-registry")
def test_native_registry_serves_and_is_gone_afterwards() -> None:
    with DistributionLauncher().start() as registry:
        assert registry.url == f"http://{registry.host}"
        assert requests.get(f"{registry.url}/v2/", timeout=5).status_code == 200
        assert registry.log_path is not None
        workdir = registry.log_path.parent
        assert (workdir / "storage").is_dir()
        assert registry.credentials is None
        assert registry.ca_file is None
        assert registry.profile == {Feature.SCHEMA1, Feature.DELETE, Feature.MOUNT,
                                    Feature.CATALOG}
    assert not _port_open(registry.host)
    assert not workdir.exists()


@pytest.mark.requires_peer("docker-registry")
def test_registry_is_stopped_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), DistributionLauncher().start() as registry:
        raise RuntimeError("boom")
    assert not _port_open(registry.host)


@pytest.mark.requires_peer("docker-registry")
def test_profile_follows_settings() -> None:
    with DistributionLauncher(schema1=False, delete=False).start() as registry:
        assert not registry.supports(Feature.SCHEMA1)
        assert not registry.supports(Feature.DELETE)
        assert registry.supports(Feature.MOUNT)
        # the registry really refuses DELETE when it is disabled
        response = requests.delete(f"{registry.url}/v2/x/manifests/sha256:{'0' * 64}",
                                   timeout=5)
        assert response.status_code == 405


@pytest.mark.requires_peer("docker-registry")
def test_basic_auth_needs_the_generated_credentials() -> None:
    with DistributionLauncher(auth="basic").start() as registry:
        assert registry.credentials is not None
        url = f"{registry.url}/v2/"
        assert requests.get(url, timeout=5).status_code == 401
        wrong = (registry.credentials.username, "not-the-password")
        assert requests.get(url, auth=wrong, timeout=5).status_code == 401
        right = (registry.credentials.username, registry.credentials.password)
        assert requests.get(url, auth=right, timeout=5).status_code == 200


@pytest.mark.requires_peer("docker-registry")
def test_tls_is_trusted_only_with_the_ca_file() -> None:
    with DistributionLauncher(tls=True).start() as registry:
        assert registry.url.startswith("https://127.0.0.1:")
        assert registry.ca_file is not None
        url = f"{registry.url}/v2/"
        assert requests.get(url, verify=str(registry.ca_file), timeout=5).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, timeout=5)


@pytest.mark.requires_peer("docker-registry")
def test_a_registry_that_dies_reports_its_log() -> None:
    with pytest.raises(RegistryStartError, match=r"exited with code [1-9].*level"):  # noqa: SIM117
        with DistributionLauncher(log_level="no-such-level").start():
            pass


@pytest.mark.requires_peer("docker-registry")
def test_a_taken_port_is_retried_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    ports = iter([taken])
    monkeypatch.setattr(launchers, "free_port", lambda host: next(ports, None)
                        or free_port(host))
    try:
        with DistributionLauncher().start() as registry:
            assert registry.host != f"127.0.0.1:{taken}"
            assert requests.get(f"{registry.url}/v2/", timeout=5).status_code == 200
    finally:
        blocker.close()


@pytest.mark.requires_peer("docker-registry")
def test_url_launcher_wraps_a_running_registry() -> None:
    with DistributionLauncher().start() as native, \
            URLLauncher(native.url + "/", profile=frozenset({Feature.DELETE})).start() as reg:
        assert reg == RunningRegistry(url=native.url, host=native.host,
                                      profile=frozenset({Feature.DELETE}))
        assert reg.read_log() == ""


def test_url_launcher_rejects_what_is_not_a_registry_url() -> None:
    with pytest.raises(HarnessError, match="not http"), URLLauncher("ftp://x").start():
        pass


def test_url_launcher_fails_when_nothing_answers() -> None:
    with socket.socket() as sock:  # a port that is bound but not listening: refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(RegistryStartError, match="did not answer"), \
                URLLauncher(url, timeout=0.3).start():
            pass


def test_read_log_returns_only_what_came_after_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    log.write_text("before\n")
    registry = RunningRegistry(url="http://h", host="h", log_path=log)
    offset = registry.log_size()
    with log.open("a") as handle:
        handle.write("during\n")
    assert registry.read_log(since=offset) == "during\n"
    assert registry.read_log(limit=3) == "ng\n"


@pytest.mark.requires_peer("docker-registry")
def test_shared_libraries_lists_libc_and_the_loader() -> None:
    names = {path.name for path in shared_libraries(Path("/usr/bin/docker-registry"))}
    assert "libc.so.6" in names
    assert any(name.startswith("ld-linux") for name in names)


@pytest.mark.requires_peer("docker", "docker-registry")
def test_container_registry_serves_and_is_removed() -> None:
    client = docker.from_env()
    try:
        with DistributionContainerLauncher(auth="basic").start() as registry:
            assert registry.credentials is not None
            creds = (registry.credentials.username, registry.credentials.password)
            assert requests.get(f"{registry.url}/v2/", auth=creds, timeout=5).status_code == 200
            # Other workers may run registry containers too: find this one by its config,
            # which lives in the folder of this registry's log.
            assert registry.log_path is not None
            workdir = str(registry.log_path.parent)
            mine = [c.id for c in client.containers.list(filters={"label": "oci-harness"})
                    if c.attrs["Args"] and c.attrs["Args"][-1].startswith(workdir)]
            assert len(mine) == 1
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(mine[0])
        assert not _port_open(registry.host)
    finally:
        client.close()


@pytest.mark.requires_peer("docker", "docker-registry")
def test_container_image_built_by_the_project_itself_serves() -> None:
    """Dogfooding: the project's from/add/commit write a docker-archive the engine runs."""
    client = docker.from_env()
    try:
        with Path("/usr/bin/docker-registry").open("rb") as handle:
            digest, _size = digest_stream(handle)
        tag = f"{IMAGE_REPOSITORY}:{digest.hex[:16]}-harness"
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, force=True)  # build it now, not from an earlier run
        with DistributionContainerLauncher(image_builder="harness").start() as registry:
            assert requests.get(f"{registry.url}/v2/", timeout=5).status_code == 200
        assert tag in client.images.get(tag).tags
    finally:
        client.close()


@pytest.mark.requires_peer("docker-registry")
def test_fixture_attaches_the_registry_log_on_failure(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        """
        import requests

        def test_fails(distribution):
            requests.get(distribution.url + "/v2/only-in-this-test/tags/list", timeout=5)
            assert False

        def test_passes(distribution):
            assert requests.get(distribution.url + "/v2/", timeout=5).status_code == 200

        def test_own_fails(make_distribution):
            own = make_distribution(auth="basic")
            requests.get(own.url + "/v2/only-in-my-own-registry/tags/list", timeout=5)
            assert False
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*docker-registry log (127.0.0.1:*", "*only-in-this-test*"])
    result.stdout.fnmatch_lines(["*docker-registry log (127.0.0.1:*",
                                 "*only-in-my-own-registry*"])
    result.stdout.fnmatch_lines(["*docker-registry: 3 tests ran against it*"])


def test_url_launcher_trusts_a_tls_registry_by_ca_file_or_insecure(
        recwarn: pytest.WarningsRecorder) -> None:
    with serve(Registry(), tls=True) as server:
        with pytest.raises(RegistryStartError, match=r"TLS with https://127\.0\.0\.1:\d+ failed"), \
                URLLauncher(server.url).start():
            pass
        assert server.ca_file is not None
        with URLLauncher(server.url, Access(ca_file=server.ca_file)).start() as trusted:
            assert (trusted.ca_file, trusted.insecure, trusted.verify) == (
                server.ca_file, False, str(server.ca_file))
        with URLLauncher(server.url, Access(insecure=True)).start() as insecure:
            assert (insecure.ca_file, insecure.insecure, insecure.verify) == (None, True, False)
    assert not [w for w in recwarn if "Unverified HTTPS" in str(w.message)]


def test_url_launcher_hands_credentials_and_token_on_and_hides_the_token() -> None:
    with serve(Registry()) as server:
        with URLLauncher(server.url, Access(Credentials("u", "pw-Zq81"))).start() as basic:
            assert basic.credentials == Credentials("u", "pw-Zq81")
        with URLLauncher(server.url, Access(token="tok-9fJ2")).start() as bearer:
            assert bearer.token == "tok-9fJ2"
    texts = [repr(basic), repr(bearer), repr(Access(Credentials("u", "pw-Zq81"))),
             repr(URLLauncher(server.url, Access(token="tok-9fJ2")))]
    assert not [text for text in texts if "pw-Zq81" in text or "tok-9fJ2" in text]


def test_client_certificates_need_tls() -> None:
    with pytest.raises(HarnessError, match="client certificates need tls=True"):
        DistributionLauncher(client_certificates=True)


@pytest.mark.requires_peer("docker-registry")
def test_a_registry_asking_for_client_certificates_refuses_a_client_without_one() -> None:
    """Its cert dir gets in (the launcher's own poll uses it); without it, TLS fails."""
    with DistributionLauncher(tls=True, client_certificates=True).start() as registry:
        assert registry.cert_dir is not None and registry.ca_file is not None
        assert sorted(p.name for p in registry.cert_dir.iterdir()) == [
            "ca.crt", "client.cert", "client.key"]
        pair = (str(registry.cert_dir / "client.cert"), str(registry.cert_dir / "client.key"))
        assert requests.get(f"{registry.url}/v2/", verify=str(registry.ca_file), cert=pair,
                            timeout=30).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{registry.url}/v2/", verify=str(registry.ca_file), timeout=30)
