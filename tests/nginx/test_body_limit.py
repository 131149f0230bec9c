"""A POST body is read unbuffered into a buffer of revoca_max_request_size:
a chunked body (no length announced) is refused as soon as it passes the
limit, before the client has sent the rest, and nothing is ever written to
nginx's client_body_temp directory."""
import os
import socket

from cryptography.x509 import ocsp

from ocsp_client import post, request_der
from revoca_fixtures import py_ocsp

MALFORMED_DER = b"\x30\x03\x0a\x01\x01"

HEAD = (b"POST /ocsp HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/ocsp-request\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


def temp_files(n):
    found = []
    for d, _, files in os.walk(os.path.join(n.prefix, "tmp", "body")):
        found += [os.path.join(d, f) for f in files]
    return found


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def read_reply(s):
    """Reads one HTTP response (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            break
        body += d
    return head, body


def test_chunked_body_refused_before_it_is_all_sent(stack, make_nginx):
    # nginx's own limit far above ours, and small buffers: before, the body
    # went to a temporary file and was refused only once all had arrived
    n = make_nginx(stack.conf, loc="client_max_body_size 100m;"
                                   " client_body_buffer_size 4k;")
    total = 16 * 1024 * 1024
    s = socket.create_connection(("127.0.0.1", n.port))
    try:
        s.settimeout(30)  # a hang guard only
        s.sendall(HEAD)
        sent = 0
        # well past revoca_max_request_size (10k), then wait for the answer
        while sent < 256 * 1024:
            s.sendall(b"1000\r\n" + b"\x00" * 0x1000 + b"\r\n")
            sent += 0x1000
        head, body = read_reply(s)
        assert sent < total  # the client has not sent the rest
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"application/ocsp-response" in head
        assert body == MALFORMED_DER
        assert temp_files(n) == []
    finally:
        s.close()
    assert "request body over 10240 bytes refused" in n.log()
    assert "buffered to a temporary file" not in n.log()


def test_valid_chunked_bodies(stack, make_nginx):
    # a valid request in small chunks, and one over client_body_buffer_size:
    # read whole, answered, no temporary file
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, loc="client_body_buffer_size 1k;")
    der = request_der(stack.pki, good)
    for size in (1, 7, len(der)):
        s = socket.create_connection(("127.0.0.1", n.port))
        try:
            s.settimeout(30)
            s.sendall(HEAD + chunked(der, size))
            head, body = read_reply(s)
        finally:
            s.close()
        assert head.startswith(b"HTTP/1.1 200"), head
        assert py_ocsp(body, stack.pki).certificate_status == \
            ocsp.OCSPCertStatus.GOOD
    # exactly at the limit: read, then judged by the decoder
    s = socket.create_connection(("127.0.0.1", n.port))
    try:
        s.settimeout(30)
        s.sendall(HEAD + chunked(b"\x30" + b"\x00" * 10239, 4096))
        head, body = read_reply(s)
    finally:
        s.close()
    assert body == MALFORMED_DER
    assert "over 10240 bytes refused" not in n.log()
    assert temp_files(n) == []
    assert "buffered to a temporary file" not in n.log()


def test_content_length_body_over_buffer_size(stack, make_nginx):
    # Content-Length bodies take the same path: no temporary file either
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf, loc="client_body_buffer_size 1k;"
                                   " revoca_max_request_size 64k;")
    r = post(n.port, request_der(stack.pki, good) + b"\x00" * 3000)
    assert r.ocsp_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    r = post(n.port, request_der(stack.pki, good))
    assert py_ocsp(r.body, stack.pki).certificate_status == \
        ocsp.OCSPCertStatus.GOOD
    assert "buffered to a temporary file" not in n.log()
