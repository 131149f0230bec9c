"""Redis killed: cached answers are still served while before their
nextUpdate, then tryLater; Redis restarted: answers again without a reload.
Responses with a short validity are signed here with Python cryptography
and written in the signer's format (responder/stored.h: without certs, put
back by the module), so that expiry comes within the test."""
import os
import socket
import threading
import time

import pytest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_client import get_raw, load_cert, post, request_der
from revoca_fixtures import (py_ocsp, wait_for, demo_pki, splice_certs,
                             stored_encode)

TRY_LATER = ocsp.OCSPResponseStatus.TRY_LATER
GOOD = ocsp.OCSPCertStatus.GOOD


def presign(pki, leaf_path, this_update, next_update, status="good",
             signer="responder"):
    """{sha1, sha256, this_update, next_update, status} like revoca-signer:
    each response signed by SIGNER ("responder" or "issuer") without certs
    (stored.h)."""
    import datetime
    leaf = load_cert(leaf_path)
    iss = load_cert(os.path.join(pki, "issuer.pem"))
    rcert = load_cert(os.path.join(pki, signer + ".pem"))
    with open(os.path.join(pki, signer + ".key"), "rb") as f:
        rkey = serialization.load_pem_private_key(f.read(), None)
    utc = datetime.datetime.utcfromtimestamp
    h = {"this_update": this_update, "next_update": next_update,
         "status": status, "issuer": iss}
    # both signed within one second: the same producedAt (stored.h)
    while "sha256" not in h or \
            ocsp.load_der_ocsp_response(h["sha1"]).produced_at != \
            ocsp.load_der_ocsp_response(h["sha256"]).produced_at:
        for field, algo in (("sha1", hashes.SHA1()),
                            ("sha256", hashes.SHA256())):
            b = ocsp.OCSPResponseBuilder().add_response(
                cert=leaf, issuer=iss, algorithm=algo,
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=utc(this_update), next_update=utc(next_update),
                revocation_time=None, revocation_reason=None).responder_id(
                ocsp.OCSPResponderEncoding.HASH, rcert)
            h[field] = b.sign(rkey, hashes.SHA256()).public_bytes(
                serialization.Encoding.DER)
    return h


def encode(h):
    # checked as the signer checks: the SHA-256 response comes back whole
    return stored_encode(h["status"], h["this_update"], h["next_update"],
                         h["sha1"], h["sha256"], h["issuer"])


def store(stack, leaf_path, h):
    stack.r().set("revoca:ocsp:demo:" + stack.serial_of(leaf_path),
                  encode(h))


def make_leaf(stack, name):
    issuer, issuer_key = demo_pki.load(stack.pki, "issuer")
    c, _ = demo_pki.make_leaf(issuer, issuer_key, name + ".demo.test")
    p = os.path.join(stack.pki, name + ".pem")
    with open(p, "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM))
    return p


def status(n, stack, leaf, digest="sha1"):
    r = post(n.port, request_der(stack.pki, leaf, digest))
    assert r.status == 200
    if r.ocsp_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return r.ocsp_status
    return py_ocsp(r.body, stack.pki).certificate_status


def metric(n, name):
    body = get_raw(n.port, "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name + " not in metrics")


def test_redis_killed_then_restarted(stack, make_nginx):
    now = int(time.time())
    a = make_leaf(stack, "long")
    b = make_leaf(stack, "short")
    c = make_leaf(stack, "uncached")
    store(stack, a, presign(stack.pki, a, now - 60, now + 3600))
    store(stack, b, presign(stack.pki, b, now - 60, now + 6))
    n = make_nginx(stack.conf, loc="revoca_cache_valid 1s;")
    assert status(n, stack, a) == GOOD
    assert status(n, stack, b) == GOOD

    stack.redis.kill()
    # cached answers keep being served, an uncached one is tryLater
    assert status(n, stack, a) == GOOD
    assert status(n, stack, b) == GOOD
    assert status(n, stack, c) == TRY_LATER
    r = post(n.port, request_der(stack.pki, c))
    assert r.headers["cache-control"] == "max-age=0, no-cache"
    # past the cache lifetime but before nextUpdate: still served (stale)
    time.sleep(1.5)
    assert status(n, stack, a) == GOOD
    assert metric(n, "revoca_ocsp_stale_served_total") >= 1
    assert metric(n, "revoca_ocsp_redis_errors_total") >= 1
    # past nextUpdate: never served
    while time.time() < now + 7:
        time.sleep(0.2)
    assert status(n, stack, b) == TRY_LATER
    assert status(n, stack, a) == GOOD

    # Redis back (same port, AOF data): answers again, no reload
    stack.redis.start()
    store(stack, c, presign(stack.pki, c, now - 60, now + 3600))
    wait_for(lambda: status(n, stack, c) == GOOD, 20, 0.2,
             "answers after the Redis restart")
    # the expired one stays refused even though Redis still has it
    assert status(n, stack, b) == TRY_LATER
    assert metric(n, "revoca_ocsp_expired_total") >= 1
    # a fresh response for it is picked up
    store(stack, b, presign(stack.pki, b, now - 60, now + 3600))
    assert status(n, stack, b) == GOOD


def test_redis_down_from_start(stack, make_nginx):
    stack.redis.kill()
    n = make_nginx(stack.conf)
    for _ in range(5):
        assert status(n, stack, stack.path("good.pem")) == TRY_LATER
    stack.redis.start()
    stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    assert status(n, stack, stack.path("good.pem")) == GOOD


def test_redis_restart_with_keepalive_connections(stack, make_nginx):
    # idle pooled connections die with Redis; the next query must not fail
    stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    n = make_nginx(stack.conf, loc="revoca_cache off;", workers=1)
    for _ in range(5):
        assert status(n, stack, stack.path("good.pem")) == GOOD
    stack.redis.kill()
    stack.redis.start()
    assert status(n, stack, stack.path("good.pem")) == GOOD


def test_redis_that_never_answers(stack, make_nginx):
    # a peer that accepts and stays silent: our timeout, then tryLater
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        n = make_nginx(http="""
            revoca_config %s;
            revoca_redis 127.0.0.1:%d;
            revoca_redis_timeout 300ms;
            revoca_cache_zone 1m;
        """ % (stack.conf, port), loc="revoca_miss internal_error;")
        assert status(n, stack, stack.path("good.pem")) == \
            ocsp.OCSPResponseStatus.INTERNAL_ERROR
        assert "redis 127.0.0.1:%d read timed out" % port in n.log()
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        srv.close()


def test_redis_garbage_reply(stack, make_nginx):
    # a peer speaking nonsense: protocol error, tryLater, nothing logged
    # above [error]
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            try:
                c.recv(4096)
                c.sendall(b"?this is not RESP\r\n")
            except OSError:
                pass
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        n = make_nginx(http="""
            revoca_config %s;
            revoca_redis 127.0.0.1:%d;
        """ % (stack.conf, port))
        for _ in range(3):
            assert status(n, stack, stack.path("good.pem")) == TRY_LATER
        assert "protocol error" in n.log()
    finally:
        stop.set()
        t.join()
        srv.close()


def responder_der(pki):
    return load_cert(os.path.join(pki, "responder.pem")).public_bytes(
        serialization.Encoding.DER)


def with_sha1(h, der):
    return stored_encode(h["status"], h["this_update"], h["next_update"],
                         der, h["sha256"])


def retag_sig(v):
    # the SHA-256 response's signature made an OCTET STRING
    at = 20 + int.from_bytes(v[18:20], "big")
    assert v[at] == 0x03
    return v[:at] + b"\x04" + v[at + 1:]


# Stored values the signer could not have written (stored.h), each from a
# valid one H: never served, whatever they say.
INVALID = {
    "version 2": lambda h, pki: b"\x02" + encode(h)[1:],
    "truncated": lambda h, pki: encode(h)[:-1],
    "a byte more": lambda h, pki: encode(h) + b"\x00",
    "thisUpdate after nextUpdate": lambda h, pki: encode(
        dict(h, this_update=h["next_update"] + 1)),
    "unknown certStatus": lambda h, pki: encode(h)[:1] + b"\x03" +
    encode(h)[2:],
    "not DER": lambda h, pki: with_sha1(h, b"not DER"),
    "DER cut short": lambda h, pki: with_sha1(h, h["sha1"][:-1]),
    "SHA-256 response stored whole": lambda h, pki: with_sha1(
        h, h["sha256"]),
    "signature not a BIT STRING": lambda h, pki: retag_sig(encode(h)),
    # already whole: certs would be sent twice
    "with certs": lambda h, pki: with_sha1(
        h, splice_certs(h["sha1"], responder_der(pki))),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_presigned_record_is_a_miss(stack, make_nginx, case):
    # a response record the signer could not have written is never served:
    # tryLater (revoca_miss) and an error in the log
    good = stack.path("good.pem")
    now = int(time.time())
    h = presign(stack.pki, good, now - 60, now + 3600)
    key = "revoca:ocsp:demo:" + stack.serial_of(good)
    n = make_nginx(stack.conf, loc="revoca_cache off;")
    # the valid value is served for both CertID hashes, the module
    # rebuilding the SHA-256 response and putting the certificate back
    stack.r().set(key, encode(h))
    for digest in ("sha1", "sha256"):
        assert status(n, stack, good, digest) == GOOD
    stack.r().set(key, INVALID[case](h, stack.pki))
    for digest in ("sha1", "sha256"):
        r = post(n.port, request_der(stack.pki, good, digest))
        assert r.ocsp_status == ocsp.OCSPResponseStatus.TRY_LATER
    assert "incomplete or invalid response record" in n.log()


def test_response_of_another_responder_is_a_miss(stack, make_nginx):
    # signed by the CA while the configuration names a delegated responder
    # (a responder replaced since): its certificate is not the one to send
    good = stack.path("good.pem")
    now = int(time.time())
    store(stack, good, presign(stack.pki, good, now - 60, now + 3600,
                               signer="issuer"))
    n = make_nginx(stack.conf, loc="revoca_cache off;")
    assert status(n, stack, good) == TRY_LATER
    assert "signed by another responder key than the configured one" \
        in n.log()


def test_layout_before_the_stored_format_is_a_miss(stack, make_nginx):
    # a hash of the layout before responder/stored.h (GET: WRONGTYPE) is
    # never served, and named in the log; the signer's next write replaces
    # it (SET)
    good = stack.path("good.pem")
    now = int(time.time())
    h = presign(stack.pki, good, now - 60, now + 3600)
    key = "revoca:ocsp:demo:" + stack.serial_of(good)
    stack.r().hset(key, mapping={
        "sha1": splice_certs(h["sha1"], responder_der(stack.pki)),
        "sha256": splice_certs(h["sha256"], responder_der(stack.pki)),
        "this_update": str(h["this_update"]),
        "next_update": str(h["next_update"]), "status": "good"})
    n = make_nginx(stack.conf, loc="revoca_cache off;")
    assert status(n, stack, good) == TRY_LATER
    assert "to GET of the stored responses \"WRONGTYPE" in n.log()
    stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    assert status(n, stack, good) == GOOD
