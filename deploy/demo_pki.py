#!/usr/bin/python3
"""Makes a demo PKI for Revoca: root CA, issuing CA, delegated OCSP responder
and leaf certificates carrying the OCSP URL and CRL distribution point.

Used by `deploy/dev up` and by the tests (import it, or run it:
  demo_pki.py DIR [--key-type ec|rsa] [--ocsp-url URL] [--crl-url URL]).
Existing files are kept, so running it twice changes nothing.
"""
import argparse
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OCSP_URL = "http://127.0.0.1:8080/ocsp"
CRL_URL = "http://127.0.0.1:8080/crl/demo.crl"
DAY = datetime.timedelta(days=1)


def _now():
    return datetime.datetime.utcnow().replace(microsecond=0)


def new_key(key_type="ec"):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Revoca demo"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def save(dirname, stem, cert, key=None):
    _write(os.path.join(dirname, stem + ".pem"),
           cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        _write(os.path.join(dirname, stem + ".key"),
               key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()), 0o600)


def load(dirname, stem):
    with open(os.path.join(dirname, stem + ".pem"), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    key = None
    kp = os.path.join(dirname, stem + ".key")
    if os.path.exists(kp):
        with open(kp, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    return cert, key


def _builder(subject, issuer_name, pub, serial, not_before, not_after):
    return (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer_name).public_key(pub).serial_number(serial)
            .not_valid_before(not_before).not_valid_after(not_after))


def make_ca(cn, key, issuer_cert=None, issuer_key=None, days=3650):
    now = _now()
    b = _builder(_name(cn), issuer_cert.subject if issuer_cert else _name(cn),
                 key.public_key(), x509.random_serial_number(), now - DAY,
                 now + days * DAY)
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer_cert is None else 0), critical=True)
    b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if issuer_cert is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def make_responder(issuer_cert, issuer_key, key, days=365):
    """A delegated responder: id-kp-OCSPSigning and id-pkix-ocsp-nocheck
    (RFC 6960 4.2.2.2 and 4.2.2.2.1)."""
    now = _now()
    b = _builder(_name("Revoca demo OCSP responder"), issuer_cert.subject,
                 key.public_key(), x509.random_serial_number(), now - DAY, now + days * DAY)
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    b = b.add_extension(x509.OCSPNoCheck(), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_leaf(issuer_cert, issuer_key, cn, serial=None, days=90,
              ocsp_url=OCSP_URL, crl_url=CRL_URL, key=None):
    """A TLS server certificate for CN with the OCSP URL and CRL DP."""
    now = _now()
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = _builder(_name(cn), issuer_cert.subject, key.public_key(),
                 serial or x509.random_serial_number(), now - DAY, now + days * DAY)
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
    if ocsp_url:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key


def make_pki(dirname, key_type="ec", ocsp_url=OCSP_URL, crl_url=CRL_URL):
    """Creates (or keeps) the demo PKI in DIRNAME; returns it as a dict."""
    os.makedirs(dirname, exist_ok=True)
    if not os.path.exists(os.path.join(dirname, "issuer.pem")):
        root_key = new_key(key_type)
        root = make_ca("Revoca demo root", root_key)
        issuer_key = new_key(key_type)
        issuer = make_ca("Revoca demo issuing CA", issuer_key, root, root_key)
        resp_key = new_key(key_type)
        resp = make_responder(issuer, issuer_key, resp_key)
        save(dirname, "root", root, root_key)
        save(dirname, "responder", resp, resp_key)
        for stem in ("good", "revoked", "unissued"):
            leaf, leaf_key = make_leaf(issuer, issuer_key, stem + ".demo.test",
                                       ocsp_url=ocsp_url, crl_url=crl_url)
            save(dirname, stem, leaf, leaf_key)
        save(dirname, "issuer", issuer, issuer_key)  # last: marks completion
        with open(os.path.join(dirname, "chain.pem"), "wb") as f:
            f.write(issuer.public_bytes(serialization.Encoding.PEM))
            f.write(root.public_bytes(serialization.Encoding.PEM))
    return {stem: os.path.join(dirname, stem + ".pem")
            for stem in ("root", "issuer", "responder", "good", "revoked", "unissued")}


def make_ingest_tls(dirname, others=()):
    """Creates (or keeps) in DIRNAME the TLS material of the HTTPS event
    ingest (docs/ingest.md): a TLS CA of its own (not the OCSP issuer),
    nginx's server certificate for 127.0.0.1 and the certificate of one
    client, the demo CA's front end "dev-ca" (client.pem); and one client
    certificate client-NAME.pem for each NAME of OTHERS (for tests)."""
    os.makedirs(dirname, exist_ok=True)
    if os.path.exists(os.path.join(dirname, "client.pem")):
        return
    now = _now()
    ca_key = new_key()
    ca = make_ca("Revoca demo ingest TLS CA", ca_key)
    save(dirname, "tls-ca", ca, ca_key)
    for stem, cn, eku, san in (
            ("server", "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
             [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            ("client", "dev-ca", ExtendedKeyUsageOID.CLIENT_AUTH, None)) + \
            tuple(("client-" + o, o, ExtendedKeyUsageOID.CLIENT_AUTH, None)
                  for o in others):
        key = new_key()
        b = _builder(_name(cn), ca.subject, key.public_key(),
                     x509.random_serial_number(), now - DAY, now + 825 * DAY)
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san),
                                critical=False)
        save(dirname, stem, b.sign(ca_key, hashes.SHA256()), key)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--key-type", choices=("ec", "rsa"), default="ec")
    ap.add_argument("--ocsp-url", default=OCSP_URL)
    ap.add_argument("--crl-url", default=CRL_URL)
    ap.add_argument("--leaf", metavar="NAME",
                    help="issue one more certificate, DIR/NAME.pem (a new "
                         "serial), from the PKI already in DIR")
    ap.add_argument("--ingest-tls", action="store_true",
                    help="also the TLS CA, server and client certificates "
                         "of the HTTPS ingest, in DIR/ingest")
    a = ap.parse_args()
    if a.leaf:
        if not all(c.isalnum() or c in "-_" for c in a.leaf):
            ap.error("--leaf: letters, digits, - and _ only")
        issuer, issuer_key = load(a.dir, "issuer")
        leaf, leaf_key = make_leaf(issuer, issuer_key, a.leaf + ".demo.test",
                                   ocsp_url=a.ocsp_url, crl_url=a.crl_url)
        save(a.dir, a.leaf, leaf, leaf_key)
        print(os.path.join(a.dir, a.leaf + ".pem"))
        return 0
    make_pki(a.dir, a.key_type, a.ocsp_url, a.crl_url)
    if a.ingest_tls:
        make_ingest_tls(os.path.join(a.dir, "ingest"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
