"""Docker schema1 signatures: libtrust's "pretty JWS", signed and verified here.

A signed schema1 manifest is its JSON payload with a ``"signatures"`` array spliced in
before the closing brace. Each signature's protected header records ``formatLength``
(how many payload bytes precede the splice) and ``formatTail`` (the bytes after it), so
the payload can be rebuilt exactly; the manifest digest is the digest of that payload.
Signing uses a throwaway ECDSA P-256 key, as containers/image does: nobody trusts the
key, the registry merely insists that a signature is present and valid.

cryptography is imported by the functions that sign and verify, not by this module:
reading a schema1 manifest loads this module, and only writing a signed one signs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from harness.model import gojson
from harness.model.digest import Digest
from harness.model.jsonfields import FieldError, load_object, require_str
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURES_KEY = "signatures"
# The gzipped empty tar that schema1 uses for history entries without a layer.
EMPTY_LAYER_DIGEST = Digest.parse(
    "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
)
EMPTY_LAYER_GZIP = bytes.fromhex(
    "1f8b080000096e8800ff621805a360148c5800080000ffff2eafb5ef00040000"
)

_V1_ID = re.compile(r"[a-f0-9]{64}")


@functools.cache
def _curves() -> dict[str, tuple[ec.EllipticCurve, str, hashes.HashAlgorithm]]:
    """The JWK curves libtrust signs with: curve, JWS alg and hash, by JWK "crv" name."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    return {
        "P-256": (ec.SECP256R1(), "ES256", hashes.SHA256()),
        "P-384": (ec.SECP384R1(), "ES384", hashes.SHA384()),
        "P-521": (ec.SECP521R1(), "ES512", hashes.SHA512()),
    }


def _crv_name(curve: ec.EllipticCurve) -> str:
    """The JWK "crv" name of one of our own keys' curve."""
    return next(crv for crv, (known, _, _) in _curves().items() if known.name == curve.name)


class SignatureError(HarnessError):
    """A schema1 manifest's signature is missing, malformed or does not verify."""


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded (or padded) base64url; raise :class:`SignatureError` if invalid."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"invalid base64url {text[:20]!r}: {exc}") from exc


def _coordinate_length(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """libtrust's key ID: base32 of the first 240 bits of sha256(DER), in groups of four."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The libtrust JWK of an EC public key (keys in Go's sorted map order)."""
    numbers = public_key.public_numbers()
    length = _coordinate_length(public_key.curve)
    crv = _crv_name(public_key.curve)
    return {
        "crv": crv,
        "kid": key_id(public_key),
        "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(length, "big")),
        "y": b64url_encode(numbers.y.to_bytes(length, "big")),
    }


def _jwk_public_key(jwk: Any) -> tuple[ec.EllipticCurvePublicKey, hashes.HashAlgorithm, str]:
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC":
        raise SignatureError("schema1 signature: only EC JWK keys are supported")
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    spec = _curves().get(str(jwk.get("crv")))
    if spec is None:
        raise SignatureError(f"schema1 signature: unsupported curve {jwk.get('crv')!r}")
    curve, alg, hash_algorithm = spec
    try:
        x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
        y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
        key = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except (KeyError, ValueError) as exc:
        raise SignatureError(f"schema1 signature: invalid EC public key: {exc}") from exc
    return key, hash_algorithm, alg


def _detect_indent(content: bytes) -> str:
    """libtrust's detectJSONIndent: the whitespace before the first key of a pretty object."""
    if len(content) > 2 and content[:2] == b"{\n":
        quote = content.find(b'"', 1)
        if quote > 1:
            return content[2:quote].decode("utf-8")
    return ""


def _format_split(payload: bytes) -> int:
    """Where the signatures get spliced in: just after the last value before the final ``}``.

    The payload was decoded as a JSON object already, so it ends in ``}`` and no ``,``.
    """
    stripped = payload.rstrip()
    return len(stripped[:-1].rstrip())


@dataclass(frozen=True)
class _Signed:
    payload: bytes
    signatures: list[dict[str, Any]]


def _signature_block(protected: str, payload: bytes, key: ec.EllipticCurvePrivateKey) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        decode_dss_signature,
    )

    _, alg, hash_algorithm = _curves()[_crv_name(key.curve)]
    signing_input = f"{protected}.{b64url_encode(payload)}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hash_algorithm)))
    length = _coordinate_length(key.curve)
    raw = r.to_bytes(length, "big") + s.to_bytes(length, "big")
    return {
        "header": {"jwk": public_jwk(key.public_key()), "alg": alg},
        "signature": b64url_encode(raw),
        "protected": protected,
    }


def sign(payload: bytes, key: ec.EllipticCurvePrivateKey | None = None,
         now: datetime | None = None) -> bytes:
    """Sign a schema1 *payload* (JSON bytes); a fresh P-256 key is made when none is given."""
    if not load_payload(payload):
        raise SignatureError("schema1 payload must not be an empty object")
    if key is None:
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

        key = ec.generate_private_key(ec.SECP256R1())
    length = _format_split(payload)
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    protected = b64url_encode(gojson.dumps_sorted({
        "formatLength": length,
        "formatTail": b64url_encode(payload[length:]),
        "time": when,
    }))
    signatures = [_signature_block(protected, payload, key)]
    indent = _detect_indent(payload)
    head = payload[:length]
    if not indent:
        return head + b',"' + SIGNATURES_KEY.encode() + b'":' + gojson.dumps(signatures) + b"}"
    pretty = json.dumps(signatures, indent=indent, ensure_ascii=False).replace("\n", "\n" + indent)
    return (
        head + b",\n" + f'{indent}"{SIGNATURES_KEY}": {pretty}\n'.encode() + b"}"
    )


def load_payload(payload: bytes) -> dict[str, Any]:
    """Decode a schema1 payload; raise :class:`SignatureError` if it is not a JSON object."""
    try:
        return load_object(payload, "schema1 payload")
    except FieldError as exc:
        raise SignatureError(str(exc)) from exc


def _parse_signed(data: bytes) -> _Signed:
    obj = load_payload(data)
    signatures = obj.get(SIGNATURES_KEY)
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError("schema1 manifest has no signatures")
    formats: set[tuple[int, bytes]] = set()
    for number, block in enumerate(signatures):
        if not isinstance(block, dict):
            raise SignatureError(f"schema1 signature {number} must be an object")
        try:
            protected = require_str(block, "protected", "signature.")
            if not protected.isascii():
                raise FieldError("signature.protected must be base64url")
            header = load_object(b64url_decode(protected), "protected header")
            length = header.get("formatLength")
            tail = b64url_decode(require_str(header, "formatTail", "protected header "))
        except FieldError as exc:
            raise SignatureError(f"schema1 signature {number}: {exc}") from exc
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise SignatureError(f"schema1 signature {number}: formatLength must be an integer")
        formats.add((length, tail))
    if len(formats) != 1:
        raise SignatureError("schema1 signatures disagree on formatLength/formatTail")
    ((length, tail),) = formats
    if length > len(data):
        raise SignatureError("schema1 formatLength is beyond the end of the manifest")
    return _Signed(data[:length] + tail, signatures)


def payload(data: bytes) -> bytes:
    """The signed bytes without signatures (the digest input); unsigned data as is."""
    if SIGNATURES_KEY not in load_payload(data):
        return data
    return _parse_signed(data).payload


def verify(data: bytes) -> bytes:
    """Check every signature of a signed schema1 manifest; return the payload."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: PLC0415
        encode_dss_signature,
    )

    signed = _parse_signed(data)
    load_payload(signed.payload)
    for number, block in enumerate(signed.signatures):
        header = block.get("header")
        if not isinstance(header, dict):
            raise SignatureError(f"schema1 signature {number}: header must be an object")
        key, hash_algorithm, alg = _jwk_public_key(header.get("jwk"))
        if header.get("alg") != alg:
            raise SignatureError(
                f"schema1 signature {number}: alg {header.get('alg')!r} does not match key"
            )
        raw = b64url_decode(str(block.get("signature", "")))
        length = _coordinate_length(key.curve)
        if len(raw) != 2 * length:
            raise SignatureError(f"schema1 signature {number}: wrong signature length")
        der = encode_dss_signature(
            int.from_bytes(raw[:length], "big"), int.from_bytes(raw[length:], "big")
        )
        signing_input = f"{block['protected']}.{b64url_encode(signed.payload)}".encode("ascii")
        try:
            key.verify(der, signing_input, ec.ECDSA(hash_algorithm))
        except InvalidSignature as exc:
            raise SignatureError(f"schema1 signature {number} does not verify") from exc
    return signed.payload


def valid_v1_id(value: str) -> bool:
    """Whether *value* is a schema1 layer ID (64 lowercase hex)."""
    return _V1_ID.fullmatch(value) is not None
