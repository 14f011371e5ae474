"""The relay's own CA and server certificate, and a real TLS handshake on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from relay.tls import (
    TlsFiles,
    certificate_fingerprint,
    client_ssl_context,
    ensure_certificates,
    fingerprint_of_file,
    server_ssl_context,
)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_first_run_makes_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    assert files.ca_cert.parent == tmp_path / "tls"
    ca, server = load(files.ca_cert), load(files.server_cert)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    ca_public = ca.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    assert ca_public.curve.name == "secp256r1"
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)

    server.verify_directly_issued_by(ca)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert dt.timedelta(days=729) < lifetime < dt.timedelta(days=732)

    der = server.public_bytes(serialization.Encoding.DER)
    assert (
        files.fingerprint == certificate_fingerprint(der) == fingerprint_of_file(files.server_cert)
    )
    parts = files.fingerprint.split(":")
    assert len(parts) == 32 and all(len(p) == 2 and p == p.upper() for p in parts)


def test_private_keys_are_owner_only(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    for key in (files.server_key, tmp_path / "tls" / "ca.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert not list((tmp_path / "tls").glob("*.tmp")), "no temp files left behind"


def test_second_run_reuses_everything(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    ca_bytes = first.ca_cert.read_bytes()
    key_bytes = first.server_key.read_bytes()
    second = ensure_certificates(tmp_path, ["127.0.0.1", "LOCALHOST"])  # a subset is covered
    assert second == first
    assert second.ca_cert.read_bytes() == ca_bytes
    assert second.server_key.read_bytes() == key_bytes


def test_new_hostname_reissues_server_cert_with_the_same_ca(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    ca_bytes = first.ca_cert.read_bytes()
    second = ensure_certificates(tmp_path, ["relay.pilot.example", "10.0.0.5"])
    assert second.fingerprint != first.fingerprint
    assert second.ca_cert.read_bytes() == ca_bytes
    server = load(second.server_cert)
    server.verify_directly_issued_by(load(second.ca_cert))
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["relay.pilot.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    assert ensure_certificates(tmp_path, ["relay.pilot.example"]).fingerprint == second.fingerprint


def test_server_cert_expiring_soon_is_reissued(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    tls = tmp_path / "tls"
    ca = load(first.ca_cert)
    ca_key = serialization.load_pem_private_key((tls / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    old = load(first.server_cert)
    soon = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=700))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(
            old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, False
        )
        .sign(ca_key, hashes.SHA256())
    )
    first.server_cert.write_bytes(soon.public_bytes(serialization.Encoding.PEM))
    first.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    expiring = fingerprint_of_file(first.server_cert)

    renewed = ensure_certificates(tmp_path)
    assert renewed.fingerprint != expiring
    assert load(renewed.server_cert).not_valid_after_utc - now > dt.timedelta(days=700)
    assert renewed.ca_cert.read_bytes() == first.ca_cert.read_bytes()


def test_mismatched_key_is_replaced(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    other = ensure_certificates(tmp_path / "other")
    first.server_key.write_bytes(other.server_key.read_bytes())
    again = ensure_certificates(tmp_path)
    assert again.fingerprint != first.fingerprint
    server_ssl_context(again.server_cert, again.server_key)  # loads: key matches certificate


def test_empty_hostnames_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_certificates(tmp_path, [])
    with pytest.raises(ValueError):
        ensure_certificates(tmp_path, "localhost")


def test_contexts_require_tls12() -> None:
    assert client_ssl_context(None).minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client_ssl_context(None).verify_mode is ssl.CERT_REQUIRED
    assert client_ssl_context(None).check_hostname


# ---------------------------------------------------------------- handshake on loopback


async def handshake(files: TlsFiles, ca_file: Path, host: str = "127.0.0.1") -> bytes:
    """Connect with client_ssl_context(ca_file); returns the peer certificate (DER)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readexactly(4))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(
        echo, "127.0.0.1", 0, ssl=server_ssl_context(files.server_cert, files.server_key)
    )
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, ssl=client_ssl_context(ca_file), server_hostname=host
            ),
            timeout=10,
        )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            peer: bytes = ssl_object.getpeercert(binary_form=True)
            return peer
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_handshake_succeeds_with_our_ca(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    peer = await handshake(files, files.ca_cert)
    assert certificate_fingerprint(peer) == files.fingerprint


async def test_handshake_verifies_dns_name(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    peer = await handshake(files, files.ca_cert, host="localhost")
    assert certificate_fingerprint(peer) == files.fingerprint


async def test_handshake_fails_with_a_different_ca(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "relay")
    stranger = ensure_certificates(tmp_path / "stranger")
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(files, stranger.ca_cert)


async def test_handshake_fails_for_a_name_not_in_the_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(files, files.ca_cert, host="relay.elsewhere.example")
