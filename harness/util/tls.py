"""Throwaway TLS material for loopback servers: a self-signed CA with a server certificate,
and a CA with a client certificate (for a registry that asks clients for one)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: a CA certificate, and a certificate that CA signed with its key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class _Issuer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2)


def _new_ca(common_name: str) -> _Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return _Issuer(key, cert)


def _write(files: TLSFiles, issuer: _Issuer, subject: str, *,
           usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> TLSFiles:
    """Issue a certificate for *subject* and write the CA, it and its key (mode 0600)."""
    files.ca_file.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(issuer.key, hashes.SHA256())
    files.ca_file.write_bytes(issuer.cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    files.key_file.chmod(0o600)
    return files


def make_tls_files(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TLSFiles:
    """Write a fresh CA and a server certificate valid for *hosts* into *directory*."""
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    files = TLSFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    return _write(files, _new_ca("oci-harness test CA"), hosts[0],
                  usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)


def make_client_files(directory: Path, name: str = "client") -> TLSFiles:
    """Write a fresh client CA (what a server lists as the CAs it accepts clients of) and a
    client certificate it signed, as ``NAME.cert`` and ``NAME.key``: the names
    containers-certs.d(5) gives a client certificate in a ``--cert-dir``."""
    files = TLSFiles(directory / "ca.crt", directory / f"{name}.cert", directory / f"{name}.key")
    return _write(files, _new_ca("oci-harness client CA"), name,
                  usage=ExtendedKeyUsageOID.CLIENT_AUTH, sans=[])
