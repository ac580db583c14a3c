"""What a test using ``fake_registry`` costs a run: the modules it loads, and what it leaves
behind once it has ended (pytest keeps every item until the session ends)."""

from __future__ import annotations

import pytest

# Loaded by a fake only when it is served over a socket (cheroot, the TLS certificates of
# harness.util.tls), checks passwords (bcrypt), signs tokens (cryptography) or serves a
# manifest as schema1 (the conversion, with the compression libraries).
_SERVED_OR_AUTH = ("cheroot", "cryptography", "bcrypt", "fakeregistry.server",
                   "fakeregistry.tokens", "harness.util.tls", "harness.peers.launchers",
                   "harness.model.convert", "isal")

_IMPORTS = f"""
import sys

NAMES = {_SERVED_OR_AUTH!r}


def loaded():
    return sorted(name for name in NAMES
                  if any(m == name or m.startswith(name + ".") for m in sys.modules))


def test_in_process(fake_registry, make_fake_registry):
    assert fake_registry.url.startswith("https://")
    print("IN PROCESS", loaded())
    make_fake_registry(tls=True, auth="token")
    print("SERVED WITH AUTH", loaded())
"""


def test_a_test_using_only_fake_registry_loads_no_server_tls_or_auth(
        pytester: pytest.Pytester) -> None:
    """A fresh interpreter (this one has loaded everything): the in-process fake loads
    none of the served or authenticating fake's modules; a served fake with token auth
    loads those it needs."""
    pytester.makepyfile(test_user=_IMPORTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-s")
    result.assert_outcomes(passed=1)
    assert "test_user.py IN PROCESS []" in result.outlines
    served = next(line for line in result.outlines if line.startswith("SERVED WITH AUTH"))
    for name in ("cheroot", "cryptography", "bcrypt", "fakeregistry.server",
                 "harness.util.tls"):
        assert repr(name) in served, served


_LEAK = """
import gc
import weakref

import pytest

FAKES = []


@pytest.mark.parametrize("n", range(30))
def test_use(fake_registry, make_fake_registry, n):
    FAKES.append(weakref.ref(fake_registry.fake))
    FAKES.append(weakref.ref(make_fake_registry(auth="basic").fake))
    if n % 3 == 0:
        fake_registry.fault(method="GET", status=503)
        assert False, "a failed test's report reads its registries after it ended"


def test_after_them():
    gc.collect()
    alive = [ref for ref in FAKES if ref() is not None]
    print("FAKES", len(FAKES), "ALIVE", len(alive))
"""


def test_the_fakes_of_ended_tests_are_freed(pytester: pytest.Pytester) -> None:
    """Each test's fakes (blobs, transcript, routes) are garbage once its teardown is
    reported, failed tests' included: 60 fakes, none left. (In a process of its own: an
    in-process run records every hook call, failures' tracebacks and their frames too.)"""
    pytester.makepyfile(test_user=_LEAK)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-s")
    result.assert_outcomes(passed=21, failed=10)
    result.stdout.fnmatch_lines(["*FAKES 60 ALIVE 0", "*- registry 1: fake https://*"])
