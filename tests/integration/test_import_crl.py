"""revoca import --crl: revocations taken from a real CA's own CRL.

The CA is `openssl ca` (and Easy-RSA when installed) working on the demo
PKI's issuing CA; its CRLs are imported with the real signer running and the
OCSP answers are checked with `openssl ocsp` and Python cryptography against
what the CRL says.  Delta CRLs and CRLs signed by a stranger key are made
with Python cryptography (openssl ca makes no deltas).
"""
import datetime
import hashlib
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from revoca_fixtures import (REVOCA, Daemon, Stack, cert,  # noqa: E402
                             openssl_ocsp_status, py_ocsp, wait_for)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402

EASYRSA = "/usr/share/easy-rsa/easyrsa"

CA_CNF = """
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/newcerts
certificate = {cert}
private_key = {key}
serial = {d}/serial
crlnumber = {d}/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
"""


class OpensslCA:
    """`openssl ca` with its own directory, signing as CERT / KEY."""

    def __init__(self, d, cert_path, key_path):
        self.d = d
        os.makedirs(os.path.join(d, "newcerts"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(d, "crlnumber"), "w") as f:
            f.write("01\n")
        self.cnf = os.path.join(d, "ca.cnf")
        with open(self.cnf, "w") as f:
            f.write(CA_CNF.format(d=d, cert=cert_path, key=key_path))
        self.n = 0

    def run(self, *args):
        p = subprocess.run(["openssl", "ca", "-batch", "-config", self.cnf] +
                           list(args), capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return p

    def issue(self):
        self.n += 1
        stem = os.path.join(self.d, "leaf%d" % self.n)
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj",
                        "/CN=leaf%d" % self.n, "-keyout", stem + ".key",
                        "-out", stem + ".csr"], check=True,
                       capture_output=True)
        self.run("-in", stem + ".csr", "-out", stem + ".pem", "-extensions",
                 "leaf", "-notext")
        return stem + ".pem"

    def revoke(self, leaf, *how):
        self.run("-revoke", leaf, *how)

    def gencrl(self, name="ca.crl", der=False):
        pem = os.path.join(self.d, name + ".pem")
        self.run("-gencrl", "-out", pem)
        if not der:
            return pem
        out = os.path.join(self.d, name)
        subprocess.run(["openssl", "crl", "-in", pem, "-outform", "DER",
                        "-out", out], check=True)
        return out


def serial_of(leaf):
    return "%x" % cert(leaf).serial_number


def stream_len(s):
    r = s.r()
    return r.xlen("revoca:events") if r.exists("revoca:events") else 0


def records(s):
    r = s.r()
    return {k.decode(): r.get(k) for k in sorted(r.keys("revoca:cert:*"))}


def ocsp_status(s, serial):
    """The single response for SERIAL, parsed and verified, or None."""
    der = s.response(serial)
    return None if der is None else py_ocsp(der, s.pki)


def wait_status(s, serial, status, reason=None):
    def ok():
        r = ocsp_status(s, serial)
        return (r is not None and r.certificate_status == status and
                (reason is None or r.revocation_reason == reason))
    wait_for(ok, what="%s %s %s" % (serial, status, reason))
    return ocsp_status(s, serial)


def import_crl(s, src, *extra, check=True):
    return s.cli("import", "--issuer", "demo", "--crl", src, *extra,
                 check=check)


def issuer_key(s):
    with open(s.path("issuer.key"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def build_crl(s, number, entries, key=None, delta_base=None, days=7,
              extra=None):
    """A CRL of the demo issuer (signed by KEY, default its own), ENTRIES a
    list of (serial int, revocation datetime, ReasonFlags or None)."""
    now = datetime.datetime.utcnow().replace(microsecond=0)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(cert(s.path("issuer.pem")).subject)
         .last_update(now).next_update(now + datetime.timedelta(days=days))
         .add_extension(x509.CRLNumber(number), critical=False))
    if extra is not None:
        b = b.add_extension(extra, critical=True)
    if delta_base is not None:
        b = b.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
    for serial, when, reason in entries:
        rb = (x509.RevokedCertificateBuilder().serial_number(serial)
              .revocation_date(when))
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(key or issuer_key(s), hashes.SHA256())


def write_crl(path, crl, der=True):
    with open(path, "wb") as f:
        f.write(crl.public_bytes(serialization.Encoding.DER if der
                                 else serialization.Encoding.PEM))
    return path


@pytest.fixture
def ca_stack(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir)
    s.start_signer()
    ca = OpensslCA(os.path.join(s.tmp, "ca"), s.path("issuer.pem"),
                   s.path("issuer.key"))
    yield s, ca
    s.close()


def test_openssl_ca_crl_answers_match(ca_stack):
    s, ca = ca_stack
    plain, comp, held, good = (ca.issue() for _ in range(4))
    ca.revoke(plain, "-crl_reason", "superseded")
    ca.revoke(comp, "-crl_compromise", "20260101120000Z")
    ca.revoke(held, "-crl_hold", "holdInstructionReject")
    crl_path = ca.gencrl(der=True)
    crl = x509.load_der_x509_crl(open(crl_path, "rb").read())
    assert len(list(crl)) == 3

    p = import_crl(s, crl_path)
    assert "entries=3 events=3 unchanged=0 skipped=0" in p.stdout, p.stdout

    for leaf, reason in ((plain, x509.ReasonFlags.superseded),
                         (comp, x509.ReasonFlags.key_compromise),
                         (held, x509.ReasonFlags.certificate_hold)):
        serial = serial_of(leaf)
        r = wait_status(s, serial, ocsp.OCSPCertStatus.REVOKED, reason)
        entry = crl.get_revoked_certificate_by_serial_number(
            cert(leaf).serial_number)
        assert r.revocation_time == entry.revocation_date
        # an implementation we did not write reads the same
        line, out = openssl_ocsp_status(s.response(serial), s.pki, leaf)
        assert line == "revoked", out
    # not on the CRL: nothing reported for it
    assert s.stored(serial_of(good)) is None
    # -crl_compromise: keyCompromise with the invalidity date, kept
    st = s.cli("status", "--issuer", "demo", "--serial", serial_of(comp))
    assert "keyCompromise" in st.stdout
    assert "invalidity_date  2026-01-01T12:00:00Z" in st.stdout, st.stdout

    # re-import (PEM this time): the same event ids, the records unchanged
    before = records(s)
    n0 = stream_len(s)
    p = import_crl(s, ca.gencrl("again.crl"))
    assert "events=3" in p.stdout
    assert stream_len(s) == n0 + 3
    # a marker after them: once the signer has applied it, it has read the
    # re-imported events too; they changed nothing
    s.cli("revoke", "--issuer", "demo", "--serial", "ffff01", "--wait")
    after = records(s)
    after.pop("revoca:cert:demo:ffff01")
    assert after == before


def test_wait_returns_once_signed_or_times_out(ca_stack):
    """--wait: on return the revocations are signed; with the signer
    stopped, exit 3 once --wait-timeout is out, the events in the stream."""
    s, ca = ca_stack
    a, b = ca.issue(), ca.issue()
    ca.revoke(a, "-crl_reason", "keyCompromise")
    p = import_crl(s, ca.gencrl("w.crl"), "--wait")
    assert "signed=all" in p.stdout, p.stdout
    st = s.stored(s.serial_of(a))  # no waiting: it is there
    assert st is not None and st["status"] == "revoked"
    for d in s.signers:
        assert d.stop(signal.SIGTERM) == 0
    ca.revoke(b, "-crl_reason", "superseded")
    p = import_crl(s, ca.gencrl("w2.crl"), "--wait", "--wait-timeout", "1",
                   check=False)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "--wait: 0 of 2 events signed after 1s" in p.stderr, p.stderr


def test_stranger_signed_or_foreign_crl_refused_nothing_written(ca_stack):
    s, ca = ca_stack
    leaf = ca.issue()
    ca.revoke(leaf, "-crl_reason", "keyCompromise")
    good = ca.gencrl(der=True)
    other = ec.generate_private_key(ec.SECP256R1())
    bad = write_crl(os.path.join(s.tmp, "stranger.crl"),
                    build_crl(s, 9, [(cert(leaf).serial_number,
                                      datetime.datetime(2026, 1, 1), None)],
                              key=other))
    n0 = stream_len(s)
    p = import_crl(s, bad, check=False)
    assert p.returncode == 2, p.stderr
    assert "stranger.crl: CRL refused for issuer demo: its signature" in \
        p.stderr, p.stderr
    # a CRL of another CA (the root's name): refused by name
    root = OpensslCA(os.path.join(s.tmp, "rootca"), s.path("root.pem"),
                     s.path("root.key"))
    p = import_crl(s, root.gencrl(), check=False)
    assert p.returncode == 2 and "its issuer name" in p.stderr, p.stderr
    # not a CRL at all; a non-http URL
    p = import_crl(s, s.path("issuer.pem"), check=False)
    assert p.returncode == 2 and "not a DER or PEM CRL" in p.stderr
    p = import_crl(s, "ldap://example.invalid/x", check=False)
    assert p.returncode == 2 and "only http and https" in p.stderr
    # a critical extension it does not understand makes a CRL unusable
    crit = build_crl(s, 9, [], extra=x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"))
    p = import_crl(s, write_crl(os.path.join(s.tmp, "crit.crl"), crit),
                   check=False)
    assert p.returncode == 2 and "critical CRL extension" in p.stderr
    assert stream_len(s) == n0
    # the genuine one goes through
    import_crl(s, good)
    assert stream_len(s) == n0 + 1


def test_delta_remove_from_crl_releases_hold(ca_stack):
    s, ca = ca_stack
    leaf = ca.issue()
    # reported issued (a never-issued serial, released, answers as the
    # issuer's `unissued` says, as after revoca release)
    s.cli("issue", "--issuer", "demo", "--cert", leaf)
    ca.revoke(leaf, "-crl_hold", "holdInstructionCallIssuer")
    import_crl(s, ca.gencrl(der=True))
    serial = serial_of(leaf)
    wait_status(s, serial, ocsp.OCSPCertStatus.REVOKED,
                x509.ReasonFlags.certificate_hold)
    now = datetime.datetime.utcnow().replace(microsecond=0)
    # a removeFromCRL on a full CRL is wrong (RFC 5280 5.3.1): skipped,
    # and with --strict nothing is sent
    full = write_crl(os.path.join(s.tmp, "full.crl"), build_crl(
        s, 5, [(cert(leaf).serial_number, now, x509.ReasonFlags.remove_from_crl)]))
    n0 = stream_len(s)
    p = import_crl(s, full, "--strict", check=False)
    assert p.returncode == 2 and "not a delta" in p.stderr, p.stderr
    p = import_crl(s, full)
    assert "skipped=1" in p.stdout and "(skipped)" in p.stderr
    assert stream_len(s) == n0
    delta = write_crl(os.path.join(s.tmp, "delta.crl"), build_crl(
        s, 6, [(cert(leaf).serial_number, now, x509.ReasonFlags.remove_from_crl)],
        delta_base=2), der=False)
    p = import_crl(s, delta)
    assert " delta entries=1 events=1" in p.stdout, p.stdout
    wait_status(s, serial, ocsp.OCSPCertStatus.GOOD)


def test_cabf_profile_rules_and_bad_serials(tmp_path, pki_dir):
    """The profile's rules are the CLI's (policy.h): under cabf a hold and
    cACompromise are refused entry by entry, as revoke and hold refuse."""
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "profile": "cabf"}])
    try:
        ca = OpensslCA(os.path.join(s.tmp, "ca"), s.path("issuer.pem"),
                       s.path("issuer.key"))
        a, b, c = ca.issue(), ca.issue(), ca.issue()
        ca.revoke(a, "-crl_hold", "holdInstructionReject")
        ca.revoke(b, "-crl_reason", "CACompromise")
        ca.revoke(c, "-crl_reason", "keyCompromise")
        crl = ca.gencrl()
        p = import_crl(s, crl, "--strict", check=False)
        assert p.returncode == 2 and "nothing sent (--strict)" in p.stderr
        assert stream_len(s) == 0
        cli = s.cli("hold", "--issuer", "demo", "--serial", "1", check=False)
        hold_msg = cli.stderr.split(": ", 2)[-1].strip()
        p = import_crl(s, crl)
        assert hold_msg in p.stderr, (hold_msg, p.stderr)
        assert "Baseline Requirements" in p.stderr
        assert "entries=3 events=1 unchanged=0 skipped=2" in p.stdout
        assert stream_len(s) == 1
    finally:
        s.close()


def test_bad_serials_skipped_or_strict(ca_stack):
    """Serials the core's rules refuse (zero, over 20 octets), put on the
    CRL by openssl ca from its index: reported and skipped, or under
    --strict nothing is sent."""
    s, ca = ca_stack
    with open(os.path.join(ca.d, "index.txt"), "w") as f:
        for serial in ("00", "01" * 21, "1a2b"):
            f.write("R\t301231235959Z\t260101000000Z,keyCompromise\t%s\t"
                    "unknown\t/CN=x\n" % serial)
    crl = ca.gencrl()
    p = import_crl(s, crl, "--strict", check=False)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("serial is zero, negative or over 20 octets") == 2
    assert stream_len(s) == 0
    p = import_crl(s, crl)
    assert "entries=3 events=1 unchanged=0 skipped=2" in p.stdout, p.stdout
    assert "entry 1 serial 0: serial is zero" in p.stderr, p.stderr
    wait_status(s, "1a2b", ocsp.OCSPCertStatus.REVOKED,
                x509.ReasonFlags.key_compromise)


class CrlServer:
    """http.server on loopback serving one CRL with ETag / Last-Modified
    and 304s; counts requests and records their conditional headers."""

    def __init__(self, tls=None):
        self.body = b""
        self.requests = []
        self.not_modified = 0
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                etag = '"%s"' % hashlib.sha256(srv.body).hexdigest()[:16]
                srv.requests.append({k: self.headers.get(k) for k in
                                     ("If-None-Match", "If-Modified-Since")})
                if self.headers.get("If-None-Match") == etag:
                    srv.not_modified += 1
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("ETag", etag)
                self.send_header("Last-Modified",
                                 "Wed, 02 Dec 2026 06:00:00 GMT")
                self.send_header("Content-Length", str(len(srv.body)))
                self.end_headers()
                self.wfile.write(srv.body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.scheme = "http"
        if tls is not None:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self):
        return "%s://127.0.0.1:%d/issuer.crl" % (self.scheme, self.port)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_follow_over_http(ca_stack):
    s, ca = ca_stack
    first, second = ca.issue(), ca.issue()
    ca.revoke(first, "-crl_reason", "keyCompromise")
    web = CrlServer()
    follower = None
    try:
        old = open(ca.gencrl(der=True), "rb").read()
        web.body = old
        follower = Daemon([REVOCA, "-c", s.conf, "import", "--issuer", "demo",
                           "--crl", web.url(), "--follow", "--interval", "1"],
                          os.path.join(s.tmp, "follow.log")).start()
        wait_status(s, serial_of(first), ocsp.OCSPCertStatus.REVOKED,
                    x509.ReasonFlags.key_compromise)
        # unchanged: asked conditionally, answered 304, nothing sent
        wait_for(lambda: web.not_modified >= 2, what="304s")
        n0 = stream_len(s)
        assert any(r["If-None-Match"] for r in web.requests[1:])
        assert any(r["If-Modified-Since"] for r in web.requests[1:])
        assert stream_len(s) == n0
        # a newer CRL: only its new entry is sent
        ca.revoke(second, "-crl_reason", "affiliationChanged")
        web.body = open(ca.gencrl("new.crl", der=True), "rb").read()
        wait_status(s, serial_of(second), ocsp.OCSPCertStatus.REVOKED,
                    x509.ReasonFlags.affiliation_changed)
        wait_for(lambda: "events=1 unchanged=1" in follower.output(),
                 what="only the change sent")
        assert stream_len(s) == n0 + 1
        # an older CRL (its number goes backwards): refused and logged
        web.body = old
        wait_for(lambda: "is below 2 already imported: refused" in
                 follower.output(), what="backwards refused")
        assert stream_len(s) == n0 + 1
        assert follower.stop(signal.SIGTERM) == 0
        assert "follow stopped" in follower.output()
        # restarted while the web server still has the old CRL: the number
        # imported before the restart is in Redis, so it is refused too
        follower = Daemon([REVOCA, "-c", s.conf, "import", "--issuer", "demo",
                           "--crl", web.url(), "--follow", "--interval", "1"],
                          os.path.join(s.tmp, "follow2.log")).start()
        wait_for(lambda: "is below 2 already imported: refused" in
                 follower.output(), what="backwards refused after restart")
        assert stream_len(s) == n0 + 1
        assert follower.stop(signal.SIGTERM) == 0
        # and a one-shot run of it as well (exit 2); the newest one is
        # imported again (a re-sync)
        p = import_crl(s, web.url(), check=False)
        assert p.returncode == 2 and "is below 2" in p.stderr, p.stderr
        assert stream_len(s) == n0 + 1
        web.body = open(os.path.join(ca.d, "new.crl"), "rb").read()
        p = import_crl(s, web.url())
        assert "number=2 entries=2 events=2" in p.stdout, p.stdout
    finally:
        if follower is not None and follower.alive():
            follower.stop()
        web.close()


@pytest.mark.skipif(not os.path.exists(EASYRSA), reason="easy-rsa not installed")
def test_easy_rsa_crl(tmp_path, pki_dir):
    """Easy-RSA's own CA: build-ca, issue, revoke, gen-crl, imported."""
    pki = os.path.join(str(tmp_path), "easyrsa")
    env = dict(os.environ, EASYRSA_PKI=pki, EASYRSA_BATCH="1",
               EASYRSA_ALGO="ec",
               EASYRSA_CURVE="prime256v1")

    def easyrsa(*args):
        p = subprocess.run([EASYRSA] + list(args), env=env, cwd=str(tmp_path),
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    easyrsa("init-pki")
    easyrsa("--req-cn=Easy-RSA test CA", "build-ca", "nopass")
    easyrsa("build-client-full", "alice", "nopass")
    easyrsa("build-client-full", "bob", "nopass")
    alice = os.path.join(pki, "issued", "alice.crt")
    serial = serial_of(alice)
    alice_pem = os.path.join(str(tmp_path), "alice.pem")
    shutil.copy(alice, alice_pem)
    easyrsa("revoke", "alice", "keyCompromise")
    easyrsa("gen-crl")
    s = Stack(tmp_path, pki_dir, [{
        "name": "easy", "cert": os.path.join(pki, "ca.crt"),
        "key": os.path.join(pki, "private", "ca.key"),
        "responder_cert": os.path.join(pki, "ca.crt"),
        "responder_key": os.path.join(pki, "private", "ca.key")}])
    try:
        s.start_signer()
        p = s.cli("import", "--issuer", "easy", "--crl",
                  os.path.join(pki, "crl.pem"))
        assert "entries=1 events=1" in p.stdout, p.stdout
        wait_for(lambda: s.stored(serial, "easy") is not None and
                 s.stored(serial, "easy")["status"] == "revoked",
                 what="alice revoked")
        der = s.response(serial, issuer="easy")
        r = ocsp.load_der_ocsp_response(der)
        assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert r.revocation_reason == x509.ReasonFlags.key_compromise
        crl = x509.load_pem_x509_crl(open(os.path.join(pki, "crl.pem"),
                                          "rb").read())
        assert r.revocation_time == crl.get_revoked_certificate_by_serial_number(
            int(serial, 16)).revocation_date
        assert s.stored(serial_of(os.path.join(pki, "issued", "bob.crt")),
                        "easy") is None
        # --follow on the file: Easy-RSA's next gen-crl is picked up
        follower = Daemon([REVOCA, "-c", s.conf, "import", "--issuer", "easy",
                           "--crl", os.path.join(pki, "crl.pem"), "--follow",
                           "--interval", "1"],
                          os.path.join(s.tmp, "follow.log")).start()
        try:
            wait_for(lambda: "not modified" in follower.output(),
                     what="unchanged file not read again")
            bob = os.path.join(pki, "issued", "bob.crt")
            bob_serial = serial_of(bob)
            easyrsa("revoke", "bob", "superseded")
            easyrsa("gen-crl")
            wait_for(lambda: s.stored(bob_serial, "easy") is not None,
                     what="bob revoked")
            r = ocsp.load_der_ocsp_response(s.response(bob_serial,
                                                       issuer="easy"))
            assert r.revocation_reason == x509.ReasonFlags.superseded
            assert "events=1 unchanged=1" in follower.output()
            assert follower.stop(signal.SIGTERM) == 0
        finally:
            if follower.alive():
                follower.stop()
        # a CRL of the demo issuer is not Easy-RSA's: refused
        p = s.cli("import", "--issuer", "easy", "--crl",
                  os.path.join(pki, "ca.crt"), check=False)
        assert p.returncode == 2
    finally:
        s.close()
        shutil.rmtree(pki, ignore_errors=True)


def tls_server_cert(s):
    """A certificate for 127.0.0.1 from the demo root: (cert, key) files."""
    import ipaddress
    with open(s.path("root.key"), "rb") as f:
        root_key = serialization.load_pem_private_key(f.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    c = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(
             x509.oid.NameOID.COMMON_NAME, "127.0.0.1")]))
         .issuer_name(cert(s.path("root.pem")).subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.SubjectAlternativeName(
             [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
         .sign(root_key, hashes.SHA256()))
    cf, kf = os.path.join(s.tmp, "tls.pem"), os.path.join(s.tmp, "tls.key")
    with open(cf, "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM))
    with open(kf, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cf, kf


def test_https_checked_against_ca_file(ca_stack):
    s, ca = ca_stack
    leaf = ca.issue()
    ca.revoke(leaf, "-crl_reason", "cessationOfOperation")
    web = CrlServer(tls=tls_server_cert(s))
    try:
        web.body = open(ca.gencrl(), "rb").read()  # PEM over https
        # not trusted by the system's store: the transfer fails, exit 1
        p = import_crl(s, web.url(), check=False)
        assert p.returncode == 1 and web.url() in p.stderr, p.stderr
        assert stream_len(s) == 0
        p = import_crl(s, web.url(), "--ca-file", s.path("root.pem"))
        assert "entries=1 events=1" in p.stdout, p.stdout
        wait_status(s, serial_of(leaf), ocsp.OCSPCertStatus.REVOKED,
                    x509.ReasonFlags.cessation_of_operation)
        # plain http to the TLS port: a failed transfer, nothing written
        p = import_crl(s, web.url().replace("https", "http"), check=False)
        assert p.returncode == 1 and stream_len(s) == 1
    finally:
        web.close()


def test_too_few_replicas_exit_4(tmp_path, pki_dir):
    """redis.min_replica_acks holds for import --crl as for the other
    imports: with a replica down, exit 4 and the events in the stream."""
    from redis_fleet import Fleet
    f = Fleet(tmp_path, pki_dir, sentinels=0,
              redis_conf='min_replica_acks = 2; wait_timeout = "1s"; ')
    try:
        ca = OpensslCA(os.path.join(f.tmp, "ca"), f.path("issuer.pem"),
                       f.path("issuer.key"))
        leaf = ca.issue()
        ca.revoke(leaf, "-crl_reason", "keyCompromise")
        crl = ca.gencrl()
        p = f.cli("import", "--issuer", "demo", "--crl", crl)
        assert "events=1" in p.stdout
        f.servers[2].kill()
        wait_for(lambda: f.replicas_online(f.redis) == len(f.servers) - 2,
                 30, what="the primary to lose a replica")
        n0 = f.r().xlen("revoca:events")
        p = f.cli("import", "--issuer", "demo", "--crl", crl, check=False)
        assert p.returncode == 4, p.stderr
        assert "import --crl: 1 events" in p.stderr
        assert "1 of the 2 replicas" in p.stderr, p.stderr
        assert f.r().xlen("revoca:events") == n0 + 1
    finally:
        f.close()
