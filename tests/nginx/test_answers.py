"""good, revoked, unknown and unauthorized answered over POST and GET by
Debian's nginx with the module, fed by the real signer, and checked by
clients we did not write: openssl ocsp, GnuTLS ocsptool, NSS vfychain and
Python cryptography."""
import datetime
import os
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from conftest import Stack
from ocsp_client import get, http, load_cert, post, request_der
from revoca_fixtures import demo_pki, py_ocsp

OK = ocsp.OCSPResponseStatus.SUCCESSFUL


class Env:
    def __init__(self, stack, nginx):
        self.stack = stack
        self.nginx = nginx
        self.port = nginx.port
        self.pki = stack.pki
        self.good = stack.path("good.pem")
        self.revoked = stack.path("revoked.pem")
        self.unissued = stack.path("unissued.pem")


@pytest.fixture
def env(stack, make_nginx):
    stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("revoked.pem"))
    stack.cli("revoke", "--issuer", "demo", "--cert",
              stack.path("revoked.pem"), "--reason", "keyCompromise",
              "--time", "2026-01-02T03:04:05Z", "--wait")
    return Env(stack, make_nginx(stack.conf))


def openssl_ask(env, leaf, digest="sha1", extra=()):
    p = subprocess.run(
        ["openssl", "ocsp", "-issuer", os.path.join(env.pki, "issuer.pem"),
         "-" + digest, "-cert", leaf, "-url", env.nginx.url + "/ocsp",
         "-CAfile", os.path.join(env.pki, "ca.pem"), "-resp_text"] +
        list(extra), capture_output=True, text=True, timeout=60)
    return p.stdout + p.stderr


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_good_and_revoked_python(env, method, digest):
    send = post if method == "POST" else get
    for leaf, want in ((env.good, ocsp.OCSPCertStatus.GOOD),
                       (env.revoked, ocsp.OCSPCertStatus.REVOKED)):
        r = send(env.port, request_der(env.pki, leaf, digest))
        assert r.status == 200
        assert r.headers["content-type"] == "application/ocsp-response"
        resp = py_ocsp(r.body, env.pki)
        assert resp.certificate_status == want
        assert resp.serial_number == load_cert(leaf).serial_number
        assert resp.hash_algorithm.name == digest
        if want == ocsp.OCSPCertStatus.REVOKED:
            assert resp.revocation_time == datetime.datetime(2026, 1, 2, 3, 4, 5)
        # the exact bytes the signer stored for this CertID form
        assert r.body == env.stack.response(
            env.stack.serial_of(leaf), digest)


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_openssl_ocsp_client(env, digest):
    out = openssl_ask(env, env.good, digest, ["-no_nonce"])
    assert "Response verify OK" in out, out
    assert "%s: good" % env.good in out, out
    out = openssl_ask(env, env.revoked, digest, ["-no_nonce"])
    assert "Response verify OK" in out, out
    assert "%s: revoked" % env.revoked in out, out
    assert "Reason: keyCompromise" in out


def test_openssl_with_nonce_gets_presigned_answer(env):
    # Without request-path signing a nonce request gets the pre-signed
    # response (RFC 9654 lets the responder leave the nonce out).
    out = openssl_ask(env, env.good)
    assert "Response verify OK" in out, out
    assert "WARNING: no nonce in response" in out
    assert "%s: good" % env.good in out


def test_gnutls_ocsptool(env):
    for leaf, want in ((env.good, "good"), (env.revoked, "revoked")):
        p = subprocess.run(
            ["ocsptool", "--ask=" + env.nginx.url + "/ocsp", "--load-cert", leaf,
             "--load-issuer", os.path.join(env.pki, "issuer.pem"),
             "--load-signer", os.path.join(env.pki, "responder.pem"),
             "--no-nonce", "--outfile", os.path.join(env.stack.tmp, "r.der")],
            capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        assert "Certificate Status: %s" % want in out, out
        assert "Verifying OCSP Response: Success" in out, out
        assert p.returncode == 0, out


def test_nss_vfychain(env, tmp_path):
    # NSS fetches from the certificate's AIA URL: a leaf pointing at us.
    issuer, issuer_key = demo_pki.load(env.pki, "issuer")
    url = env.nginx.url + "/ocsp"
    leafs = {}
    for name in ("nssgood", "nssrevoked"):
        c, _ = demo_pki.make_leaf(issuer, issuer_key, name + ".demo.test",
                                  ocsp_url=url, crl_url=None)
        p = os.path.join(env.pki, name + ".pem")
        with open(p, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
        with open(p[:-4] + ".der", "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.DER))
        env.stack.cli("issue", "--issuer", "demo", "--cert", p)
        leafs[name] = p[:-4] + ".der"
    env.stack.cli("revoke", "--issuer", "demo", "--cert",
                  os.path.join(env.pki, "nssrevoked.pem"), "--wait")
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", "sql:%s" % db, "--empty-password"],
                   check=True, capture_output=True)
    for stem, trust in (("root", "C,,"), ("issuer", ",,")):
        subprocess.run(["certutil", "-A", "-d", "sql:%s" % db, "-n", stem,
                        "-t", trust, "-a", "-i",
                        os.path.join(env.pki, stem + ".pem")],
                       check=True, capture_output=True)

    def vfy(der):
        p = subprocess.run(
            ["vfychain", "-d", "sql:%s" % db, "-pp", "-u", "1",
             "-g", "leaf", "-h", "requireFreshInfo", "-m", "ocsp",
             "-s", "failIfNoInfo", der],
            capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr

    rc, out = vfy(leafs["nssgood"])
    assert rc == 0 and "Chain is good!" in out, out
    # and it did ask us
    with open(os.path.join(env.nginx.prefix, "access.log")) as f:
        assert "/ocsp" in f.read()
    rc, out = vfy(leafs["nssrevoked"])
    assert rc != 0 and "-8180" in out and "revoked" in out, out


def test_unissued_default_policy_is_unauthorized_without_signing(env):
    # "unknown" needs a signature; pre-produced only: RFC 5019 2.2.3.
    for send in (post, get):
        r = send(env.port, request_der(env.pki, env.unissued))
        assert r.status == 200
        assert r.ocsp_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
        assert r.headers["cache-control"] == "max-age=0, no-cache"
        assert "etag" not in r.headers and "last-modified" not in r.headers


def test_unissued_revoked_via_signer_is_served(env):
    # A serial the CA reports only as revoked has a pre-signed answer.
    serial = env.stack.serial_of(env.unissued)
    env.stack.cli("revoke", "--issuer", "demo", "--serial", serial, "--wait")
    r = post(env.port, request_der(env.pki, env.unissued))
    assert py_ocsp(r.body, env.pki).certificate_status == \
        ocsp.OCSPCertStatus.REVOKED


def test_unknown_issuer_is_unauthorized(env, pki_rsa_dir):
    # a certificate of another CA: no issuer matches the CertID
    other = os.path.join(pki_rsa_dir, "good.pem")
    for send in (post, get):
        r = send(env.port, request_der(pki_rsa_dir, other))
        assert r.ocsp_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
        assert r.headers["cache-control"] == "max-age=0, no-cache"


def test_caching_headers_and_304(env):
    der = request_der(env.pki, env.good)
    r = get(env.port, der)
    resp = py_ocsp(r.body, env.pki)
    cc = r.headers["cache-control"]
    assert cc.startswith("public, no-transform, must-revalidate, max-age=")
    max_age = int(cc.rsplit("=", 1)[1])
    now = time.time()
    nu = resp.next_update.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert 0 < max_age <= nu - now + 1
    lm = r.headers["last-modified"]
    assert lm == resp.this_update.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert "expires" in r.headers
    etag = r.headers["etag"]
    assert etag.startswith('"') and len(etag) > 2
    # conditional requests (from the cache and from Redis alike)
    for _ in range(2):
        r2 = get(env.port, der, headers={"If-None-Match": etag})
        assert r2.status == 304 and r2.body == b""
        r3 = get(env.port, der, headers={"If-Modified-Since": lm})
        assert r3.status == 304
    r4 = get(env.port, der, headers={"If-None-Match": '"other"'})
    assert r4.status == 200 and r4.body == r.body
    # revoked and good answers differ in ETag
    r5 = get(env.port, request_der(env.pki, env.revoked))
    assert r5.headers["etag"] != etag


def test_max_age_not_beyond_resign_point(env):
    # validity 1d, resign_after defaults to half: max-age <= 12 h
    r = post(env.port, request_der(env.pki, env.good))
    resp = py_ocsp(r.body, env.pki)
    max_age = int(r.headers["cache-control"].rsplit("=", 1)[1])
    tu = resp.this_update.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert max_age <= tu + 43200 - time.time() + 1


def test_head_and_methods(env):
    der = request_der(env.pki, env.good)
    import base64
    import urllib.parse
    path = "/ocsp/" + urllib.parse.quote(base64.b64encode(der).decode(), "")
    r = http(env.port, "HEAD", path)
    assert r.status == 200 and r.body == b""
    assert r.headers["content-type"] == "application/ocsp-response"
    for m in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        r = http(env.port, m, "/ocsp", body=der)
        assert r.status == 405, m


def test_revocation_reaches_clients_after_cache_lifetime(stack, make_nginx):
    # revoca_cache_valid bounds how long the shared cache hides a change
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, loc="revoca_cache_valid 1s;")
    der = request_der(stack.pki, good)
    assert py_ocsp(post(n.port, der).body, stack.pki).certificate_status == \
        ocsp.OCSPCertStatus.GOOD
    stack.cli("revoke", "--issuer", "demo", "--cert", good, "--wait")

    def revoked():
        return py_ocsp(post(n.port, der).body, stack.pki).certificate_status \
            == ocsp.OCSPCertStatus.REVOKED
    from revoca_fixtures import wait_for
    wait_for(revoked, 20, 0.2, "the revocation to be served")


def test_rsa_issuer_sha256(tmp_path, pki_rsa_dir, make_nginx):
    s = Stack(tmp_path, pki_rsa_dir)
    try:
        s.start_signer()
        good = s.path("good.pem")
        s.cli("issue", "--issuer", "demo", "--cert", good)
        n = make_nginx(s.conf)
        for digest in ("sha1", "sha256"):
            r = get(n.port, request_der(s.pki, good, digest))
            assert py_ocsp(r.body, s.pki).certificate_status == \
                ocsp.OCSPCertStatus.GOOD
    finally:
        s.close()
