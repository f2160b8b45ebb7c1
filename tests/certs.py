"""Certificates for TLS tests, made with cryptography: a CA, leaves signed by it (optionally
expired), each written as PEM with its key beside it."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


class PKI:
    def __init__(self, directory):
        self.dir = directory

    def write(self, name: str, cert: x509.Certificate, key=None) -> str:
        path = self.dir / f"{name}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            (self.dir / f"{name}-key.pem").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        return str(path)

    def key(self, name: str) -> str:
        return str(self.dir / f"{name}-key.pem")


def make_ca(name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(ca, name: str, sans: list, usage, expired: bool = False):
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    end = NOW - datetime.timedelta(hours=1) if expired else NOW + datetime.timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=2))
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def build_pki(directory) -> PKI:
    """A CA and, signed by it: a server certificate for 127.0.0.1, localhost and server.global.nomad;
    one for server.global.nomad only (`named`); an expired one; a client one. Plus another CA."""
    pki = PKI(directory)
    ca = make_ca("tapit test CA")
    pki.ca = pki.write("ca", ca[0])
    (pki.dir / "ca-dir").mkdir()
    pki.ca_dir = str(pki.dir / "ca-dir")
    pki.write("ca-dir/ca", ca[0])
    pki.wrong_ca = pki.write("wrong-ca", make_ca("some other CA")[0])
    server_sans = [
        x509.DNSName("server.global.nomad"),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    pki.server = pki.write("server", *make_leaf(ca, "server", server_sans, ExtendedKeyUsageOID.SERVER_AUTH))
    pki.named = pki.write(
        "named", *make_leaf(ca, "named", [x509.DNSName("server.global.nomad")], ExtendedKeyUsageOID.SERVER_AUTH)
    )
    pki.expired = pki.write(
        "expired", *make_leaf(ca, "expired", server_sans, ExtendedKeyUsageOID.SERVER_AUTH, expired=True)
    )
    pki.client = pki.write(
        "client", *make_leaf(ca, "cli", [x509.DNSName("cli.global.nomad")], ExtendedKeyUsageOID.CLIENT_AUTH)
    )
    return pki
