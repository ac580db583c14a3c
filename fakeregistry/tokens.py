"""Bearer tokens as distribution's token auth reads them: a JWS signed with ES256.

The header carries the signing certificate (``x5c``), so a real registry configured with
that certificate as its ``rootcertbundle`` accepts the fake's tokens, and the fake accepts
tokens from a token server that shares its :class:`TokenSigner`. The claims are the ones
distribution checks (registry/auth/token/token.go): ``iss``, ``aud``, ``exp`` and ``nbf``
(whole seconds, with 60 s of leeway) and ``access``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

LEEWAY = 60
"""Seconds a token is still taken after ``exp`` and already before ``nbf`` (distribution's
``token.Leeway``)."""
_ES256 = ec.ECDSA(hashes.SHA256())
_HALF = 32  # bytes of r and of s in an ES256 signature


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenSigner:
    """An issuer's P-256 key and its self-signed certificate; signs and checks tokens."""

    issuer: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, issuer: str = "fakeregistry") -> TokenSigner:
        """A fresh key and a certificate (CN *issuer*) valid from an hour ago for a week."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
        return cls(issuer, key, certificate)

    @property
    def certificate_pem(self) -> bytes:
        """The certificate as distribution's ``rootcertbundle`` file holds it."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, claims: Mapping[str, object]) -> str:
        """A compact JWS of *claims*, with the certificate in its ``x5c`` header."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signed.encode(), _ES256))
        return f"{signed}.{_b64(r.to_bytes(_HALF, 'big') + s.to_bytes(_HALF, 'big'))}"

    def verify(self, token: str, audience: str, now: float) -> dict[str, Any] | None:
        """The claims of *token* when this signer signed it for *audience* and it is
        usable at *now*; None for anything else (malformed, forged, expired)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header, claims = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (binascii.Error, ValueError):
            return None
        if not (isinstance(header, dict) and header.get("alg") == "ES256"
                and isinstance(claims, dict) and len(signature) == 2 * _HALF):
            return None
        r, s = (int.from_bytes(signature[:_HALF], "big"), int.from_bytes(signature[_HALF:], "big"))
        try:
            self.key.public_key().verify(encode_dss_signature(r, s),
                                         f"{parts[0]}.{parts[1]}".encode(), _ES256)
        except InvalidSignature:
            return None
        usable = _seconds(claims.get("nbf")) - LEEWAY <= now <= _seconds(claims.get("exp")) + LEEWAY
        if claims.get("iss") != self.issuer or claims.get("aud") != audience or not usable:
            return None
        return claims


def _seconds(value: object) -> float:
    """A NumericDate claim; anything else is the start of the epoch (as Go's zero int64)."""
    return float(value) if isinstance(value, int) else 0.0
