"""The relay's TLS certificates: a local CA made on first run, and a server certificate it signs.

A pilot runs without a public domain, so the relay makes its own CA. Consoles either trust
that CA's certificate (copied once to each console) or pin the server certificate's
fingerprint, which an operator can read aloud and compare. Both stay stable across
restarts: files in `data_dir/tls/` are reused, and the server certificate is only reissued
(by the same CA) when it no longer covers the relay's host names or is about to expire.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "TlsFiles",
    "certificate_fingerprint",
    "client_ssl_context",
    "ensure_certificates",
    "fingerprint_of_file",
    "server_ssl_context",
]

CA_VALIDITY: Final = dt.timedelta(days=3650)
SERVER_VALIDITY: Final = dt.timedelta(days=730)
#: A certificate expiring sooner than this is replaced on start-up.
RENEW_BEFORE: Final = dt.timedelta(days=30)
#: Tolerance for clocks that run a little behind the relay's.
_BACKDATE: Final = dt.timedelta(hours=1)

_Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Where the relay's TLS material lives, and the server certificate's fingerprint."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    fingerprint: str  # SHA-256 of the server certificate (DER), "AB:CD:..."


def certificate_fingerprint(cert_der: bytes) -> str:
    """SHA-256 of a DER certificate as uppercase hex pairs joined by ':'."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(cert_der).digest())


def fingerprint_of_file(pem_path: Path) -> str:
    """Fingerprint of the (first) certificate in a PEM file."""
    cert = x509.load_pem_x509_certificate(pem_path.read_bytes())
    return certificate_fingerprint(cert.public_bytes(serialization.Encoding.DER))


def ensure_certificates(
    data_dir: Path, hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1")
) -> TlsFiles:
    """Make (first run) or reuse the CA and server certificate in `data_dir/tls/`.

    Host names that parse as IP addresses go into the certificate as IP SANs, the rest as
    DNS names. The CA is reused for as long as it is valid, so consoles that trust it
    keep working when the server certificate is reissued; a server fingerprint pinned in
    a console changes only on reissue. Not safe for two processes starting at once.
    """
    sans = _sans(hostnames)
    tls_dir = data_dir / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    ca_cert_path = tls_dir / "ca.pem"
    ca_key_path = tls_dir / "ca.key"
    cert_path = tls_dir / "server.pem"
    key_path = tls_dir / "server.key"
    now = dt.datetime.now(dt.UTC)

    ca = _load_pair(ca_cert_path, ca_key_path)
    if ca is None or not _valid_for_a_while(ca[0], now):
        ca = _make_ca(now)
        _write_private(ca_key_path, _key_pem(ca[1]))
        _write_public(ca_cert_path, ca[0].public_bytes(serialization.Encoding.PEM))
    ca_cert, ca_key = ca

    server = _load_pair(cert_path, key_path)
    if (
        server is None
        or not _valid_for_a_while(server[0], now)
        or not _issued_by(server[0], ca_cert)
        or not set(sans) <= _covered(server[0])
    ):
        server = _make_server(ca_cert, ca_key, sans, now)
        _write_private(key_path, _key_pem(server[1]))
        _write_public(cert_path, server[0].public_bytes(serialization.Encoding.PEM))

    for path in (ca_cert_path, ca_key_path, cert_path, key_path):  # files an older relay left 0644
        os.chmod(path, 0o600)
    fingerprint = certificate_fingerprint(server[0].public_bytes(serialization.Encoding.DER))
    return TlsFiles(ca_cert_path, cert_path, key_path, fingerprint)


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server side: TLS 1.2 or newer, Python's default (modern) cipher choice."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=cert, keyfile=key)
    return ctx


def client_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """Client side: verify the relay against `ca_file` only, or the system's CAs if None.

    Host name checking stays on: connect with the name or IP the certificate was made for.
    """
    if ca_file is None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# ---------------------------------------------------------------- host names


def _sans(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    """SAN entries for `hostnames`, de-duplicated, in order (the first also becomes the CN)."""
    if isinstance(hostnames, str) or not hostnames:
        raise ValueError("hostnames must be a non-empty sequence of names or IP addresses")
    out: list[x509.GeneralName] = []
    for name in hostnames:
        entry = _san(name)
        if entry not in out:
            out.append(entry)
    return out


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip().strip("[]")))
    except ValueError:
        pass
    dns = name.strip().rstrip(".").lower()
    if not dns:
        raise ValueError("empty host name")
    return x509.DNSName(dns.encode("idna").decode("ascii"))


def _covered(cert: x509.Certificate) -> set[x509.GeneralName]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {
        x509.DNSName(n.value.lower()) if isinstance(n, x509.DNSName) else n
        for n in san
        if isinstance(n, x509.DNSName | x509.IPAddress)
    }


# ---------------------------------------------------------------- certificates


def _make_ca(now: dt.datetime) -> tuple[x509.Certificate, _Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lookout"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Lookout relay local CA"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server(
    ca_cert: x509.Certificate,
    ca_key: _Key,
    sans: list[x509.GeneralName],
    now: dt.datetime,
) -> tuple[x509.Certificate, _Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    first = sans[0].value
    common_name = str(first)[:64]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lookout"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + SERVER_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, _Key] | None:
    """The certificate and its key, or None if missing, unreadable or not a matching pair."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.public_key() != key.public_key():
        return None
    return cert, key


def _valid_for_a_while(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > RENEW_BEFORE


def _issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# ---------------------------------------------------------------- files


def _key_pem(key: _Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    """Certificates too are the relay user's only: an operator copies the CA to consoles."""
    _write_atomic(path, data, 0o600)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temp file (created 0600, never world-readable) and rename into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
