"""Credentials and tokens never appear in logs, exceptions, reprs or output."""

from __future__ import annotations

import base64
import logging

import pytest
import requests
import responses

from harness.transports.docker import TRANSPORT
from harness.transports.types import Credentials, SystemContext
from harness.util.errors import HarnessError
from tests._support.dockerhelp import BASE, HOST, REPO

PASSWORD = "pw-Zq81xK"
TOKEN = "tok-9fJ2mw"
REALM = "https://auth.test/token"


def _secrets() -> list[str]:
    return [PASSWORD, TOKEN, base64.b64encode(f"user:{PASSWORD}".encode()).decode()]


def test_no_secret_leaks_anywhere(mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    mocked.get(f"{BASE}/v2/", status=401,
               headers={"WWW-Authenticate": f'Bearer realm="{REALM}",service="s"'})
    mocked.get(REALM, json={"token": TOKEN})
    manifests = f"{BASE}/v2/{REPO}/manifests/v1"
    mocked.get(manifests, status=403, json={"errors": [{"code": "DENIED", "message": "no"}]})
    mocked.put(manifests,
               body=requests.ConnectionError(f"reset sending Authorization: Bearer {TOKEN}"))
    ctx = SystemContext(credentials=Credentials("user", PASSWORD), retry_times=0)
    ref = TRANSPORT.parse_reference(f"//{HOST}/{REPO}:v1")
    texts = [repr(ctx), repr(ctx.credentials), repr(SystemContext(registry_token=TOKEN))]
    with ref.new_image_source(ctx) as source:
        with pytest.raises(HarnessError) as denied:
            source.get_manifest()
        texts += [str(denied.value), repr(denied.value), repr(source), repr(source._client)]
    with ref.new_image_destination(ctx) as dest:
        with pytest.raises(HarnessError) as broken:
            dest.put_manifest(b"{}", "application/json")
        texts += [str(broken.value), repr(broken.value), repr(dest)]
    # The token really was used, so its absence below means something.
    assert mocked.calls[-1].request.headers["Authorization"] == f"Bearer {TOKEN}"
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    for text in texts:
        for secret in _secrets():
            assert secret not in text
