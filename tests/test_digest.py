"""Digest grammar and the streaming digesters."""

from __future__ import annotations

import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.model.digest import (
    Digest,
    DigestError,
    DigestingReader,
    DigestMismatchError,
    digest_stream,
)

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_round_trip() -> None:
    d = Digest.parse(EMPTY_SHA256)
    assert (d.algorithm, len(d.hex)) == ("sha256", 64)
    assert str(d) == EMPTY_SHA256


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "missing ':'"),
        ("sha256:abc", "needs 64 hex"),
        ("sha256:" + "A" * 64, "lowercase"),
        ("SHA256:" + "a" * 64, "algorithm must match"),
        ("sha512:" + "a" * 64, "needs 128 hex"),
        ("sha256:" + "a" * 63 + "!", "encoded part"),
        ("sha256:", "encoded part"),
    ],
)
def test_parse_rejects_with_the_rule(text: str, rule: str) -> None:
    with pytest.raises(DigestError, match=rule):
        Digest.parse(text)


def test_unknown_algorithm_parses_but_is_unsupported() -> None:
    d = Digest.parse("blake3:abcd")
    assert not d.supported
    with pytest.raises(DigestError, match="unsupported digest algorithm"):
        DigestingReader(io.BytesIO(b""), expected=d)


@given(st.binary(max_size=4096), st.sampled_from(["sha256", "sha512"]))
def test_reader_matches_hashlib(data: bytes, algorithm: str) -> None:
    reader = DigestingReader(io.BytesIO(data), algorithm)
    out = b""
    while chunk := reader.read(7):
        out += chunk
    assert out == data
    assert reader.digest() == Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
    assert reader.size == len(data)
    assert digest_stream(io.BytesIO(data), algorithm) == (reader.digest(), len(data))


def test_verify_reports_mismatch() -> None:
    reader = DigestingReader(io.BytesIO(b"abc"), expected=Digest.parse(EMPTY_SHA256))
    reader.read()
    with pytest.raises(DigestMismatchError, match="expected sha256:e3b0"):
        reader.verify()
    assert Digest.from_bytes(b"") == Digest.parse(EMPTY_SHA256)
