"""A whole copy is tried again on error types that may pass, never on attributes."""

from __future__ import annotations

import pytest
import requests
import responses

from harness.copy.retry import may_pass
from harness.transports.docker import RegistryError, RegistryUnreachableError
from harness.transports.docker.errors import RegistryBusyError
from harness.transports.docker.requests_session import RequestsResponse
from harness.transports.docker.transport import ManifestTypeRejected
from harness.transports.types import TransientError
from harness.util.errors import HarnessError

URL = "https://r.example/v2/app/manifests/v1"


def _response(status: int) -> RequestsResponse:
    with responses.RequestsMock() as mock:
        mock.put(URL, status=status, json={"errors": [{"code": "X", "message": "m"}]})
        return RequestsResponse(requests.put(URL, timeout=5))


@pytest.mark.parametrize(("status", "passes"), [(500, True), (503, True), (429, True),
                                                (400, False), (401, False), (404, False)])
def test_a_registry_refusal_may_pass_only_when_busy(status: int, passes: bool) -> None:
    error = RegistryError.from_response(_response(status))
    assert (error.status, error.code) == (status, "X")
    assert isinstance(error, RegistryBusyError) is passes
    assert may_pass(error) is passes


def test_other_errors_are_judged_by_their_type() -> None:
    assert may_pass(RegistryUnreachableError("nothing listening"))
    assert may_pass(TransientError("anything a transport calls transient"))
    assert not may_pass(HarnessError("a plain failure"))
    rejected = ManifestTypeRejected("PUT", "/v2/app/manifests/v1", 400, [])
    assert not may_pass(rejected)
    stray = HarnessError("carries a status but is no registry refusal")
    stray.status = 503  # type: ignore[attr-defined]
    assert not may_pass(stray)  # an attribute decides nothing
