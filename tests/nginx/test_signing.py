"""Opt-in signing on the request path with the delegated responder key:
nonces echoed (RFC 9654), never-issued serials answered per the issuer's
policy, and the shared rate limit."""
import datetime
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from conftest import Stack
from ocsp_client import get_raw, post, request_der
from revoca_fixtures import py_ocsp


def metric(n, name):
    for line in get_raw(n.port, "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def nonce_of(resp):
    try:
        return resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def test_nonce_echoed(stack, make_nginx):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("revoked.pem"))
    stack.cli("revoke", "--issuer", "demo", "--cert",
              stack.path("revoked.pem"), "--reason", "superseded", "--wait")
    n = make_nginx(stack.conf, loc="revoca_sign nonce;",
                   http="revoca_config %s; revoca_cache_zone 1m;"
                        " revoca_sign_rate 1000r/s;" % stack.conf)
    for leaf, want in ((good, ocsp.OCSPCertStatus.GOOD),
                       (stack.path("revoked.pem"), ocsp.OCSPCertStatus.REVOKED)):
        nonce = os.urandom(32)
        r = post(n.port, request_der(stack.pki, leaf, nonce=nonce))
        resp = py_ocsp(r.body, stack.pki)
        assert resp.certificate_status == want
        assert nonce_of(resp) == nonce
        assert r.headers["cache-control"] == "max-age=0, no-cache"
        if want == ocsp.OCSPCertStatus.REVOKED:
            assert resp.revocation_reason == x509.ReasonFlags.superseded
    # without a nonce: the pre-signed bytes
    r = post(n.port, request_der(stack.pki, good))
    assert r.body == stack.response(stack.serial_of(good))
    # openssl's default request carries a nonce and checks it
    p = subprocess.run(
        ["openssl", "ocsp", "-issuer", os.path.join(stack.pki, "issuer.pem"),
         "-cert", good, "-url", n.url + "/ocsp",
         "-CAfile", os.path.join(stack.pki, "ca.pem")],
        capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out and "%s: good" % good in out, out
    assert "WARNING" not in out and "nonce verify error" not in out, out
    assert metric(n, "revoca_ocsp_signed_total") >= 3


@pytest.mark.parametrize("policy,want", [
    ("unknown", ocsp.OCSPCertStatus.UNKNOWN),
    ("revoked", ocsp.OCSPCertStatus.REVOKED),
    ("unauthorized", None),
])
def test_unissued_signed_per_policy(tmp_path, pki_dir, make_nginx, policy,
                                    want):
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "unissued": policy}])
    try:
        n = make_nginx(s.conf, loc="revoca_sign unissued;")
        leaf = s.path("unissued.pem")
        for digest in ("sha1", "sha256"):
            r = post(n.port, request_der(s.pki, leaf, digest))
            if want is None:
                assert r.ocsp_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
                continue
            resp = py_ocsp(r.body, s.pki)
            assert resp.certificate_status == want
            assert resp.hash_algorithm.name == digest
            assert r.headers["cache-control"].startswith("public")
            if want == ocsp.OCSPCertStatus.REVOKED:
                # RFC 6960 2.2: certificateHold, revoked at the epoch
                assert resp.revocation_reason == \
                    x509.ReasonFlags.certificate_hold
                assert resp.revocation_time == datetime.datetime(1970, 1, 1)
        # never "good", and answered from the cache the second time
        if want is not None:
            hits = metric(n, "revoca_ocsp_cache_hits_total")
            post(n.port, request_der(s.pki, leaf))
            assert metric(n, "revoca_ocsp_cache_hits_total") == hits + 1
    finally:
        s.close()


def test_sign_rate_limit(stack, make_nginx):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, loc="revoca_sign nonce unissued;"
                                   " revoca_cache off;",
                   http="revoca_config %s; revoca_sign_rate 1r/s burst=1;"
                        % stack.conf)
    with_nonce = 0
    for _ in range(10):
        r = post(n.port, request_der(stack.pki, good, nonce=os.urandom(16)))
        resp = py_ocsp(r.body, stack.pki)
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        with_nonce += nonce_of(resp) is not None
    # limited nonce requests fall back to the pre-signed response
    assert 1 <= with_nonce < 10
    assert metric(n, "revoca_ocsp_sign_rate_limited_total") >= 1
    # a limited never-issued serial: tryLater, never an unsigned "good"
    statuses = set()
    for _ in range(10):
        r = post(n.port, request_der(stack.pki, stack.path("unissued.pem")))
        statuses.add(r.ocsp_status)
    assert ocsp.OCSPResponseStatus.TRY_LATER in statuses


def test_nonce_falls_back_to_cache_when_redis_fails(stack, make_nginx):
    # RFC 9654 lets a responder leave the nonce out: with Redis gone, a
    # nonce request gets the valid cached answer, not tryLater
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, loc="revoca_sign nonce;",
                   http="revoca_config %s; revoca_cache_zone 1m;"
                        " revoca_redis_timeout 1s;"
                        " revoca_redis_connect_timeout 1s;" % stack.conf)
    r = post(n.port, request_der(stack.pki, good))
    assert r.body == stack.response(stack.serial_of(good))
    stack.close()
    r = post(n.port, request_der(stack.pki, good, nonce=os.urandom(16)))
    resp = py_ocsp(r.body, stack.pki)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert nonce_of(resp) is None
    assert metric(n, "revoca_ocsp_stale_served_total") >= 1


def test_record_read_error_is_not_never_issued(stack, make_nginx):
    # a Redis error on the status record must not turn into a signed
    # "unknown"/"revoked" for what may be a good certificate
    leaf = stack.path("unissued.pem")
    stack.r().hset("revoca:cert:demo:%s" % stack.serial_of(leaf), "x", "y")
    n = make_nginx(stack.conf, loc="revoca_sign unissued;")
    r = post(n.port, request_der(stack.pki, leaf))
    assert r.ocsp_status == ocsp.OCSPResponseStatus.TRY_LATER
    assert "unexpected redis reply type" in n.log()


def test_nonce_signing_alone_does_not_answer_unissued(stack, make_nginx):
    # "revoca_sign nonce" signs fresh answers for what the signer answers;
    # a serial with no answer stays unauthorized unless "unissued" is on
    n = make_nginx(stack.conf, loc="revoca_sign nonce;")
    leaf = stack.path("unissued.pem")
    for nonce in (None, os.urandom(16)):
        r = post(n.port, request_der(stack.pki, leaf, nonce=nonce))
        assert r.ocsp_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert metric(n, "revoca_ocsp_signed_total") == 0
