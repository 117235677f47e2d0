"""The per-user dario CA (made with `cryptography`) and the leaf certificates it signs.

The CA lives under DARIO_HOME/ca/: `dario-ca.key` (0600, never copied anywhere) and
`dario-ca.pem`. It is made on first use, valid 2 years, constrained to sign leaves only
(pathlen 0). Leaves are minted in memory per intercepted host (EC P-256, 7 days, SAN = the
host) and written only into the shim's private 0700 run directory, for the TLS context.
A child trusts the CA through a bundle file there: the system's CAs plus dario's, so hosts
dario only tunnels still verify as before.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from pathlib import Path

CA_DIR = "ca"
KEY_FILE, CERT_FILE = "dario-ca.key", "dario-ca.pem"
USER_BUNDLE_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ca_paths(home: Path) -> tuple[Path, Path]:
    d = Path(home) / CA_DIR
    return d / KEY_FILE, d / CERT_FILE


def load_or_create(home: Path):
    """(private key, certificate) of the user's CA, made once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key_path, cert_path = ca_paths(home)
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(key_path.parent, 0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"dario local CA ({os.getuid()})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dario")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key, cert


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def describe(home: Path) -> dict | None:
    """What `dario ca show` and `dario doctor` say about the CA, or None when there is none."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    key_path, cert_path = ca_paths(home)
    if not cert_path.exists():
        return None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return {"cert": str(cert_path), "key": str(key_path), "key_mode": oct(os.stat(key_path).st_mode & 0o777)
            if key_path.exists() else None, "subject": cert.subject.rfc4514_string(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(":"), "expires": cert.not_valid_after_utc.isoformat()}


def remove(home: Path) -> bool:
    key_path, cert_path = ca_paths(home)
    found = False
    for p in (key_path, cert_path):
        if p.exists():
            p.unlink()
            found = True
    return found


class LeafMint:
    """Server TLS contexts for intercepted hosts, one leaf per host, signed by the CA."""

    def __init__(self, home: Path, private_dir: str) -> None:
        self.home, self.dir = Path(home), private_dir
        self._ca = None  # (key, cert), loaded on the first intercepted CONNECT: `cryptography` costs ~40 ms
        self._contexts: dict[str, ssl.SSLContext] = {}

    @property
    def ca_key(self):
        return self._load()[0]

    @property
    def ca_cert(self):
        return self._load()[1]

    def _load(self):
        if self._ca is None:
            self._ca = load_or_create(self.home)
        return self._ca

    def context(self, host: str) -> ssl.SSLContext:
        ctx = self._contexts.get(host)
        if ctx is None:
            ctx = self._contexts[host] = self._mint(host)
        return ctx

    def _mint(self, host: str) -> ssl.SSLContext:
        import ipaddress
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        key = ec.generate_private_key(ec.SECP256R1())
        try:
            alt = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(self.ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=7))
                .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        base = os.path.join(self.dir, f"leaf-{host.replace(':', '_')}")
        _write(Path(base + ".pem"), cert.public_bytes(serialization.Encoding.PEM)
               + self.ca_cert.public_bytes(serialization.Encoding.PEM), 0o600)
        _write(Path(base + ".key"), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()), 0o600)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(base + ".pem", base + ".key")
        ctx.set_alpn_protocols(["http/1.1"])  # a clean h1-only ALPN answer
        return ctx

    def bundles(self, environ: dict[str, str]) -> tuple[str, str]:
        """(CA bundle, Node extra CAs) for the child, in the private dir. The bundle is the system's
        CAs, then every bundle the user already named (SSL_CERT_FILE, REQUESTS_CA_BUNDLE,
        CURL_CA_BUNDLE: merged, not replaced), then dario's; Node's file is the user's
        NODE_EXTRA_CA_CERTS, then dario's. The CA's PEM is read as bytes when it exists, so a run that
        intercepts nothing never loads `cryptography`."""
        _, cert_path = ca_paths(self.home)
        if not cert_path.exists():
            self._load()
        ours = cert_path.read_bytes()
        system = next((p for p in SYSTEM_BUNDLES if os.path.isfile(p)), None)
        parts = _read_all([system, *(environ.get(v) for v in USER_BUNDLE_VARS)]) + [ours]
        out = os.path.join(self.dir, "ca-bundle.pem")
        _write(Path(out), b"".join(parts), 0o644)
        node = os.path.join(self.dir, "node-extra-ca.pem")
        _write(Path(node), b"".join(_read_all([environ.get("NODE_EXTRA_CA_CERTS")]) + [ours]), 0o644)
        return out, node


def _read_all(paths) -> list[bytes]:
    """Each readable file once, newline-terminated (a missing or unreadable one is skipped, as the
    runtime reading it would have failed on it anyway)."""
    out, seen = [], set()
    for path in paths:
        if not path or path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        out.append(data.rstrip(b"\n") + b"\n")
    return out
