"""Certificates for the ALB data plane's HTTPS listeners: the world's own CA, and ACM's certificates as TLS contexts.

An ALB serves an HTTPS listener with the certificates ACM holds for it. Here:

  - an imported certificate (ImportCertificate) is served as given: its body, its chain (without the
    stand-in root moto appends to every chain) and its private key;
  - a certificate requested in the emulated ACM (RequestCertificate) has no usable key in moto (moto
    makes a self-signed one nobody trusts), so the world issues one from its own CA for the same names
    (domain name and subject alternative names), once per certificate ARN.

The CA lives in `ca_dir` (`ca.pem`, `ca.key`): made on first use and kept across restarts, so a
client that trusts `ca.pem` (NODE_EXTRA_CA_CERTS, `curl --cacert`, `openssl s_client -CAfile`) keeps
trusting the world. `localworld.sh env` exports NODE_EXTRA_CA_CERTS for it.
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "patchwork local world CA"


@dataclass
class Served:
    """One ACM certificate as a server would present it."""

    arn: str
    names: list[str]  # domain name first, then the subject alternative names (lowercase)
    context: ssl.SSLContext
    issuer: str  # "imported" or "world CA"


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class Authority:
    """The world's CA, and the TLS contexts of the ACM certificates listeners use."""

    def __init__(self, ca_dir: str | None):
        self.dir = ca_dir or os.path.join(tempfile.gettempdir(), f"pwemu-ca-{os.getuid()}")
        self._lock = threading.Lock()
        self._served: dict[tuple[str, bytes], Served] = {}
        self._files = tempfile.mkdtemp(prefix="pwemu-tls-")
        self._key: Any = None
        self._cert: x509.Certificate | None = None

    @property
    def ca_file(self) -> str:
        return os.path.join(self.dir, "ca.pem")

    def ensure_ca(self) -> None:
        with self._lock:
            self._ensure_ca()

    def _ensure_ca(self) -> None:
        if self._cert is not None:
            return
        cert_path, key_path = self.ca_file, os.path.join(self.dir, "ca.key")
        if os.path.exists(cert_path) and os.path.exists(key_path):
            try:
                with open(key_path, "rb") as f:
                    self._key = serialization.load_pem_private_key(f.read(), None)
                with open(cert_path, "rb") as f:
                    self._cert = x509.load_pem_x509_certificate(f.read())
                if self._cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30):
                    return
            except (OSError, ValueError):
                pass
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        # Write the key first, then the certificate: a reader that finds ca.pem finds its key too.
        tmp_key, tmp_cert = f"{key_path}.tmp", f"{cert_path}.tmp"
        with open(os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(_pem_key(key))
        os.replace(tmp_key, key_path)
        with open(tmp_cert, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp_cert, cert_path)
        self._key, self._cert = key, cert

    def issue(self, names: list[str]) -> tuple[bytes, bytes]:
        """A leaf certificate for `names` (the first is the subject's CN), signed by the world's CA: (cert PEM, key PEM)."""
        with self._lock:
            self._ensure_ca()
            assert self._cert is not None
            key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self._cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=395))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self._cert.public_key()),  # type: ignore[arg-type]
                    critical=False,
                )
                .sign(self._key, hashes.SHA256())
            )
            return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    def served(self, arn: str) -> Served | None:
        """The TLS context for an ACM certificate ARN (None when ACM has no such certificate)."""
        from moto.acm.models import AWS_ROOT_CA, acm_backends

        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "acm":
            return None  # IAM server certificates: not served
        try:
            bundle = acm_backends[parts[4]][parts[3]].get_certificate(arn)
        except Exception:
            return None
        cache_key = (arn, bytes(bundle.cert))
        with self._lock:
            hit = self._served.get(cache_key)
        if hit is not None:
            return hit
        names = [n.lower() for n in dict.fromkeys([bundle.common_name, *bundle.sans]) if n]
        if bundle.type == "IMPORTED":
            chain = bytes(bundle.chain).replace(AWS_ROOT_CA, b"").strip()
            cert_pem = bytes(bundle.cert).strip() + (b"\n" + chain if chain else b"") + b"\n"
            key_pem, issuer = bytes(bundle.key), "imported"
        else:
            cert_pem, key_pem = self.issue(names or ["localhost"])
            issuer = "world CA"
        base = os.path.join(self._files, parts[-1].replace("/", "_"))
        with open(os.open(f"{base}.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(key_pem)
        with open(f"{base}.pem", "wb") as f:
            f.write(cert_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(f"{base}.pem", f"{base}.key")
        served = Served(arn=arn, names=names, context=ctx, issuer=issuer)
        with self._lock:
            self._served[cache_key] = served
        return served

    def reset(self) -> None:
        with self._lock:
            self._served.clear()


def name_matches(pattern: str, host: str) -> int:
    """How a certificate name matches an SNI host name: 2 exactly, 1 by a `*.` wildcard (one label), 0 not."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == host:
        return 2
    if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
        return 1
    return 0


def choose(certs: list[Served], sni: str | None) -> Served | None:
    """The certificate an ALB presents: the default (first) unless the SNI name matches another; exact beats wildcard."""
    if not certs:
        return None
    if sni:
        best, score = None, 0
        for c in certs:
            s = max((name_matches(n, sni) for n in c.names), default=0)
            if s > score:
                best, score = c, s
        if best is not None:
            return best
    return certs[0]
