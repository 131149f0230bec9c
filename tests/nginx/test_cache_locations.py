"""One cache zone, several locations: a location answers from the cache only
what it could have produced itself, and for its own revoca_cache_valid."""
from cryptography.x509 import ocsp

from ocsp_client import get_raw, post, request_der
from revoca_fixtures import py_ocsp

SERVER = """
        location /signing {{
            revoca_ocsp;
            revoca_sign unissued;
            {signing}
        }}
        location /plain {{
            revoca_ocsp;
            {plain}
        }}
        location = /metrics {{
            revoca_metrics;
        }}
"""


def metric(n, name):
    for line in get_raw(n.port, "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def test_request_path_answer_stays_in_its_location(stack, make_nginx):
    # an "unknown" signed by /signing for a never-issued serial is cached;
    # /plain has no revoca_sign and must keep answering unauthorized
    n = make_nginx(stack.conf, server=SERVER.format(signing="", plain=""))
    leaf = stack.path("unissued.pem")
    der = request_der(stack.pki, leaf)
    r = post(n.port, der, path="/signing")
    assert py_ocsp(r.body, stack.pki).certificate_status == \
        ocsp.OCSPCertStatus.UNKNOWN
    for _ in range(3):
        r = post(n.port, der, path="/plain")
        assert r.ocsp_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    # the entry is still /signing's: a cache hit there, not a new signature
    signed = metric(n, "revoca_ocsp_signed_total")
    hits = metric(n, "revoca_ocsp_cache_hits_total")
    r = post(n.port, der, path="/signing")
    assert py_ocsp(r.body, stack.pki).certificate_status == \
        ocsp.OCSPCertStatus.UNKNOWN
    assert metric(n, "revoca_ocsp_cache_hits_total") == hits + 1
    assert metric(n, "revoca_ocsp_signed_total") == signed


def test_presigned_answer_shared(stack, make_nginx):
    # what the signer pre-signed is every location's to give
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, server=SERVER.format(signing="", plain=""))
    der = request_der(stack.pki, good)
    r = post(n.port, der, path="/plain")
    assert r.body == stack.response(stack.serial_of(good))
    hits = metric(n, "revoca_ocsp_cache_hits_total")
    r = post(n.port, der, path="/signing")
    assert r.body == stack.response(stack.serial_of(good))
    assert metric(n, "revoca_ocsp_cache_hits_total") == hits + 1


def test_cache_lifetime_is_the_asking_locations(stack, make_nginx):
    # an entry stored by a location with a long revoca_cache_valid is not
    # fresh for one whose lifetime is 0: that one asks Redis every time
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, server=SERVER.format(
        signing="revoca_cache_valid 1h;", plain="revoca_cache_valid 0;"))
    der = request_der(stack.pki, good)
    post(n.port, der, path="/signing")
    hits = metric(n, "revoca_ocsp_cache_hits_total")
    misses = metric(n, "revoca_ocsp_cache_misses_total")
    for _ in range(3):
        r = post(n.port, der, path="/plain")
        assert r.body == stack.response(stack.serial_of(good))
    assert metric(n, "revoca_ocsp_cache_hits_total") == hits
    assert metric(n, "revoca_ocsp_cache_misses_total") == misses + 3
