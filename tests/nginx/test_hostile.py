"""Malformed, truncated, oversized, multi-request and garbage input: the
right OCSP status, never cacheable, no crash, nothing in the error log at
[alert]/[crit] (checked when each nginx stops).  Also the GET path quirks
of real clients and proxies."""
import base64
import os
import socket
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_client import get, get_raw, load_cert, post, request_der
from revoca_fixtures import py_ocsp

MALFORMED = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
GOOD = ocsp.OCSPCertStatus.GOOD


@pytest.fixture
def env(stack, make_nginx):
    stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    n = make_nginx(stack.conf)
    n.stack = stack
    n.der = request_der(stack.pki, stack.path("good.pem"))
    return n


def assert_error(r, status=MALFORMED):
    assert r.status == 200
    assert r.headers["content-type"] == "application/ocsp-response"
    assert r.headers["cache-control"] == "max-age=0, no-cache"
    assert r.ocsp_status == status
    assert "etag" not in r.headers


def assert_good(n, r):
    assert r.status == 200, r.status
    assert py_ocsp(r.body, n.stack.pki).certificate_status == GOOD


@pytest.mark.parametrize("body", [
    b"", b"\x00", b"garbage", b"\x30", b"\x30\x80\x00\x00",
    b"\x30\x03\x02\x01\x01", b"\xff" * 5000, os.urandom(600),
], ids=["empty", "nul", "text", "tag-only", "indefinite", "integer",
        "ff-5000", "random"])
def test_garbage_post(env, body):
    assert_error(post(env.port, body))


def test_truncated_and_trailing(env):
    for cut in (1, 2, 10, len(env.der) // 2, len(env.der) - 1):
        assert_error(post(env.port, env.der[:cut]))
        assert_error(get(env.port, env.der[:cut]))
    assert_error(post(env.port, env.der + b"\x00"))
    assert_error(post(env.port, env.der + env.der))


def test_oversized_body(env):
    big = b"\x30\x82\x40\x00" + b"\x00" * 0x4000
    assert_error(post(env.port, big))
    # without Content-Length (chunked): refused once past the limit
    s = socket.create_connection(("127.0.0.1", env.port))
    try:
        chunk = b"\x00" * 20000
        s.sendall(b"POST /ocsp HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/ocsp-request\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                  b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert data.endswith(b"\x30\x03\x0a\x01\x01")


def test_body_over_buffer_size_within_limit(env, make_nginx):
    # a body nginx keeps in a temp file (over client_body_buffer_size) is
    # still read: a valid request padded by a large ignored extension
    n = make_nginx(env.stack.conf, name="small-buffers",
                   loc="client_body_buffer_size 1k;")
    leaf = load_cert(env.stack.path("good.pem"))
    iss = load_cert(os.path.join(env.stack.pki, "issuer.pem"))
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
                                     b"\x04\x82\x07\xd0" + b"a" * 2000)
    der = ocsp.OCSPRequestBuilder().add_certificate(
        leaf, iss, hashes.SHA1()).add_extension(ext, critical=False).build() \
        .public_bytes(serialization.Encoding.DER)
    assert 1024 < len(der) < 10240
    r = post(n.port, der)
    assert_good(env, r)


def test_oversized_get(env):
    path = "/ocsp/" + "A" * 30000
    r = get_raw(env.port, path)
    # nginx's own header limit (414/400) or our malformedRequest
    assert r.status in (400, 414) or r.ocsp_status == MALFORMED
    assert_error(get_raw(env.port, "/ocsp/" + "MIIB" * 1500))


def test_two_single_requests(env):
    # cryptography builds one single per request: splice two by hand
    der1 = request_der(env.stack.pki, env.stack.path("good.pem"))
    der2 = request_der(env.stack.pki, env.stack.path("revoked.pem"))

    def tlv(tag, body):
        n = len(body)
        if n < 0x80:
            return bytes([tag, n]) + body
        lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([tag, 0x80 | len(lb)]) + lb + body

    def first_request(der):
        # walk: 30 L (30 L (30 L (REQ ...)))
        def hdr(b, i):
            l = b[i + 1]
            if l < 0x80:
                return i + 2, l
            k = l & 0x7f
            return i + 2 + k, int.from_bytes(b[i + 2:i + 2 + k], "big")
        i, _ = hdr(der, 0)          # OCSPRequest
        i, _ = hdr(der, i)          # TBSRequest
        i, ln = hdr(der, i)         # requestList
        return der[i:i + ln]
    reqs = first_request(der1) + first_request(der2)
    der = tlv(0x30, tlv(0x30, tlv(0x30, reqs)))
    assert_error(post(env.port, der))
    assert_error(get(env.port, der))
    # the well-formed single is still fine
    assert_good(env, post(env.port, der1))


@pytest.mark.parametrize("path", [
    "/ocsp/", "/ocsp", "/ocsp/!!!!", "/ocsp/MA==", "/ocsp/%ZZ",
    "/ocsp/" + "A" * 7, "/ocsp/////", "/ocsp/%00%00", "/ocsp/%2F%2F",
])
def test_bad_get_paths(env, path):
    r = get_raw(env.port, path)
    if r.status == 400:
        # nginx's own URI parser refuses invalid or NUL escapes first
        assert "%" in path
        return
    assert_error(r)


def test_get_encodings(env):
    b64 = base64.b64encode(env.der).decode()
    variants = {
        "quoted": "/ocsp/" + urllib.parse.quote(b64, safe=""),
        "raw": "/ocsp/" + b64,
        "plus-as-space": "/ocsp/" + b64.replace("+", "%20"),
        "urlsafe": "/ocsp/" + base64.urlsafe_b64encode(env.der).decode(),
        "unpadded": "/ocsp/" + b64.rstrip("="),
        "double-slash-prefix": "/ocsp//" + urllib.parse.quote(b64, safe=""),
        "query": "/ocsp/" + urllib.parse.quote(b64, safe="") + "?x=1",
    }
    for name, path in variants.items():
        assert_good(env, get_raw(env.port, path))


def test_get_with_slashes_in_base64(env):
    # find a request whose base64 holds "//" or "/", then collapse it as a
    # proxy with merge_slashes would
    found = 0
    for i in range(2000):
        der = request_der(env.stack.pki, env.stack.path("good.pem"),
                          nonce=os.urandom(16))
        b64 = base64.b64encode(der).decode()
        if "/" not in b64:
            continue
        # the raw, unquoted path must not be merged by nginx
        assert_good(env, get_raw(env.port, "/ocsp/" + b64))
        if "//" in b64:
            found += 1
            collapsed = b64.replace("//", "/")
            assert_good(env, get_raw(env.port, "/ocsp/" + collapsed))
        if found >= 2:
            break
    assert found, "no request with // in its base64 among 2000 nonces"


def test_unsupported_hash_is_unauthorized(env):
    leaf = load_cert(env.stack.path("good.pem"))
    iss = load_cert(os.path.join(env.stack.pki, "issuer.pem"))
    der = ocsp.OCSPRequestBuilder().add_certificate(
        leaf, iss, hashes.SHA512()).build().public_bytes(
        serialization.Encoding.DER)
    assert_error(post(env.port, der), ocsp.OCSPResponseStatus.UNAUTHORIZED)


def test_nonce_limits(env):
    # RFC 9654: 1..128 octets; a 129-octet nonce is malformed
    ok = request_der(env.stack.pki, env.stack.path("good.pem"),
                     nonce=b"\x01" * 32)
    assert_good(env, post(env.port, ok))
    bad = request_der(env.stack.pki, env.stack.path("good.pem"),
                      nonce=b"\x01" * 129)
    assert_error(post(env.port, bad))


def test_many_connections_closed_early(env):
    # clients that go away mid-request: no leak, no alert
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", env.port))
        s.sendall(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(env.der) + env.der[:10])
        s.close()
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", env.port))
        s.sendall(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(env.der) + env.der)
        s.close()
    assert_good(env, post(env.port, env.der))
