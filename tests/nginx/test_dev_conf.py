"""The dev stack's own nginx configuration (deploy/nginx/revoca-dev.conf.in,
rendered as deploy/dev.d/20-nginx.sh does) on free ports: OCSP at /ocsp,
the CRLs revoca-crlgen publishes served at /crl/ with Last-Modified at
thisUpdate and Expires / max-age ending at the CRL's nextUpdate, and the
HTTPS event ingest with the TLS material `demo_pki.py --ingest-tls` makes
(the demo CA's front end "dev-ca" accepted, nothing else)."""
import datetime
import email.utils
import json
import os
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from conftest import NGINX, Nginx, nginx_env
from ocsp_client import http, post, request_der
import demo_pki
from revoca_fixtures import BUILD, Stack, cert, free_port, py_ocsp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "deploy", "nginx", "revoca-dev.conf.in")
CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")


class DevNginx(Nginx):
    """Nginx whose configuration is the dev template, not the tests' one."""

    def __init__(self, prefix, revoca_conf, crl_dir, tls_dir):
        super().__init__(prefix, revoca_conf)
        with open(TEMPLATE) as f:
            text = f.read()
        subst = {"@PREFIX@": self.prefix,
                 "@MODULE@": os.path.join(BUILD, "ngx_module",
                                          "ngx_http_revoca_module.so"),
                 "@BUILD@": BUILD, "@RUN@": self.prefix, "@LOG@": self.prefix,
                 "@REVOCA_CONF@": revoca_conf, "@CRL_DIR@": crl_dir,
                 "@TLS_DIR@": tls_dir,
                 "@USER@": "user root root;" if os.geteuid() == 0 else ""}
        for k, v in subst.items():
            text = text.replace(k, v)
        assert "127.0.0.1:8080;" in text
        text = text.replace("127.0.0.1:8080;", "127.0.0.1:%d;" % self.port)
        assert "127.0.0.1:8443 ssl;" in text
        self.tls_port = free_port()
        text = text.replace("127.0.0.1:8443 ssl;",
                            "127.0.0.1:%d ssl;" % self.tls_port)
        text = "daemon off;\n" + text
        with open(self.conf, "w") as f:
            f.write(text)
        self.error_log = os.path.join(self.prefix, "nginx-error.log")


@pytest.fixture
def dev(tmp_path, pki_dir):
    if not os.path.exists(CRLGEN):
        pytest.fail("revoca-crlgen is not built (REVOCA_CRLGEN=ON)")
    pub = str(tmp_path / "crl")
    # base_url: the dev stack's, which demo_pki's certificates name in
    # their CRL distribution point (revoca issue --cert checks it)
    s = Stack(tmp_path / "stack", pki_dir, extra=(
        'crl = { publish_dir = "%s"; base_url = "http://127.0.0.1:8080/crl/"; };'
        % pub))
    tls = str(tmp_path / "ingest")
    demo_pki.make_ingest_tls(tls, others=("stranger",))
    n = DevNginx(tmp_path / "nginx", s.conf, pub, tls)
    n.tls_dir = tls
    try:
        s.start_signer()
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        s.cli("issue", "--issuer", "demo", "--cert", s.path("revoked.pem"))
        s.cli("revoke", "--issuer", "demo", "--cert", s.path("revoked.pem"),
              "--reason", "keyCompromise", "--wait")
        p = subprocess.run([CRLGEN, "-c", s.conf, "--once"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        n.start()
        yield s, n, pub
        n.stop()
    finally:
        if n.proc and n.proc.poll() is None:
            n.proc.kill()
        s.close()


def check_nginx_t(n):
    p = subprocess.run([NGINX, "-t", "-p", n.prefix, "-c", n.conf,
                        "-e", n.error_log], capture_output=True, text=True,
                       env=nginx_env())
    assert p.returncode == 0, p.stderr


def http_time(value):
    return email.utils.parsedate_to_datetime(value)


@pytest.mark.parametrize("name", ["demo.crl", "demo-delta.crl"])
def test_crl_served_with_lifetime_headers(dev, name):
    s, n, pub = dev
    check_nginx_t(n)
    r = http(n.port, "GET", "/crl/" + name)
    assert r.status == 200
    with open(os.path.join(pub, name), "rb") as f:
        assert r.body == f.read()
    assert r.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(r.body)
    assert crl.is_signature_valid(cert(s.path("issuer.pem")).public_key())
    # Debian's cryptography (38) has naive UTC datetimes
    this_update = crl.last_update.replace(tzinfo=datetime.timezone.utc)
    next_update = crl.next_update.replace(tzinfo=datetime.timezone.utc)
    assert http_time(r.headers["last-modified"]) == this_update
    assert http_time(r.headers["expires"]) == next_update
    cc = [v.strip() for v in r.headers["cache-control"].split(",")]
    assert "public" in cc and "no-transform" in cc
    max_age = [int(v.split("=")[1]) for v in cc if v.startswith("max-age=")]
    date = http_time(r.headers["date"])
    assert max_age == [int((next_update - date).total_seconds())]

    # a revalidating CDN gets 304 from the file's ETag
    r2 = http(n.port, "GET", "/crl/" + name,
              headers={"If-None-Match": r.headers["etag"]})
    assert r2.status == 304


def test_shard_list_and_ocsp(dev):
    s, n, pub = dev
    r = http(n.port, "GET", "/crl/demo-shards.json")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert "max-age=0" in r.headers["cache-control"]

    r = post(n.port, request_der(s.pki, s.path("revoked.pem")))
    assert r.status == 200
    py_ocsp(r.body, s.pki)
    single = r.ocsp()
    assert single.certificate_status == ocsp.OCSPCertStatus.REVOKED

    # the dev config signs never-issued serials per the issuer's policy
    r = post(n.port, request_der(s.pki, s.path("unissued.pem")))
    assert r.status == 200
    assert r.ocsp().certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def ingest(n, body, client="client"):
    """POST BODY to the dev ingest over TLS, with the certificate CLIENT
    of the ingest's TLS CA (or none): (status, JSON reply)."""
    ctx = ssl.create_default_context(
        cafile=os.path.join(n.tls_dir, "tls-ca.pem"))
    if client:
        ctx.load_cert_chain(os.path.join(n.tls_dir, client + ".pem"),
                            os.path.join(n.tls_dir, client + ".key"))
    data = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", n.tls_port), 10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as c:
            c.sendall(b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(data) + data)
            reply = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                reply += b
    head, _, payload = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_ingest_accepts_the_dev_client_only(dev):
    s, n, pub = dev
    serial = "%x" % cert(s.path("good.pem")).serial_number
    st, body = ingest(n, {"kind": "hold", "issuer": "demo",
                          "serial": serial, "wait": True})
    assert (st, body) == (200, {"accepted": 1, "signed": True})
    r = post(n.port, request_der(s.pki, s.path("good.pem")))
    assert r.ocsp().certificate_status == ocsp.OCSPCertStatus.REVOKED
    # the history names the dev client by its certificate
    h = json.loads(s.cli("status", "--issuer", "demo", "--serial", serial,
                         "--json").stdout)["history"]
    assert h[-1]["kind"] == "hold"
    assert h[-1]["origin"]["via"] == "ingest"
    assert h[-1]["origin"]["principal"].startswith("CN=dev-ca,O=Revoca demo")
    # a certificate of the same TLS CA, but no configured client's:
    # refused, nothing written
    n_events = s.r().xlen("revoca:events")
    st, body = ingest(n, {"kind": "release", "issuer": "demo",
                          "serial": serial}, client="client-stranger")
    assert st == 403 and body["error"]["code"] == "forbidden", body
    assert s.r().xlen("revoca:events") == n_events
