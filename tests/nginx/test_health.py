"""The revoca_health location: 200 or 503 from what the responder can do
(Redis answering, the signer keeping up with P:due:ISSUER, unexpired
responder certificates), with real nginx, Redis and signer."""
import datetime
import json
import os
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from ocsp_client import get_raw, http
from revoca_fixtures import wait_for

# no revoca_ocsp in this server: the health check stands alone
SERVER = """
        location = /health {
            revoca_health;
        }
        location = /health-tight {
            revoca_health margin=10s;
        }
"""


def health(n, path="/health"):
    r = get_raw(n.port, path)
    assert r.status in (200, 503), r.status
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"
    body = json.loads(r.body)
    assert (r.status == 200) == (body["status"] == "ok"), body
    return r.status, body


def becomes(n, status, path="/health", what=""):
    """Waits (a verdict lives about a second) for STATUS; returns the body."""
    seen = {}

    def check():
        seen["s"], seen["b"] = health(n, path)
        return seen["s"] == status
    wait_for(check, 15, 0.2, what or "health %d" % status)
    return seen["b"]


def test_health(stack, make_nginx):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    wait_for(lambda: stack.stored(stack.serial_of(good)), 30,
             what="the response to be signed")
    # the signer's own schedule is in the future; it is stopped so that it
    # does not work off the entries written below
    stack.signers[0].stop()
    n = make_nginx(stack.conf, server=SERVER)

    status, body = health(n)
    assert status == 200, body
    assert body == {"status": "ok", "redis": "ok", "resign": {"demo": "ok"},
                    "responder_certs": {"demo": "ok"}}
    assert http(n.port, "POST", "/health", b"x").status == 405
    head = http(n.port, "HEAD", "/health")
    assert head.status == 200 and head.body == b""

    # a re-sign two hours overdue: past the default margin (1h)
    r = stack.r()
    r.zadd("revoca:due:demo", {"ffff": int(time.time()) - 7200})
    body = becomes(n, 503, what="the overdue issuer to be reported")
    assert body["resign"] == {"demo": "behind"} and body["redis"] == "ok"
    r.zrem("revoca:due:demo", "ffff")
    becomes(n, 200)

    # a minute overdue: within 1h, beyond margin=10s
    r.zadd("revoca:due:demo", {"ffff": int(time.time()) - 60})
    becomes(n, 503, "/health-tight")
    assert health(n)[0] == 200
    r.zrem("revoca:due:demo", "ffff")
    becomes(n, 200, "/health-tight")

    # Redis down, then back
    stack.redis.stop()
    body = becomes(n, 503, what="Redis down to be reported")
    assert body["redis"] in ("fail", "unknown"), body
    stack.redis.start()
    becomes(n, 200, what="Redis back")


def test_health_expired_responder_certificate(stack, make_nginx):
    src = stack.pki
    with open(os.path.join(src, "issuer.key"), "rb") as f:
        ik = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(src, "responder.key"), "rb") as f:
        rk = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(src, "issuer.pem"), "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    now = datetime.datetime.utcnow().replace(microsecond=0)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(
             x509.oid.NameOID.COMMON_NAME, "expired responder")]))
         .issuer_name(issuer.subject).public_key(rk.public_key())
         .serial_number(7).not_valid_before(now - datetime.timedelta(days=3))
         .not_valid_after(now - datetime.timedelta(days=1))
         .add_extension(x509.ExtendedKeyUsage(
             [ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
         .add_extension(x509.OCSPNoCheck(), critical=False))
    with open(os.path.join(src, "responder.pem"), "wb") as f:
        f.write(b.sign(ik, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM))
    n = make_nginx(stack.conf, server=SERVER)
    status, body = health(n)
    assert status == 503, body
    assert body["responder_certs"] == {"demo": "expired"}
    assert body["redis"] == "ok" and body["resign"] == {"demo": "ok"}
