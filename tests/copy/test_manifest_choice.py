"""Which manifest types a copy tries, in order (containers/image's rules)."""

from __future__ import annotations

import pytest

from harness.copy.plan import is_fallback_error, manifest_candidates
from harness.model import mediatype as mt
from harness.util.errors import HarnessError

ALL = [mt.OCI_MANIFEST, mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST,
       mt.DOCKER_V2S1_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST]


def test_source_type_first_when_taken_then_v2s2_then_v2s1() -> None:
    assert manifest_candidates(mt.OCI_MANIFEST, ALL) == [
        mt.OCI_MANIFEST, mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST,
        mt.DOCKER_V2S1_MANIFEST]
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, ALL)[:3] == [
        mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST, mt.OCI_MANIFEST]


def test_conversion_when_the_destination_refuses_the_source_type() -> None:
    oci_only = [mt.OCI_MANIFEST, mt.OCI_INDEX]
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, oci_only) == [mt.OCI_MANIFEST]
    assert manifest_candidates(mt.OCI_MANIFEST, [mt.DOCKER_V2S2_MANIFEST]) == [
        mt.DOCKER_V2S2_MANIFEST]


def test_any_destination_keeps_the_source_type() -> None:
    assert manifest_candidates(mt.DOCKER_V2S1_SIGNED_MANIFEST, []) == [
        mt.DOCKER_V2S1_SIGNED_MANIFEST]


def test_forced_type_is_the_only_candidate() -> None:
    assert manifest_candidates(mt.OCI_MANIFEST, ALL, mt.DOCKER_V2S1_SIGNED_MANIFEST) == [
        mt.DOCKER_V2S1_SIGNED_MANIFEST]
    assert manifest_candidates(mt.OCI_MANIFEST, [], mt.DOCKER_V2S2_MANIFEST) == [
        mt.DOCKER_V2S2_MANIFEST]
    with pytest.raises(HarnessError, match="does not accept"):
        manifest_candidates(mt.OCI_MANIFEST, [mt.OCI_MANIFEST], mt.DOCKER_V2S2_MANIFEST)


class _CodedError(HarnessError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@pytest.mark.parametrize(("code", "fallback"), [
    ("MANIFEST_INVALID", True), ("TAG_INVALID", True), ("BLOB_UNKNOWN", False),
    ("DENIED", False)])
def test_fallback_codes(code: str, fallback: bool) -> None:
    assert is_fallback_error(_CodedError(code)) is fallback
    assert not is_fallback_error(HarnessError("no code"))


def test_zstd_keeps_only_oci() -> None:
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, ALL, oci_only=True) == [mt.OCI_MANIFEST]
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, [], oci_only=True) == [mt.OCI_MANIFEST]
    with pytest.raises(HarnessError, match=r"no manifest type for zstd layers \(only OCI"):
        manifest_candidates(mt.DOCKER_V2S2_MANIFEST, [mt.DOCKER_V2S2_MANIFEST], oci_only=True)
