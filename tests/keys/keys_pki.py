"""PKIs of every key type a CA signs with, and SoftHSM2 tokens whose keys are
generated inside the token (tests/keys).

A typed PKI: a P-256 root (file key), an issuing CA and a delegated responder
of the type under test, and leaves good / revoked / unissued, in the layout of
deploy/demo_pki.py (so that revoca_fixtures.Stack runs on it).

A token: softhsm2-util makes it in a private directory (SOFTHSM2_CONF), and
pkcs11-tool --keypairgen makes each key in it; only public halves leave the
token, through OpenSSL's pkcs11 engine.  The test PIN travels on command
lines and in environment variables, never in a file beside the keys.
"""
import datetime
import os
import shutil
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import demo_pki

DAY = datetime.timedelta(days=1)
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4711-test"
SO_PIN = "0815-so"

# kind -> (key maker, hash the CA signs with, rsa_padding, DER of the
# signature AlgorithmIdentifier Revoca must write)
ALG_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
ALG_ECDSA_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")
ALG_ECDSA_SHA512 = bytes.fromhex("300a06082a8648ce3d040304")
ALG_RSA_SHA256 = bytes.fromhex("300d06092a864886f70d01010b0500")
# CA/B BR 7.1.3.2.1, RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32
ALG_RSA_PSS = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500"
    "a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120")
ALG_ED25519 = bytes.fromhex("300506032b6570")

KINDS = {
    "p256": (lambda: ec.generate_private_key(ec.SECP256R1()), hashes.SHA256(),
             "pkcs1", ALG_ECDSA_SHA256),
    "p384": (lambda: ec.generate_private_key(ec.SECP384R1()), hashes.SHA384(),
             "pkcs1", ALG_ECDSA_SHA384),
    "p521": (lambda: ec.generate_private_key(ec.SECP521R1()), hashes.SHA512(),
             "pkcs1", ALG_ECDSA_SHA512),
    "rsa2048": (lambda: rsa.generate_private_key(65537, 2048),
                hashes.SHA256(), "pkcs1", ALG_RSA_SHA256),
    "rsa3072-pss": (lambda: rsa.generate_private_key(65537, 3072),
                    hashes.SHA256(), "pss", ALG_RSA_PSS),
    "rsa4096": (lambda: rsa.generate_private_key(65537, 4096),
                hashes.SHA256(), "pkcs1", ALG_RSA_SHA256),
    "ed25519": (lambda: ed25519.Ed25519PrivateKey.generate(), None, "pkcs1",
                ALG_ED25519),
}


def _now():
    return datetime.datetime.utcnow().replace(microsecond=0)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Revoca keys"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sign(b, key, md):
    return b.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else md)


def ca_cert(cn, pub, issuer_cert, issuer_key, md):
    now = _now()
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - DAY).not_valid_after(now + 3650 * DAY))
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                      False, False), critical=True)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    if issuer_cert is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_cert.public_key()), critical=False)
    return _sign(b, issuer_key, md)


def responder_builder(issuer_cert, pub, days=365):
    now = _now()
    b = (x509.CertificateBuilder().subject_name(_name("Revoca keys OCSP responder"))
         .issuer_name(issuer_cert.subject).public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - DAY).not_valid_after(now + days * DAY))
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                      False, False), critical=True)
    b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                        critical=False)
    b = b.add_extension(x509.OCSPNoCheck(), critical=False)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
        issuer_cert.public_key()), critical=False)
    return b


def leaf_builder(issuer_cert, cn):
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(issuer_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - DAY).not_valid_after(now + 90 * DAY))
    b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
        issuer_cert.public_key()), critical=False)
    b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
        [x509.UniformResourceIdentifier(demo_pki.CRL_URL)], None, None, None)]),
        critical=False)
    return b, key


def _pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def _write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def write_chain(d, issuer, root):
    _write(os.path.join(d, "issuer.pem"), _pem(issuer))
    _write(os.path.join(d, "root.pem"), _pem(root))
    _write(os.path.join(d, "ca.pem"), _pem(issuer) + _pem(root))


def make_typed_pki(d, kind):
    """Root P-256; issuing CA and responder of KIND; three leaves."""
    maker, md, _, _ = KINDS[kind]
    os.makedirs(d, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_cert("Revoca keys root", root_key.public_key(), None, root_key,
                   hashes.SHA256())
    ik = maker()
    issuer = ca_cert("Revoca keys CA " + kind, ik.public_key(), root, root_key,
                     hashes.SHA256())
    rk = maker()
    resp = _sign(responder_builder(issuer, rk.public_key()), ik, md)
    write_chain(d, issuer, root)
    for stem, c, k in (("issuer", issuer, ik), ("responder", resp, rk)):
        _write(os.path.join(d, stem + ".pem"), _pem(c))
        _write(os.path.join(d, stem + ".key"),
               k.private_bytes(serialization.Encoding.PEM,
                               serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()), 0o600)
    for stem in ("good", "revoked", "unissued"):
        b, _ = leaf_builder(issuer, stem + ".keys.test")
        _write(os.path.join(d, stem + ".pem"), _pem(_sign(b, ik, md)))
    return d


# --- verifiers we did not write, for any key type ------------------------

def py_verify_sig(pub, sig, data, alg_der):
    """Python cryptography: SIG over DATA under the algorithm ALG_DER names."""
    if isinstance(pub, ed25519.Ed25519PublicKey):
        assert alg_der == ALG_ED25519
        pub.verify(sig, data)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        md = {ALG_ECDSA_SHA256: hashes.SHA256(), ALG_ECDSA_SHA384: hashes.SHA384(),
              ALG_ECDSA_SHA512: hashes.SHA512()}[alg_der]
        pub.verify(sig, data, ec.ECDSA(md))
    elif alg_der == ALG_RSA_PSS:
        pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                          salt_length=32), hashes.SHA256())
    else:
        assert alg_der == ALG_RSA_SHA256
        pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())


def alg_after(der, tbs):
    """The AlgorithmIdentifier DER that follows TBS inside DER (OCSP
    BasicOCSPResponse and CRL alike: tbs, signatureAlgorithm, signature)."""
    i = der.index(tbs) + len(tbs)
    assert der[i] == 0x30
    n = der[i + 1]
    assert n < 0x80
    return der[i:i + 2 + n]


def gnutls_ocsp_verify(der_path, signer_pem):
    p = subprocess.run(["ocsptool", "--verify-response", "--infile", der_path,
                        "--load-signer", signer_pem],
                       capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Verifying OCSP Response: Success" in out, out
    return out


# --- SoftHSM2 -------------------------------------------------------------

class Token:
    """A SoftHSM2 token in DIR (its own SOFTHSM2_CONF): keys made inside it,
    public halves read out through OpenSSL's pkcs11 engine."""

    def __init__(self, d, label="revoca"):
        self.dir = d
        self.label = label
        self.tokens = os.path.join(d, "tokens")
        os.makedirs(self.tokens, exist_ok=True)
        self.conf = os.path.join(d, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % self.tokens)
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        self.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                  "--pin", PIN, "--so-pin", SO_PIN])
        self.removed = None

    def run(self, argv):
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                           timeout=120)
        assert p.returncode == 0, "%s: %s%s" % (argv[0], p.stdout, p.stderr)
        return p.stdout

    def keygen(self, label, key_type, key_id):
        """key_type as pkcs11-tool spells it: EC:prime256v1, rsa:2048."""
        self.run(["pkcs11-tool", "--module", SOFTHSM, "--login", "--pin", PIN,
                  "--keypairgen", "--key-type", key_type, "--label", label,
                  "--id", key_id])
        return self.uri(label)

    def uri(self, label, kind="private"):
        return "pkcs11:token=%s;object=%s;type=%s" % (self.label, label, kind)

    def public_key(self, label):
        out = self.run(["openssl", "pkey", "-engine", "pkcs11", "-inform",
                        "engine", "-in", self.uri(label, "public") +
                        ";pin-value=" + PIN, "-pubout"])
        return serialization.load_pem_public_key(
            out[out.index("-----BEGIN"):].encode())

    def public_pem(self, label, out):
        with open(out, "wb") as f:
            f.write(self.public_key(label).public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo))
        return out

    def issue(self, csr_path, ca_pem, label, md, serial, ext, out,
              pubkey=None):
        """Issues the request CSR_PATH as the CA CA_PEM with the token's key
        LABEL (OpenSSL's x509 through the engine), extensions EXT (lines of
        an openssl extfile), the public key in the PEM file PUBKEY instead
        of the request's if given."""
        extfile = out + ".ext"
        with open(extfile, "w") as f:
            f.write(ext + "\nauthorityKeyIdentifier=keyid\n")
        argv = ["openssl", "x509", "-req", "-in", csr_path, "-CA", ca_pem,
                "-engine", "pkcs11", "-CAkeyform", "engine", "-CAkey",
                self.uri(label) + ";pin-value=" + PIN, "-set_serial",
                str(serial), "-" + md, "-days", "300", "-extfile", extfile,
                "-out", out]
        if pubkey:
            argv += ["-force_pubkey", pubkey]
        self.run(argv)
        os.unlink(extfile)

    def remove(self):
        """Takes the token away (as pulling it out of its slot)."""
        (sub,) = os.listdir(self.tokens)
        self.removed = os.path.join(self.dir, "removed-" + sub)
        shutil.move(os.path.join(self.tokens, sub), self.removed)

    def restore(self):
        shutil.move(self.removed, os.path.join(self.tokens,
                                               os.path.basename(self.removed)[8:]))
        self.removed = None
