"""A registry that cannot be used fails at once, in one line that names the remedy.

Each failure is driven for real (a port nobody listens on, a name that does not resolve, a
certificate nobody trusts, the wrong scheme, a 401, silence) and the tests count retries
(the ``WARN Failed, retrying`` lines) rather than time them: refusals on the first
contact, DNS failures, TLS failures and 4xx are never retried (containers/common's rules).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fakeregistry.auth import AuthConfig
from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.cli.main import main
from harness.transports.docker import client
from harness.transports.docker.errors import (
    ConnectionFailure,
    connection_failure,
    https_only_answer,
)

# Every failure is driven through each HTTP library a registry session can be built on:
# both must word and classify it the same.
pytestmark = pytest.mark.usefixtures("http_library")


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextlib.contextmanager
def _silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def _error(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    """The WARN lines and the one error line the command printed."""
    lines = capsys.readouterr().err.splitlines()
    warnings = [line for line in lines if line.startswith("WARN ")]
    errors = [line for line in lines if not line.startswith("WARN ")]
    assert len(errors) == 1, lines
    return warnings, errors[0]


def test_push_to_a_refused_port_fails_at_once(root: str, policy: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with _closed_port() as port:
        code = main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                     "app:v1", f"127.0.0.1:{port}/app:v1"])
    assert code == 125
    warnings, error = _error(capsys)
    assert warnings == []  # not retried: nothing was ever there
    assert error == (f"Error: pinging registry 127.0.0.1:{port}: "
                     f"nothing listening on 127.0.0.1:{port}")


@pytest.mark.parametrize("command", ["inspect", "copy"])
def test_copy_and_inspect_from_a_refused_port_fail_at_once(
        command: str, tmp_path: Path, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with _closed_port() as port:
        src = f"docker://127.0.0.1:{port}/app:v1"
        argv = (["inspect", src] if command == "inspect" else
                ["copy", "-q", "--policy", str(policy), src, f"oci:{tmp_path}/layout:v1"])
        assert main(argv) == 125
    warnings, error = _error(capsys)
    assert warnings == []
    assert error.endswith(f"nothing listening on 127.0.0.1:{port}")


def test_an_unresolvable_name_fails_at_once(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def counting(host: str, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    assert main(["inspect", "docker://registry.invalid/app:v1"]) == 125
    warnings, error = _error(capsys)
    assert warnings == []
    assert looked_up == ["registry.invalid"]  # one lookup: not retried, no http fallback
    assert error == ("Error: pinging registry registry.invalid: "
                     "cannot resolve registry.invalid: no such host")


def test_push_without_a_destination_does_not_wait_on_docker_hub(
        root: str, policy: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As buildah: ``push IMAGE`` pushes to ``docker://IMAGE`` (Docker Hub); a name that
    does not resolve there fails at its one lookup (no network is used: the lookup is
    answered here)."""
    looked_up: list[str] = []

    def unresolvable(host: str, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    assert main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                 "app:v1"]) == 125
    warnings, error = _error(capsys)
    assert warnings == [] and looked_up == ["registry-1.docker.io"]
    assert error == ("Error: pinging registry docker.io: "
                     "cannot resolve registry-1.docker.io: no such host")


def test_an_untrusted_certificate_names_the_remedy(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry()
    with serve(registry, tls=True) as server:
        assert main(["inspect", f"docker://{server.host}/app:v1"]) == 125
        warnings, error = _error(capsys)
        assert warnings == []
        assert error == (f"Error: pinging registry {server.host}: {server.host}: certificate "
                         "signed by unknown authority: use --tls-verify=false or --cert-dir DIR")
        # The remedy works: with the CA the registry is reached (and the image is unknown).
        certs = tmp_path / "certs"
        certs.mkdir()
        assert server.ca_file is not None
        (certs / "ca.crt").write_bytes(server.ca_file.read_bytes())
        assert main(["inspect", "--cert-dir", str(certs), f"docker://{server.host}/app:v1"]) == 125
        assert "HTTP 404" in _error(capsys)[1]


def test_https_to_a_plain_http_registry_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry()
    with serve(registry) as server:
        assert main(["inspect", f"docker://{server.host}/app:v1"]) == 125
        warnings, error = _error(capsys)
        assert warnings == []
        assert error == (f"Error: pinging registry {server.host}: {server.host}: server gave "
                         "HTTP response to HTTPS client: use --tls-verify=false to allow "
                         "plain http")
    assert registry.transcript.requests(path="/v2/") == []  # the handshake never got there


def test_plain_http_to_a_tls_port_is_recognised() -> None:
    """The other way round (a conformance run given an http:// URL): TLS servers answer a
    plain request with a 400 and a sentence, which is recognised as such."""
    with serve(Registry(), tls=True) as server:
        answer = requests.get(f"http://{server.host}/v2/", timeout=30)
    assert https_only_answer(answer.status_code, answer.content)
    assert https_only_answer(400, b"Client sent an HTTP request to an HTTPS server.\n")  # Go
    assert not https_only_answer(400, b'{"errors": []}')


def test_a_reset_is_worded_and_may_be_retried() -> None:
    reset = requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    failure = connection_failure(reset, "127.0.0.1", 1, first_contact=True)
    assert failure == ConnectionFailure("connection to 127.0.0.1:1 failed: connection reset "
                                        "by peer", retryable=True)


def test_a_401_names_the_remedy_and_is_not_retried(capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry(auth=AuthConfig.with_passwords("basic", {"alice": "secret"}))
    with serve(registry) as server:
        assert main(["inspect", "--tls-verify=false", "--creds", "alice:wrong",
                     f"docker://{server.host}/app:v1"]) == 125
    warnings, error = _error(capsys)
    assert warnings == []
    assert error.endswith("the registry answered 401: check --creds or run "
                          "`python -m harness login`")
    # The first request and the authorization handshake's one resend; no retry after.
    assert len(registry.transcript.requests(path="/v2/app/manifests/v1")) == 2


def test_a_silent_registry_says_it_waits_and_gives_up(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepted, never answered: one notice while waiting, one error, no retry (the times
    are shortened here; the defaults are 10 s to the notice and 30 s to giving up)."""
    monkeypatch.setattr(client, "FIRST_ANSWER_TIMEOUT", 0.5)
    monkeypatch.setattr(client, "CONNECT_TIMEOUT", 0.5)  # the TLS handshake's bound
    monkeypatch.setattr(client, "WAITING_NOTICE", 0.1)
    with _silent_port() as port:
        assert main(["inspect", f"docker://127.0.0.1:{port}/app:v1"]) == 125
    warnings, error = _error(capsys)
    assert warnings == [f"WARN 127.0.0.1:{port} has not answered GET /v2/ for 0.1s; "
                        "waiting up to 0.5s"]
    assert error == (f"Error: pinging registry 127.0.0.1:{port}: 127.0.0.1:{port} accepted "
                     "the connection but sent no answer within 0.5s")


def test_silence_after_the_first_answer_is_retried_within_the_budget(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry answered the ping, then a read goes silent: that may pass, so it is
    retried (one budget, a WARN line each) and then given up in one line (times shortened
    here: by default 60 s a read, 10 s to the notice)."""
    from fakeregistry.faults import FaultRule  # noqa: PLC0415

    monkeypatch.setattr(client, "READ_TIMEOUT", 0.5)
    monkeypatch.setattr(client, "WAITING_NOTICE", 0.2)
    registry = Registry()
    rule = registry.faults.add(FaultRule(method="GET", path="/v2/*/manifests/*", latency=3.0))
    with serve(registry) as server:
        assert main(["inspect", "--tls-verify=false", "--retry-times", "2", "--retry-delay",
                     "0", f"docker://{server.host}/app:v1"]) == 125
    warnings, error = _error(capsys)
    retried = [w for w in warnings if w.startswith("WARN Failed, retrying in 0s")]
    waited = [w for w in warnings if "has not answered GET /v2/app/manifests/v1 for 0.2s" in w]
    assert len(retried) == 2 and len(waited) == 3 and rule.fired == 3
    assert error == (f"Error: GET /v2/app/manifests/v1: {server.host} accepted the connection "
                     "but sent no answer within 0.5s")
