"""The shared cache on the hot path (issue 10): a cached answer carries the
same bytes and caching headers (RFC 5019 6.2, RFC 9111) as the one fetched
from Redis, follows a re-signed response, and eviction in a zone far too
small for the certificates keeps every answer right and keeps the entry
that is asked for all the time."""
import datetime
import email.utils
import os
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ocsp_client import get, get_raw, load_cert, post, request_der
from revoca_fixtures import py_ocsp, wait_for

SERVER = """
        location /ocsp {{
            revoca_ocsp;
            revoca_cache_valid {valid};
        }}
        location /direct {{
            revoca_ocsp;
            revoca_cache off;
        }}
        location = /metrics {{
            revoca_metrics;
        }}
"""

HTTP = """
    revoca_config {conf};
    revoca_cache_zone {zone};
    revoca_redis_timeout 2s;
    revoca_redis_connect_timeout 2s;
"""


def metric(n, name):
    for line in get_raw(n.port, "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


def http_time(s):
    return email.utils.parsedate_to_datetime(s).timestamp()


def check_headers(r, pki):
    """The caching headers of a successful answer, against its own bytes:
    Last-Modified is thisUpdate, max-age ends no later than nextUpdate and
    Expires is Date + max-age (RFC 5019 6.2; RFC 9111 5.2.2.1, 5.3)."""
    resp = py_ocsp(r.body, pki)
    cc = r.headers["cache-control"]
    m = re.fullmatch(r"public, no-transform, must-revalidate, max-age=(\d+)",
                     cc)
    assert m, cc
    max_age = int(m.group(1))
    date = http_time(r.headers["date"])
    nu = resp.next_update.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert 0 < max_age <= nu - date
    assert abs(http_time(r.headers["expires"]) - (date + max_age)) <= 1
    assert r.headers["last-modified"] == \
        resp.this_update.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])
    return resp


def test_cached_answer_headers_follow_a_refresh(stack, make_nginx):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, http=HTTP.format(conf=stack.conf, zone="4m"),
                   server=SERVER.format(valid="1s"))
    der = request_der(stack.pki, good)

    misses = metric(n, "revoca_ocsp_cache_misses_total")
    first = get(n.port, der)                        # from Redis, stored
    hits = metric(n, "revoca_ocsp_cache_hits_total")
    cached = get(n.port, der)                       # from the cache
    assert metric(n, "revoca_ocsp_cache_hits_total") == hits + 1
    assert metric(n, "revoca_ocsp_cache_misses_total") == misses + 1
    assert cached.body == first.body
    for h in ("etag", "last-modified"):
        assert cached.headers[h] == first.headers[h], h
    check_headers(first, stack.pki)
    check_headers(cached, stack.pki)
    # the same bytes from Redis, the same ETag
    assert get(n.port, der, path="/direct/").headers["etag"] == \
        first.headers["etag"]

    # re-signed (revoked): once the entry's 1 s is over, the new bytes
    # and their own headers, from Redis and then from the cache
    stack.cli("revoke", "--issuer", "demo", "--cert", good, "--wait")
    wait_for(lambda: get(n.port, der).body != first.body, 20, 0.2,
             "the re-signed response to be served")
    fresh = get(n.port, der)
    again = get(n.port, der)
    assert again.body == fresh.body
    assert py_ocsp(fresh.body, stack.pki).certificate_status == \
        ocsp.OCSPCertStatus.REVOKED
    assert fresh.headers["etag"] != first.headers["etag"]
    assert again.headers["etag"] == fresh.headers["etag"]
    assert again.headers["last-modified"] == fresh.headers["last-modified"]
    check_headers(fresh, stack.pki)
    check_headers(again, stack.pki)
    r = get(n.port, der, headers={"If-None-Match": fresh.headers["etag"]})
    assert r.status == 304 and r.body == b""
    r = get(n.port, der, headers={"If-None-Match": first.headers["etag"]})
    assert r.status == 200 and r.body == fresh.body


def request_for(pki, serial):
    """An OCSPRequest for SERIAL of pki/issuer.pem: the CertID is Python
    cryptography's, from a stand-in certificate with that serial."""
    issuer = load_cert(os.path.join(pki, "issuer.pem"))
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    leaf = (x509.CertificateBuilder().subject_name(issuer.subject)
            .issuer_name(issuer.subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return ocsp.OCSPRequestBuilder().add_certificate(
        leaf, issuer, hashes.SHA1()).build().public_bytes(
        serialization.Encoding.DER)


def test_eviction_keeps_answers_and_the_hot_entry(stack, make_nginx, tmp_path):
    # the smallest zone (8 pages) holds a score of entries: 80 serials go
    # through it, one of them asked for between every two others
    serials = [0x5000 + i for i in range(80)]
    index = tmp_path / "index.txt"
    index.write_text("".join("V\t301231235959Z\t\t%X\tunknown\t/CN=c%d\n"
                             % (s, s) for s in serials))
    stack.start_signer()
    stack.cli("import", "--issuer", "demo", "--openssl-index", str(index))
    n = make_nginx(stack.conf, http=HTTP.format(conf=stack.conf, zone="32k"),
                   server=SERVER.format(valid="1h"))
    reqs = {s: request_for(stack.pki, s) for s in serials}

    def signed():
        return all(post(n.port, d, path="/direct").ocsp_status ==
                   ocsp.OCSPResponseStatus.SUCCESSFUL for d in reqs.values())
    wait_for(signed, 60, 0.5, "every serial to be signed")

    hot, others = serials[0], serials[1:]
    hits = metric(n, "revoca_ocsp_cache_hits_total")
    misses = metric(n, "revoca_ocsp_cache_misses_total")
    hot_body = post(n.port, reqs[hot]).body
    for s in others:
        for _ in range(2):  # once from Redis, once from wherever it is
            r = post(n.port, reqs[s])
            resp = py_ocsp(r.body, stack.pki)
            assert resp.serial_number == s
            assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert post(n.port, reqs[hot]).body == hot_body
    # every other serial stored once and found once (its second look-up
    # follows its first), the hot one stored once and never evicted
    assert metric(n, "revoca_ocsp_cache_misses_total") == \
        misses + 1 + len(others)
    assert metric(n, "revoca_ocsp_cache_hits_total") == \
        hits + 2 * len(others)
    # the zone is far too small for them all: the first ones are gone
    before = metric(n, "revoca_ocsp_cache_misses_total")
    post(n.port, reqs[others[0]])
    assert metric(n, "revoca_ocsp_cache_misses_total") == before + 1

