"""push(): retries of a whole push, option checks, the digest file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.builder.push import PushOptions, push
from harness.copy.engine import CopyOptions, copy_image
from harness.model.digest import Digest
from harness.pytest_plugin.images import BuiltImage
from harness.transports.alltransports import parse_image_name
from harness.transports.directory import DirImageDestination, DirReference
from harness.transports.types import ImageDestination, SystemContext, TransientError
from harness.util.errors import HarnessError


class _StatusError(HarnessError):
    """A registry's refusal with an HTTP status (a 4xx: it will not pass)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"registry answered {status}")
        self.status = status


class _BusyError(_StatusError, TransientError):
    """A 5xx or a 429: the type a transport gives a refusal that may pass."""


def _refusal(status: int) -> _StatusError:
    return _BusyError(status) if status >= 500 or status == 429 else _StatusError(status)


class _Flaky(DirReference):
    """A dir destination whose first *failures* opens fail with *status*."""

    def __init__(self, path: str, failures: int, status: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.status = status
        self.opens = 0

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        self.opens += 1
        if self.opens <= self.failures:
            raise _refusal(self.status)
        return DirImageDestination(self)


def _stored(tmp_path: Path, oci_image: tuple[str, BuiltImage], policy: Path) -> Path:
    root = tmp_path / "root"
    copy_image(parse_image_name(f"harness-store:[{root}]localhost/app:v1"),
               parse_image_name(oci_image[0]), CopyOptions(signature_policy_path=policy))
    return root


@pytest.mark.parametrize(("status", "failures", "opens"), [(503, 2, 3), (429, 1, 2)])
def test_transient_failures_are_retried(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                        policy: Path, status: int, failures: int,
                                        opens: int) -> None:
    root = _stored(tmp_path, oci_image, policy)
    dest = _Flaky(str(tmp_path / "out"), failures, status)
    digest_file = tmp_path / "digest"
    result = push("app:v1", dest, PushOptions(
        store_root=root, signature_policy_path=policy, retry_delay=0, max_retries=3,
        digest_file=digest_file))
    assert dest.opens == opens
    assert digest_file.read_text() == str(result.digest)
    assert result.digest == Digest.from_bytes((tmp_path / "out" / "manifest.json").read_bytes())


@pytest.mark.parametrize(("status", "failures", "retries"), [(400, 1, 3), (503, 5, 2)])
def test_permanent_or_persistent_failures_stop(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                               policy: Path, status: int, failures: int,
                                               retries: int) -> None:
    root = _stored(tmp_path, oci_image, policy)
    dest = _Flaky(str(tmp_path / "out"), failures, status)
    with pytest.raises(_StatusError):
        push("app:v1", dest, PushOptions(store_root=root, signature_policy_path=policy,
                                         retry_delay=0, max_retries=retries))
    assert dest.opens == (1 if status == 400 else retries + 1)


def test_bad_manifest_type_and_missing_store(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="unknown manifest type 'v3'"):
        push("app", "oci:/tmp/x:y", PushOptions(manifest_type="v3", store_root=tmp_path))
    with pytest.raises(HarnessError, match="no local store given"):
        push("app", "oci:/tmp/x:y", PushOptions())


def test_bare_destination_is_a_registry_reference(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    root = _stored(tmp_path, oci_image, policy)
    with pytest.raises(HarnessError, match=r"127\.0\.0\.1:9"):
        push("app:v1", "127.0.0.1:9/app:v1", PushOptions(
            store_root=root, signature_policy_path=policy, max_retries=0,
            system_context=SystemContext(tls_verify=False, retry_times=0)))
