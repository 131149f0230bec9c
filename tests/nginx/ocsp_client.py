"""Small OCSP-over-HTTP client for the tests: requests built by Python
cryptography, sent with http.client so that the exact path and headers are
under the test's control."""
import base64
import http.client as httplib
import os
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def request_der(pki, leaf, digest="sha1", nonce=None):
    """DER OCSPRequest for LEAF (a path) issued by pki/issuer.pem."""
    algo = hashes.SHA1() if digest == "sha1" else hashes.SHA256()
    b = ocsp.OCSPRequestBuilder().add_certificate(
        load_cert(leaf), load_cert(os.path.join(pki, "issuer.pem")), algo)
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


class Reply:
    def __init__(self, resp):
        self.status = resp.status
        # repeated fields joined as one list (RFC 9110 5.3)
        self.headers = {}
        for k, v in resp.getheaders():
            k = k.lower()
            self.headers[k] = self.headers[k] + ", " + v if k in self.headers else v
        self.body = resp.read()

    def ocsp(self):
        return ocsp.load_der_ocsp_response(self.body)

    @property
    def ocsp_status(self):
        return self.ocsp().response_status


def http(port, method, path, body=None, headers=None):
    c = httplib.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        return Reply(c.getresponse())
    finally:
        c.close()


def post(port, der, path="/ocsp", headers=None):
    h = {"Content-Type": "application/ocsp-request"}
    h.update(headers or {})
    return http(port, "POST", path, der, h)


def get(port, der, path="/ocsp/", quote=True, headers=None):
    b64 = base64.b64encode(der).decode()
    if quote:
        b64 = urllib.parse.quote(b64, safe="")
    return http(port, "GET", path + b64, headers=headers)


def get_raw(port, raw_path, headers=None):
    return http(port, "GET", raw_path, headers=headers)


def metrics(n):
    """The module's Prometheus page of nginx N (/metrics), as
    {"name{labels}": value}."""
    out = {}
    for line in get_raw(n.port, "/metrics").body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out
