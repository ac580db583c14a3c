"""Schema1 prettyjws signing and verification (libtrust format)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from harness.model import schema1
from harness.model.digest import Digest
from harness.model.manifest import Schema1Manifest, manifest_digest, parse_manifest
from harness.model.schema1 import (
    SignatureError,
    b64url_decode,
    b64url_encode,
    payload,
    sign,
    verify,
)

PAYLOAD = json.dumps(
    {"name": "a/b", "tag": "t", "architecture": "amd64",
     "fsLayers": [{"blobSum": str(schema1.EMPTY_LAYER_DIGEST)}],
     "history": [{"v1Compatibility": json.dumps({"id": "1" * 64})}], "schemaVersion": 1},
    separators=(",", ":"),
).encode()


def protected_header(signed: bytes) -> dict[str, object]:
    block = json.loads(signed)["signatures"][0]
    result: dict[str, object] = json.loads(b64url_decode(block["protected"]))
    return result


def test_sign_then_verify_returns_the_payload() -> None:
    signed = sign(PAYLOAD)
    assert signed.startswith(PAYLOAD[:-1] + b',"signatures":[')
    assert verify(signed) == PAYLOAD
    assert payload(signed) == PAYLOAD


def test_protected_header_and_jwk_shape() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signed = sign(PAYLOAD, key, now=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    header = protected_header(signed)
    assert header == {"formatLength": len(PAYLOAD) - 1, "formatTail": "fQ",
                      "time": "2024-05-06T07:08:09Z"}
    block = json.loads(signed)["signatures"][0]
    assert list(block) == ["header", "signature", "protected"]
    assert block["header"]["alg"] == "ES256"
    jwk = block["header"]["jwk"]
    assert list(jwk) == ["crv", "kid", "kty", "x", "y"]
    assert jwk["kid"] == schema1.key_id(key.public_key())
    assert len(jwk["kid"].split(":")) == 12
    assert len(b64url_decode(block["signature"])) == 64


def test_pretty_payload_keeps_its_indent() -> None:
    pretty = json.dumps(json.loads(PAYLOAD), indent="   ").encode()
    signed = sign(pretty)
    assert b'\n   "signatures": [\n' in signed
    assert signed.endswith(b"\n}")
    assert verify(signed) == pretty


def test_digest_is_independent_of_the_signature() -> None:
    first, second = sign(PAYLOAD), sign(PAYLOAD)
    assert first != second
    assert manifest_digest(first) == manifest_digest(second) == Digest.from_bytes(PAYLOAD)


def test_tampering_is_detected() -> None:
    signed = sign(PAYLOAD)
    with pytest.raises(SignatureError, match="does not verify"):
        verify(signed.replace(b'"tag":"t"', b'"tag":"u"'))
    with pytest.raises(SignatureError, match="does not match key"):
        verify(signed.replace(b'"alg":"ES256"', b'"alg":"ES384"'))


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (PAYLOAD, "no signatures"),
        (b"[]", "must be a JSON object"),
        (PAYLOAD[:-1] + b',"signatures":[{"protected":"!!"}]}',
         "protected header is not valid JSON"),
        (PAYLOAD[:-1] + b',"signatures":[{"protected":"e30"}]}', "formatTail is required"),
        (PAYLOAD[:-1] + b',"signatures":[1]}', "must be an object"),
    ],
)
def test_malformed_signatures(data: bytes, rule: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify(data)
    assert rule in str(info.value)


def _with_signatures(blocks: list[dict[str, object]]) -> bytes:
    return PAYLOAD[:-1] + b',"signatures":' + json.dumps(blocks).encode() + b"}"


def test_signatures_that_disagree_on_the_payload_are_refused() -> None:
    block = json.loads(sign(PAYLOAD))["signatures"][0]
    header = {**protected_header(sign(PAYLOAD)), "formatLength": len(PAYLOAD) - 2}
    other = {**block, "protected": b64url_encode(json.dumps(header).encode())}
    with pytest.raises(SignatureError, match="disagree on formatLength/formatTail"):
        verify(_with_signatures([block, other]))


def test_a_short_signature_is_named() -> None:
    block = json.loads(sign(PAYLOAD))["signatures"][0]
    short = {**block, "signature": block["signature"][:20]}
    with pytest.raises(SignatureError, match="wrong signature length"):
        verify(_with_signatures([short]))


def test_sign_rejects_a_payload_that_is_not_an_object() -> None:
    with pytest.raises(SignatureError, match="must be a JSON object"):
        sign(b'["a"]')
    with pytest.raises(SignatureError, match="must not be an empty object"):
        sign(b"{ }")


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()])
def test_other_curves_sign_and_verify(curve: ec.EllipticCurve) -> None:
    signed = sign(PAYLOAD, ec.generate_private_key(curve))
    assert verify(signed) == PAYLOAD
    assert json.loads(signed)["signatures"][0]["header"]["alg"] in ("ES384", "ES512")


def test_signed_manifest_object_round_trip() -> None:
    manifest = parse_manifest(PAYLOAD)
    assert isinstance(manifest, Schema1Manifest)
    manifest.signed = True
    data = manifest.to_bytes()
    assert verify(data) == PAYLOAD
    reparsed = parse_manifest(data)
    assert reparsed == manifest
    assert manifest_digest(data) == Digest.from_bytes(manifest.payload())
