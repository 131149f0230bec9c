"""OCSP and CRLs from the real module, signer and revoca-crlgen judged by
clients we did not write beside OpenSSL, GnuTLS, NSS and Python: Go's
golang.org/x/crypto/ocsp and crypto/x509, and Java 17's PKIXRevocationChecker
(tests/judges).  Both signing setups: the CA signing its own responses and a
delegated responder (RFC 6960 4.2.2.2)."""
import hashlib
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from conftest import Stack
from ocsp_client import get_raw, post, request_der
from revoca_fixtures import BUILD, cert, demo_pki, openssl_ocsp_status

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "judges"))
from judges import go_judge, java_judge  # noqa: E402,F401

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")

SETUPS = [("ec", "delegated"), ("ec", "ca"), ("rsa", "delegated"),
          ("rsa", "ca")]


def key_id(pem):
    """RFC 6960 4.2.2.3 byKey: SHA-1 of the subjectPublicKey BIT STRING's
    contents (an EC point, or an RSAPublicKey)."""
    pub = cert(pem).public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        bits = pub.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    else:
        bits = pub.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.PKCS1)
    return hashlib.sha1(bits).hexdigest()


class Judged:
    """A stack (CA-signed or delegated), the module in front of it with
    request-path signing, CRLs served at /crl/, and leaves whose AIA and
    cRLDistributionPoints point at that nginx."""

    def __init__(self, tmp_path, pki, signer, make_nginx,
                 unissued="unknown", shards=1):
        self.signer = signer
        self.pub = str(tmp_path / "crl")
        os.makedirs(self.pub)
        self.issuer_conf = {"name": "demo", "unissued": unissued,
                            "shards": shards}
        if signer == "ca":
            self.issuer_conf.update(responder_cert=None, responder_key=None)
        self.s = Stack(tmp_path / "stack", pki, [self.issuer_conf])
        self.n = make_nginx(self.s.conf, start=False, server="""
        location /ocsp {
            revoca_ocsp;
            revoca_sign nonce unissued;
        }
        location /crl/ {
            alias %s/;
        }
        location = /metrics {
            revoca_metrics;
        }""" % self.pub, http="revoca_config %s; revoca_cache_zone 1m;"
                              " revoca_sign_rate 1000r/s;" % self.s.conf)
        self.ocsp_url = self.n.url + "/ocsp"
        self.s.write_conf([self.issuer_conf], (
            'crl = { publish_dir = "%s"; base_url = "%s/crl/"; };'
            % (self.pub, self.n.url)))
        ca, ca_key = demo_pki.load(self.s.pki, "issuer")
        for stem in ("good", "revoked", "unissued"):
            # sharded: the shard a CA computes from the serial (serial.h)
            serial = x509.random_serial_number()
            crl = "demo.crl" if shards == 1 else \
                "demo-shard-%d.crl" % (serial % shards)
            leaf, key = demo_pki.make_leaf(
                ca, ca_key, stem + ".judged.test", serial=serial,
                ocsp_url=self.ocsp_url, crl_url=self.n.url + "/crl/" + crl)
            demo_pki.save(self.s.pki, "j-" + stem, leaf, key)
        self.s.start_signer()
        self.s.cli("issue", "--issuer", "demo", "--cert", self.leaf("good"))
        self.s.cli("issue", "--issuer", "demo", "--cert",
                   self.leaf("revoked"))
        self.s.cli("revoke", "--issuer", "demo", "--cert",
                   self.leaf("revoked"), "--reason", "keyCompromise", "--wait")
        self.n.start()

    def leaf(self, stem):
        return self.s.path("j-%s.pem" % stem)

    @property
    def issuer(self):
        return self.s.path("issuer.pem")

    @property
    def root(self):
        return self.s.path("root.pem")

    def signer_pem(self):
        return self.s.path("issuer.pem" if self.signer == "ca"
                           else "responder.pem")

    def close(self):
        self.s.close()


@pytest.fixture(params=SETUPS, ids=["-".join(p) for p in SETUPS])
def judged(request, tmp_path, make_nginx, pki_dir, pki_rsa_dir):
    kind, signer = request.param
    j = Judged(tmp_path, pki_dir if kind == "ec" else pki_rsa_dir, signer,
               make_nginx)
    yield j
    j.close()


def metric(n, name):
    for line in get_raw(n.port, "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


WANT = {"good": ("good", None), "revoked": ("revoked", 1),
        "unissued": ("unknown", None)}


def check_go_answer(j, v, stem):
    status, reason = WANT[stem]
    assert v["status"] == status, v
    assert v.get("reason") == reason, v
    assert v["serial"] == "%x" % cert(j.leaf(stem)).serial_number
    assert v["this_update"] < v["next_update"], v
    assert v["responder_id"] == key_id(j.signer_pem()), v
    if j.signer == "ca":
        # RFC 6960 4.2.2.2: the CA signs, nothing to include
        assert v["embedded"] is None, v
    else:
        e = v["embedded"]
        assert e and e["ocsp_signing"] and not e["is_issuer"], v
        assert "OCSP responder" in e["subject"], v


def test_go_ocsp_over_nginx(judged, go_judge, tmp_path):
    j = judged
    for stem in ("good", "revoked", "unissued"):
        for digest in ("sha1", "sha256"):
            # Go's own request, the pre-signed answer (unissued: signed on
            # the request path with the issuer's policy)
            ok, v = go_judge.fetch(j.ocsp_url, j.leaf(stem), j.issuer, digest)
            assert ok, "Go rejected the %s answer: %s" % (stem, v)
            check_go_answer(j, v, stem)
            assert v["issuer_hash"] == digest.upper().replace("SHA", "SHA-"), v
        # with a nonce: signed by the module on the request path
        r = post(j.n.port, request_der(j.s.pki, j.leaf(stem),
                                       nonce=os.urandom(16)))
        assert r.status == 200
        ok, v = go_judge.ocsp(r.body, j.leaf(stem), j.issuer, tmp_path)
        assert ok, "Go rejected the request-path %s answer: %s" % (stem, v)
        check_go_answer(j, v, stem)


def test_go_ocsp_presigned_bytes(judged, go_judge, tmp_path):
    # the bytes revoca-signer stored, read straight from Redis; OpenSSL and
    # Python see the same certs as Go
    j = judged
    for stem in ("good", "revoked"):
        serial = j.s.serial_of(j.leaf(stem))
        for field in ("sha1", "sha256"):
            der = j.s.response(serial, field)
            assert der
            ok, v = go_judge.ocsp(der, j.leaf(stem), j.issuer, tmp_path)
            assert ok, "Go rejected the signer's %s answer: %s" % (stem, v)
            check_go_answer(j, v, stem)
            status, out = openssl_ocsp_status(der, j.s.pki, j.leaf(stem),
                                              field)
            assert status == ("good" if stem == "good" else "revoked"), out
            certs = ocsp.load_der_ocsp_response(der).certificates
            if j.signer == "ca":
                assert certs == []
            else:
                assert certs == [cert(j.signer_pem())]


def test_java_ocsp_over_nginx(judged, java_judge):
    j = judged
    # the responder is found through the leaf's AIA; Java asks by GET
    assert java_judge.check("ocsp", j.root, j.issuer,
                            j.leaf("good")) == "good"
    verdict = java_judge.check("ocsp", j.root, j.issuer, j.leaf("revoked"))
    assert verdict.startswith("revoked reason=KEY_COMPROMISE "), verdict
    verdict = java_judge.check("ocsp", j.root, j.issuer, j.leaf("unissued"))
    assert verdict.startswith("unknown "), verdict


def test_java_nonce_signed_on_request_path(judged, java_judge):
    # Java sends a nonce when asked to (and refuses a different one back):
    # these answers are signed by the module, not the signer
    j = judged
    signed = metric(j.n, "revoca_ocsp_signed_total")
    assert java_judge.check("ocsp", j.root, j.issuer, j.leaf("good"),
                            nonce=True) == "good"
    verdict = java_judge.check("ocsp", j.root, j.issuer, j.leaf("revoked"),
                               nonce=True)
    assert verdict.startswith("revoked reason=KEY_COMPROMISE "), verdict
    assert metric(j.n, "revoca_ocsp_signed_total") == signed + 2


@pytest.mark.parametrize("signer", ["ca", "delegated"])
def test_unissued_revoked_policy(tmp_path, make_nginx, pki_dir, go_judge,
                                 java_judge, signer):
    # RFC 6960 2.2: a never-issued serial answered revoked, certificateHold
    # at the epoch, signed on the request path
    j = Judged(tmp_path, pki_dir, signer, make_nginx, unissued="revoked")
    try:
        ok, v = go_judge.fetch(j.ocsp_url, j.leaf("unissued"), j.issuer)
        assert ok, v
        assert v["status"] == "revoked" and v["reason"] == 6, v
        assert v["revoked_at"] == "1970-01-01T00:00:00Z", v
        assert (v["embedded"] is None) == (signer == "ca"), v
        verdict = java_judge.check("ocsp", j.root, j.issuer,
                                   j.leaf("unissued"))
        assert verdict == ("revoked reason=CERTIFICATE_HOLD"
                           " date=1970-01-01T00:00:00Z"), verdict
    finally:
        j.close()


def test_java_crldp_over_nginx(judged, java_judge):
    j = judged
    if not os.path.exists(CRLGEN):
        pytest.fail("revoca-crlgen is not built (REVOCA_CRLGEN=ON)")
    p = subprocess.run([CRLGEN, "-c", j.s.conf, "--once"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.path.join(j.pub, "demo.crl"))
    # Java fetches the CRL from the leaf's distribution point on our nginx
    assert java_judge.check("crl", j.root, j.issuer, j.leaf("good")) == "good"
    verdict = java_judge.check("crl", j.root, j.issuer, j.leaf("revoked"))
    assert verdict.startswith("revoked reason=KEY_COMPROMISE "), verdict


def test_gnutls_and_nss_accept_both_setups(judged, tmp_path):
    # leaving certs out for the CA must not cost the judges we had already
    j = judged
    for stem, want in (("good", "good"), ("revoked", "revoked")):
        p = subprocess.run(
            ["ocsptool", "--ask=" + j.ocsp_url, "--load-cert", j.leaf(stem),
             "--load-issuer", j.issuer, "--load-signer", j.signer_pem(),
             "--no-nonce", "--outfile", str(tmp_path / "r.der")],
            capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        assert "Certificate Status: %s" % want in out, out
        assert "Verifying OCSP Response: Success" in out, out
        assert p.returncode == 0, out

    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", "sql:%s" % db, "--empty-password"],
                   check=True, capture_output=True)
    for pem, trust in ((j.root, "C,,"), (j.issuer, ",,")):
        subprocess.run(["certutil", "-A", "-d", "sql:%s" % db, "-n",
                        os.path.basename(pem), "-t", trust, "-a", "-i", pem],
                       check=True, capture_output=True)
    for stem in ("good", "revoked"):
        der = str(tmp_path / (stem + ".der"))
        with open(der, "wb") as f:
            f.write(cert(j.leaf(stem)).public_bytes(
                serialization.Encoding.DER))
        # NSS asks the responder in the leaf's AIA: our nginx
        p = subprocess.run(
            ["vfychain", "-d", "sql:%s" % db, "-pp", "-u", "1", "-g", "leaf",
             "-h", "requireFreshInfo", "-m", "ocsp", "-s", "failIfNoInfo",
             der], capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        if stem == "good":
            assert p.returncode == 0 and "Chain is good!" in out, out
        else:
            assert p.returncode != 0 and "-8180" in out, out


@pytest.mark.parametrize("signer", ["ca", "delegated"])
def test_java_crldp_sharded(tmp_path, make_nginx, pki_dir, java_judge,
                            signer):
    # each leaf points at its shard's CRL; Java matches the CRL's critical
    # IssuingDistributionPoint against that distribution point
    if not os.path.exists(CRLGEN):
        pytest.fail("revoca-crlgen is not built (REVOCA_CRLGEN=ON)")
    j = Judged(tmp_path, pki_dir, signer, make_nginx, shards=4)
    try:
        p = subprocess.run([CRLGEN, "-c", j.s.conf, "--once"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert java_judge.check("crl", j.root, j.issuer,
                                j.leaf("good")) == "good"
        verdict = java_judge.check("crl", j.root, j.issuer, j.leaf("revoked"))
        assert verdict.startswith("revoked reason=KEY_COMPROMISE "), verdict
    finally:
        j.close()
