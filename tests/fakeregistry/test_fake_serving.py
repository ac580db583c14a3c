"""Ways to run it: in process (responses), over HTTP(S), and the CLI."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import requests
import responses

from fakeregistry import Registry, inprocess, serve
from fakeregistry.auth import hash_password
from fakeregistry.inprocess import InProcessError
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client

BIG = os.urandom(3 << 20)


def test_other_hosts_pass_through_while_in_process() -> None:
    with serve(Registry()) as server, inprocess(Registry()) as url:
        assert requests.get(f"{url}/v2/").status_code == 200
        real = requests.get(f"{server.url}/v2/")
        assert real.status_code == 200
        assert "Cheroot" in real.headers["Server"]  # really went over the socket


def test_an_outer_responses_mock_keeps_working_inside() -> None:
    with responses.RequestsMock() as outer:
        outer.add(responses.GET, "http://other.fake/x", body=b"mocked by the caller")
        with inprocess(Registry()) as url:
            assert requests.get("http://other.fake/x").content == b"mocked by the caller"
            assert requests.get(f"{url}/v2/").status_code == 200


def test_two_registries_in_process_at_once() -> None:
    first, second = Registry(), Registry()
    with inprocess(first, "http://one.fake") as one, inprocess(second, "http://two.fake") as two:
        Client(one, requests.Session()).push_blob("a", b"x")
        assert requests.head(f"{one}/v2/a/blobs/{Digest.from_bytes(b'x')}").status_code == 200
        assert requests.head(f"{two}/v2/a/blobs/{Digest.from_bytes(b'x')}").status_code == 404
    with pytest.raises(requests.ConnectionError):
        requests.get("http://one.fake/v2/", timeout=2)


def test_many_registries_in_process_each_answer_their_own_until_their_block_ends() -> None:
    """Forty fakes at once, on hosts that share prefixes (``many-1`` and ``many-10``), ended
    in an order other than the one they started in: each request reaches its own fake,
    and the base URL of one that ended is not served any more."""
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(inprocess(Registry(), f"http://many-{n}.fake"))
                for n in range(40)]
        for n, url in enumerate(urls):
            Client(url, requests.Session()).push_blob("a", str(n).encode())
        for n, url in enumerate(urls):
            found = [requests.head(f"{url}/v2/a/blobs/{Digest.from_bytes(str(m).encode())}"
                                   ).status_code for m in (n, (n + 1) % 40)]
            assert found == [200, 404], url
        with inprocess(Registry(), "http://many-1.fake:5000") as other_port:
            assert requests.head(f"{other_port}/v2/a/blobs/{Digest.from_bytes(b'1')}"
                                 ).status_code == 404
            stack.pop_all().close()  # the forty end first, in reverse
            assert requests.get(f"{other_port}/v2/").status_code == 200
            with pytest.raises(requests.ConnectionError):  # refused: its host is served
                requests.get(f"{urls[1]}/v2/", timeout=2)


def test_in_process_answers_are_not_kept() -> None:
    """Nothing holds a request or its answer once the caller let go of them: a process
    pushing many images through the fake does not grow by what ``responses`` records."""
    with inprocess(Registry()) as url:
        digest = Client(url, requests.Session()).push_blob("a", b"x" * 4096)
        answer = requests.get(f"{url}/v2/a/blobs/{digest}")
        assert answer.content == b"x" * 4096
        answered, sent = weakref.ref(answer), weakref.ref(answer.request)
        del answer
        gc.collect()
        assert answered() is None and sent() is None


def test_same_base_url_twice_is_an_error() -> None:
    with inprocess(Registry()), pytest.raises(InProcessError), inprocess(Registry()):
        pass


def _push_and_fetch(url: str, verify: str | bool = True) -> None:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
    session.verify = verify
    client = Client(url, session)
    location = client.request("POST", "/v2/big/blobs/uploads/").headers["Location"]
    chunks = (BIG[i:i + 65536] for i in range(0, len(BIG), 65536))
    assert client.request("PATCH", location, data=chunks).status_code == 202  # chunked TE
    digest = Digest.from_bytes(BIG)
    assert client.request("PUT", location, params={"digest": str(digest)}).status_code == 201
    got = client.request("GET", f"/v2/big/blobs/{digest}", stream=True)
    assert b"".join(got.iter_content(1 << 16)) == BIG


def test_large_streamed_blob_in_process() -> None:
    with inprocess(Registry()) as url:
        _push_and_fetch(url)


def test_large_streamed_blob_over_http_with_chunked_encoding() -> None:
    registry = Registry()
    with serve(registry) as server:
        assert server.url == f"http://{server.host}"
        _push_and_fetch(server.url)
    patch = registry.transcript.requests(method="PATCH")[0]
    assert patch.request_headers["Transfer-Encoding"] == "chunked"
    assert patch.request_bytes == len(BIG)


def test_https_with_the_generated_ca() -> None:
    with serve(Registry(), tls=True) as server:
        assert server.url.startswith("https://")
        assert server.ca_file is not None
        _push_and_fetch(server.url, verify=str(server.ca_file))
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{server.url}/v2/")


def test_cli_serves_records_and_stops_on_sigterm(tmp_path: Path) -> None:
    record = tmp_path / "transcript.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "fakeregistry", "serve", "--port", "0", "--storage",
         str(tmp_path / "store"), "--record", str(record), "--fault",
         "path=/v2/broken/*,status=503"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        Client(url, requests.Session()).push_blob("kept", b"content")
        assert requests.get(f"{url}/v2/broken/tags/list").status_code == 503
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert len(record.read_text().splitlines()) == 2
    # The storage directory outlives the process.
    again = Registry(storage_dir=tmp_path / "store")
    with inprocess(again) as url:
        digest = Digest.from_bytes(b"content")
        assert requests.get(f"{url}/v2/kept/blobs/{digest}").content == b"content"


def test_cli_with_tls_and_token_auth() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fakeregistry", "serve", "--tls", "--auth", "token",
         "--user", "alice:secret"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("listening on ")
        ca_file = process.stdout.readline().strip().removeprefix("ca file ")
        assert url.startswith("https://127.0.0.1:")
        session = requests.Session()
        session.trust_env = False
        session.verify = ca_file
        assert session.get(f"{url}/v2/").status_code == 401
        token = session.get(f"{url}/token", auth=("alice", "secret")).json()["token"]
        assert session.get(f"{url}/v2/",
                           headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_cli_users_from_an_htpasswd_file_and_the_environment(tmp_path: Path) -> None:
    """Passwords kept out of ``ps``: --users-file (bcrypt htpasswd) and $FAKEREGISTRY_USERS."""
    users_file = tmp_path / "htpasswd"
    users_file.write_text(f"# htpasswd -B\nbob:{hash_password('from-file')}\n")
    env = {**os.environ, "FAKEREGISTRY_USERS": "carol:from-env dave:other"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fakeregistry", "serve", "--auth", "basic",
         "--users-file", str(users_file)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        for user, password in [("bob", "from-file"), ("carol", "from-env"), ("dave", "other")]:
            assert requests.get(f"{url}/v2/", auth=(user, password), timeout=30).ok
        assert requests.get(f"{url}/v2/", auth=("bob", "other"), timeout=30).status_code == 401
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert b"from-file" not in command_line and b"from-env" not in command_line
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--users-file", "{missing}"], "", "cannot read the users file"),
    (["--users-file", "{plain}"], "", "htpasswd:1: not a bcrypt htpasswd line"),
    ([], "no-colon-SECRET", "$FAKEREGISTRY_USERS entry: use NAME:PASSWORD"),
])
def test_cli_bad_users_are_one_line_without_the_secret(
        args: list[str], env: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "htpasswd").write_text("bob:plaintext-SECRET\n")
    args = [a.replace("{missing}", str(tmp_path / "nope")).replace(
        "{plain}", str(tmp_path / "htpasswd")) for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "fakeregistry", "serve", "--auth", "basic", *args],
        env={**os.environ, "FAKEREGISTRY_USERS": env}, check=False, capture_output=True,
        text=True, timeout=30)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert "SECRET" not in result.stderr


@pytest.mark.parametrize("args", [["--profile", "nope"], ["--auth", "basic"],
                                  ["--auth", "basic", "--user", "nopassword"],
                                  ["--fault", "colour=blue"], ["--port", "99999"],
                                  ["--storage", "{bad}"], ["--record", "/nonexistent/t.jsonl"],
                                  ["--max-uploads", "0"], ["--upload-lifetime", "soon"]])
def test_cli_errors_are_one_line(args: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "repositories.json").write_text("{not json")
    args = [arg.replace("{bad}", str(bad)) for arg in args]
    result = subprocess.run([sys.executable, "-m", "fakeregistry", "serve", *args],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


_IMPORTS = """
import sys
import fakeregistry
loaded = sorted(m for m in ("requests", "responses") if m in sys.modules)
{then}
import fakeregistry.inprocess
from fakeregistry import inprocess
function = sys.modules["fakeregistry.inprocess"].inprocess
assert fakeregistry.inprocess is inprocess is function, (fakeregistry.inprocess, inprocess)
print(loaded)
"""


@pytest.mark.parametrize("then", ["", "fakeregistry.inprocess"])
def test_serving_loads_no_http_client_and_inprocess_is_always_the_function(then: str) -> None:
    """``inprocess`` (requests and responses) loads on first use, and the name is the
    function however it is reached first: as the package's attribute or as a submodule."""
    proc = subprocess.run([sys.executable, "-c", _IMPORTS.format(then=then)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
