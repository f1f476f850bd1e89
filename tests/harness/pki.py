# -*- coding: utf-8 -*-
"""Test PKI: a CA, a server certificate for 127.0.0.1/localhost, a client certificate
and a standalone self-signed server certificate, all written as PEM files.

Certificate directories follow the containers-certs.d layout (``ca.crt``,
``client.cert``, ``client.key``) so skopeo's ``--cert-dir`` flags can use them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class PKI:
    """Paths of the PEM files written by :func:`make_pki`."""

    directory: str
    ca_cert: str
    ca_key: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    selfsigned_cert: str  # a server cert for 127.0.0.1 that no CA vouches for
    selfsigned_key: str
    cert_dir: str  # ca.crt only (certs.d style)
    client_cert_dir: str  # ca.crt + client.cert + client.key (certs.d style)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: str, key) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_cert(path: str, cert: x509.Certificate) -> None:
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "undock.oci tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(
        now + datetime.timedelta(days=2))


def _san() -> x509.SubjectAlternativeName:
    names = [x509.DNSName(n) for n in SERVER_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    return x509.SubjectAlternativeName(names)


def _leaf(subject: str, key, issuer_name: x509.Name, issuer_key, server: bool) -> x509.Certificate:
    builder = _validity(x509.CertificateBuilder())
    builder = (builder.subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=True,
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True))
    if server:
        builder = builder.add_extension(_san(), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: str) -> PKI:
    """Create the CA, server, client and self-signed certificates under ``directory``."""
    os.makedirs(directory, exist_ok=True)
    p = lambda name: os.path.join(directory, name)  # noqa: E731

    ca_key = _key()
    ca_name = _name("undock test CA")
    ca = (_validity(x509.CertificateBuilder()).subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True,
              crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    _write_cert(p("ca.pem"), ca)
    _write_key(p("ca-key.pem"), ca_key)

    server_key = _key()
    _write_cert(p("server.pem"), _leaf("127.0.0.1", server_key, ca_name, ca_key, server=True))
    _write_key(p("server-key.pem"), server_key)

    client_key = _key()
    _write_cert(p("client.pem"), _leaf("undock-client", client_key, ca_name, ca_key, server=False))
    _write_key(p("client-key.pem"), client_key)

    ss_key = _key()
    ss_name = _name("127.0.0.1")
    _write_cert(p("selfsigned.pem"), _leaf("127.0.0.1", ss_key, ss_name, ss_key, server=True))
    _write_key(p("selfsigned-key.pem"), ss_key)

    cert_dir = p("certs.d")
    client_cert_dir = p("certs.d-client")
    for d in (cert_dir, client_cert_dir):
        os.makedirs(d, exist_ok=True)
        with open(p("ca.pem"), "rb") as src, open(os.path.join(d, "ca.crt"), "wb") as dst:
            dst.write(src.read())
    for src_name, dst_name in (("client.pem", "client.cert"), ("client-key.pem", "client.key")):
        with open(p(src_name), "rb") as src, open(os.path.join(client_cert_dir, dst_name), "wb") as dst:
            dst.write(src.read())
    os.chmod(os.path.join(client_cert_dir, "client.key"), 0o600)

    return PKI(
        directory=directory,
        ca_cert=p("ca.pem"), ca_key=p("ca-key.pem"),
        server_cert=p("server.pem"), server_key=p("server-key.pem"),
        client_cert=p("client.pem"), client_key=p("client-key.pem"),
        selfsigned_cert=p("selfsigned.pem"), selfsigned_key=p("selfsigned-key.pem"),
        cert_dir=cert_dir, client_cert_dir=client_cert_dir,
    )
