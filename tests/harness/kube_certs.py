"""The certificates and keys a throwaway Kubernetes API server needs, generated per run.

A CA, a serving certificate for 127.0.0.1 signed by it, a client certificate in the
``system:masters`` group (client-cert auth), and the RSA key pair that signs and verifies
ServiceAccount tokens. Everything lives in the control plane's temporary directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID_FOR = dt.timedelta(days=2)


@dataclass(frozen=True)
class KubePki:
    """Paths of the generated files."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public: Path
    sa_private: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    usage: list[x509.ObjectIdentifier] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def issue_apiserver_serving(
    ca_name: x509.Name, ca_key: rsa.RSAPrivateKey, addresses: list[str], names: list[str]
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new key and the API server's serving certificate for ``addresses`` (IP SANs) and
    ``names`` (DNS SANs), signed by the CA."""
    key = _key()
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    sans += [x509.DNSName(name) for name in names]
    usage = [ExtendedKeyUsageOID.SERVER_AUTH]
    return key, _issue(_name("kube-apiserver"), key, ca_name, ca_key, usage=usage, sans=sans)


def issue_client(
    ca_name: x509.Name, ca_key: rsa.RSAPrivateKey, common: str, org: str | None = None
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new key and a client certificate for user ``common`` in group ``org``."""
    key = _key()
    usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
    return key, _issue(_name(common, org), key, ca_name, ca_key, usage=usage)


def generate_pki(directory: Path) -> KubePki:
    """Write a fresh CA, serving and admin certificates and the ServiceAccount key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("porto-test-ca")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)

    serving_key, serving = issue_apiserver_serving(
        ca_name,
        ca_key,
        ["127.0.0.1", "10.96.0.1"],  # loopback, the `kubernetes` Service IP
        ["localhost", "kubernetes.default.svc"],
    )
    admin_key, admin = issue_client(ca_name, ca_key, "porto-admin", "system:masters")
    pki = KubePki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_public=directory / "sa.pub",
        sa_private=directory / "sa.key",
    )
    _write_cert(ca, pki.ca_cert)
    _write_cert(serving, pki.serving_cert)
    _write_key(serving_key, pki.serving_key)
    _write_cert(admin, pki.admin_cert)
    _write_key(admin_key, pki.admin_key)
    write_service_account_keys(pki.sa_private, pki.sa_public)
    return pki


def write_service_account_keys(private: Path, public: Path) -> None:
    """A new RSA key pair that signs (``private``) and verifies (``public``) ServiceAccount
    tokens, as the API server and the controller-manager read them."""
    key = _key()
    _write_key(key, private)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
