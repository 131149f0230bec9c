"""Shared test harness: real redis-server, real revoca-signer and revoca CLI
on free loopback ports, a generated PKI, and helpers to check OCSP
responses with implementations we did not write.

Import from any test directory:
    sys.path.insert(0, <repo>/tests/integration); from revoca_fixtures import *
Binaries come from $REVOCA_BUILD (set by ctest), default <repo>/build.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("REVOCA_BUILD", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "deploy"))

import demo_pki  # noqa: E402

REVOCA = os.path.join(BUILD, "feeds", "revoca")
SIGNER = os.path.join(BUILD, "responder", "revoca-signer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20.0, interval=0.02, what="condition"):
    """Polls PRED until it is truthy; fails the test after TIMEOUT.  The
    timeout is a hang guard, never a performance assertion."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class LoopbackListener:
    """A TCP server of a test's own on a free loopback port: a thread
    accepts connections and hands each to accepted(conn); close() stops
    it.  Subclasses say what a connection gets."""

    def __init__(self, backlog=64):
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted(c)

    def accepted(self, conn):
        raise NotImplementedError

    def close(self):
        self.stop = True
        self.sock.close()


class RedisServer:
    """A real redis-server on a free loopback port, with AOF like prod.
    TLS, a dict with "cert", "key", "ca" (and optionally "client_cert",
    "client_key" for the harness's own client when the server asks for
    one), makes the port a TLS port (plain TCP off); ARGS are more
    redis-server arguments."""

    def __init__(self, workdir, port=None, tls=None, args=()):
        self.dir = workdir
        self.port = port or free_port()
        self.proc = None
        self.tls = tls
        self.args = list(args)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", self.tls["cert"],
                     "--tls-key-file", self.tls["key"],
                     "--tls-ca-cert-file", self.tls["ca"]]
        else:
            ports = ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            ["redis-server"] + ports +
            ["--bind", "127.0.0.1",
             "--dir", self.dir, "--appendonly", "yes", "--save", "",
             "--appendfsync", "no"] + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.ping, 10, what="redis-server")
        return self

    def ping(self):
        try:
            return self.client().ping()
        except Exception:
            return False

    def client(self):
        import redis
        if self.tls:
            return redis.Redis(host="127.0.0.1", port=self.port,
                               socket_timeout=5, ssl=True,
                               ssl_ca_certs=self.tls["ca"],
                               ssl_certfile=self.tls.get("client_cert"),
                               ssl_keyfile=self.tls.get("client_key"))
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self):
        self.kill(signal.SIGTERM)


class Daemon:
    """A background process whose log goes to a file."""

    def __init__(self, argv, log):
        self.argv = argv
        self.log = log
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=self.logf)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s ignored signal %d" % (self.argv[0], sig))
        self.logf.close()
        return self.proc.returncode

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")


ISSUER_DEFAULTS = {
    "cert": "pki/issuer.pem",
    "key": "pki/issuer.key",
    "responder_cert": "pki/responder.pem",
    "responder_key": "pki/responder.key",
    "validity": '"1d"',
}


def conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str) and (v.startswith('"') or v.startswith("{")):
        return v
    return '"%s"' % v


def render_conf(redis_port, issuers, extra="", signer="", redis=""):
    """libconfig text for ISSUERS, a list of dicts of issuer settings;
    REDIS is more settings of the redis group ("tls = true; ...")."""
    parts = []
    for iss in issuers:
        fields = dict(ISSUER_DEFAULTS)
        fields.update(iss)
        body = "".join("    %s = %s;\n" % (k, conf_value(v))
                       for k, v in fields.items() if v is not None)
        parts.append("  {\n%s  }" % body)
    return ('redis = { host = "127.0.0.1"; port = %d; %s};\n'
            'prefix = "revoca";\n'
            'signer = { %sclaim_idle = "2s"; lease = "5s"; %s };\n'
            'cli = { issue_wait = "20s"; };\n%s\n'
            'issuers = (\n%s\n);\n') % (redis_port, redis,
                                          "" if "batch" in signer
                                          else "batch = 64; ",
                                          signer, extra, ",\n".join(parts))


class Stack:
    """Redis + config + PKI + signers for one test, in a temp directory."""

    def __init__(self, tmp, pki_src, issuers=None, extra="", signer="",
                 redis_tls=None, redis_args=(), redis_conf=""):
        self.tmp = str(tmp)
        shutil.copytree(pki_src, os.path.join(self.tmp, "pki"))
        self.pki = os.path.join(self.tmp, "pki")
        self.redis = RedisServer(os.path.join(self.tmp, "redis"),
                                 tls=redis_tls, args=redis_args).start()
        self.conf = os.path.join(self.tmp, "revoca.conf")
        self.signers = []
        self.signer_conf = signer
        self.redis_conf = redis_conf
        self.write_conf(issuers or [{"name": "demo"}], extra)

    def write_conf(self, issuers, extra=""):
        self.issuer_confs = {}
        for iss in issuers:
            fields = dict(ISSUER_DEFAULTS)
            fields.update(iss)
            self.issuer_confs[fields["name"]] = fields
        self.issuers = issuers
        with open(self.conf, "w") as f:
            # the port the file names: Redis's own, or a subclass's choice
            # (redis_fleet.Fleet names a replica, to prove it is not used)
            f.write(render_conf(getattr(self, "conf_port", self.redis.port),
                                issuers, extra, self.signer_conf,
                                self.redis_conf))

    def r(self):
        return self.redis.client()

    def start_signer(self, name=None, conf=None):
        n = len(self.signers)
        d = Daemon([SIGNER, "-c", conf or self.conf, "-v"],
                   os.path.join(self.tmp, "signer%d.log" % n)).start()
        self.signers.append(d)
        return d

    def cli(self, *args, check=True, timeout=60, conf=None):
        p = subprocess.run([REVOCA, "-c", conf or self.conf] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("revoca %s failed (%d): %s" %
                                 (" ".join(args), p.returncode, p.stderr))
        return p

    def path(self, name):
        return os.path.join(self.pki, name)

    def serial_of(self, pem):
        return "%x" % cert(pem).serial_number

    def stored(self, serial, issuer="demo"):
        """The stored responses of SERIAL (stored_decode()), or None."""
        v = self.r().get("revoca:ocsp:%s:%s" % (issuer, serial))
        return None if v is None else stored_decode(v)

    def response(self, serial, field="sha1", issuer="demo"):
        """The response a client gets for SERIAL's FIELD ("sha1" or
        "sha256") CertID: the stored one with the delegated responder's
        certificate put back (as the nginx module does), or None."""
        st = self.stored(serial, issuer)
        if st is None:
            return None
        fields = self.issuer_confs[issuer]
        resp = stored_response(st, field, cert(os.path.join(
            self.tmp, fields["cert"].strip('"'))))
        cert_der = self.responder_der(issuer)
        return resp if cert_der is None else splice_certs(resp, cert_der)

    def responder_der(self, issuer="demo"):
        """ISSUER's delegated responder certificate (DER), None when the CA
        signs for itself (RFC 6960 4.2.2.2: no certs)."""
        from cryptography.hazmat.primitives.serialization import Encoding
        fields = self.issuer_confs[issuer]
        path = fields.get("responder_cert")
        if path is None:
            return None
        path = os.path.join(self.tmp, path.strip('"'))
        ca = os.path.join(self.tmp, fields["cert"].strip('"'))
        if cert(path) == cert(ca):
            return None
        return cert(path).public_bytes(Encoding.DER)

    def close(self):
        for s in self.signers:
            if s.alive():
                s.stop()
        self.redis.stop()


def varint(n):
    """A protobuf base-128 varint."""
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def raw_cert_record(serial, status, not_after=None, revocation_time=None,
                    reason=None, not_before=None):
    """A CertRecord (feeds/revocation.proto) encoded by hand: protobuf-c
    decodes any enum value, so only the core's validation refuses values
    the signer never writes.  notBefore defaults to a day ago."""
    s = serial.encode()
    raw = b"\x0a" + varint(len(s)) + s + b"\x10" + varint(status)
    if not_after is not None:
        if not_before is None:
            not_before = int(time.time()) - 86400
        raw += b"\x18" + varint(not_before) + b"\x20" + varint(not_after)
    if revocation_time is not None:
        raw += b"\x30" + varint(revocation_time)
    if reason is not None:
        raw += b"\x38" + varint(reason)
    return raw


# --- the stored responses (responder/stored.h), written again here from
# the layout drawn there, so that the C reader is checked against an
# independent one ---------------------------------------------------------

STATUS_NAMES = ("good", "revoked", "unknown")


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _items(der):
    """The TLVs that fill DER, each as (tag, contents, whole)."""
    out, o = [], 0
    while o < len(der):
        tag, n, h = der[o], der[o + 1], 2
        if n & 0x80:
            k = n & 0x7f
            n, h = int.from_bytes(der[o + 2:o + 2 + k], "big"), 2 + k
        out.append((tag, der[o + h:o + h + n], der[o:o + h + n]))
        o += h + n
    assert o == len(der)
    return out


def _one(der, tag):
    (t, contents, _), = _items(der)
    assert t == tag, (t, tag)
    return contents


def _basic(resp):
    """The BasicOCSPResponse's elements of the OCSPResponse RESP."""
    status, rb = _items(_one(resp, 0x30))
    assert status[2] == b"\x0a\x01\x00" and rb[0] == 0xa0
    oid, octets = _items(_one(rb[1], 0x30))
    return _items(_one(octets[1], 0x30)), oid[2]


def _wrap(oid, basic):
    return _tlv(0x30, b"\x0a\x01\x00" + _tlv(0xa0, _tlv(0x30, oid + _tlv(
        0x04, _tlv(0x30, basic)))))


def stored_decode(value):
    """P:ocsp:ISSUER:SERIAL, version 1: {"status", "this_update",
    "next_update", "sha1" (its response without certs), "sig256" (the
    SHA-256 response's signature BIT STRING)}."""
    import struct
    assert value[0] == 1, "stored format version %d" % value[0]
    this_update, next_update = struct.unpack(">qq", value[2:18])
    (n,) = struct.unpack(">H", value[18:20])
    assert 0 < n < len(value) - 20
    return {"status": STATUS_NAMES[value[1]], "this_update": this_update,
            "next_update": next_update, "sha1": value[20:20 + n],
            "sig256": value[20 + n:]}


def issuer_hashes(issuer_cert):
    """{"sha1": (nameHash, keyHash), "sha256": ...} of RFC 6960 4.1.1."""
    import hashlib
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat)
    spki = issuer_cert.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    bits = _items(_one(spki, 0x30))[1][1][1:]
    name = issuer_cert.subject.public_bytes()
    return {h: (getattr(hashlib, h)(name).digest(),
                getattr(hashlib, h)(bits).digest())
            for h in ("sha1", "sha256")}


CERTID_ALG = {"sha1": bytes.fromhex("300906052b0e03021a0500"),
              "sha256": bytes.fromhex("300d06096086480165030402010500")}


def stored_response(st, field, issuer_cert):
    """The response without certs for FIELD's CertID from ST
    (stored_decode()): the SHA-1 one as stored, the SHA-256 one made from
    it with the issuer's SHA-256 CertID and the stored signature."""
    if field == "sha1":
        return st["sha1"]
    (_, tbs, _), alg, _sig, = _basic(st["sha1"])[0]
    oid = _basic(st["sha1"])[1]
    rid, produced, responses, *rest = _items(tbs)
    (_, single, _), = _items(responses[1])
    certid, *single_rest = _items(single)
    _alg, _nh, _kh, serial = _items(certid[1])
    nh, kh = issuer_hashes(issuer_cert)[field]
    cid = _tlv(0x30, CERTID_ALG[field] + _tlv(0x04, nh) + _tlv(0x04, kh) +
               serial[2])
    single = _tlv(0x30, cid + b"".join(x[2] for x in single_rest))
    tbs = _tlv(0x30, rid[2] + produced[2] + _tlv(0x30, single) +
               b"".join(x[2] for x in rest))
    return _wrap(oid, tbs + alg[2] + st["sig256"])


def stored_encode(status, this_update, next_update, sha1, sha256,
                  issuer_cert=None, version=1):
    """The value stored_decode() reads, from both responses without certs
    (STATUS by name or number).  With ISSUER_CERT, checks that the SHA-256
    response comes back from it, as the signer does."""
    import struct
    if isinstance(status, str):
        status = STATUS_NAMES.index(status)
    elements, _ = _basic(sha256)
    sig = elements[2][2]
    value = (bytes([version, status]) +
             struct.pack(">qq", this_update, next_update) +
             struct.pack(">H", len(sha1)) + sha1 + sig)
    if issuer_cert is not None:
        assert stored_response(stored_decode(value), "sha256",
                               issuer_cert) == sha256
    return value


def splice_certs(resp, cert_der):
    """RESP (an OCSPResponse without certs) with CERT_DER in certs [0]
    EXPLICIT SEQUENCE OF Certificate (RFC 6960 4.2.1), every enclosing
    length written again."""
    elements, oid = _basic(resp)
    assert len(elements) == 3
    basic = b"".join(x[2] for x in elements) + _tlv(0xa0, _tlv(0x30, cert_der))
    return _wrap(oid, basic)


def cert(path):
    from cryptography import x509
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def make_pki_dir(key_type="ec"):
    d = tempfile.mkdtemp(prefix="revoca-pki-")
    demo_pki.make_pki(d, key_type)
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        for stem in ("issuer", "root"):
            with open(os.path.join(d, stem + ".pem"), "rb") as g:
                f.write(g.read())
    return d


def openssl_ocsp_status(der, pki, leaf, digest="sha1"):
    """`openssl ocsp` reading a stored response: returns (status line,
    full output); raises unless the signature verifies."""
    with tempfile.NamedTemporaryFile(suffix=".der", delete=False) as f:
        f.write(der)
        name = f.name
    try:
        p = subprocess.run(
            ["openssl", "ocsp", "-respin", name, "-issuer",
             os.path.join(pki, "issuer.pem"), "-" + digest, "-cert", leaf,
             "-CAfile", os.path.join(pki, "ca.pem"), "-resp_text"],
            capture_output=True, text=True)
    finally:
        os.unlink(name)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    line = [l for l in out.splitlines() if l.startswith(leaf + ":")]
    assert line, out
    return line[0].split(":", 1)[1].strip(), out


def py_ocsp(der, pki, responder="responder.pem"):
    """Parses with Python cryptography and checks the signature against the
    responder certificate; returns the OCSPResponse."""
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.x509 import ocsp
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    rcert = cert(os.path.join(pki, responder))
    assert resp.certificates and resp.certificates[0] == rcert
    pub = rcert.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(resp.signature, resp.tbs_response_bytes,
                   ec.ECDSA(resp.signature_hash_algorithm))
    else:
        pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(),
                   resp.signature_hash_algorithm)
    return resp


# --- pytest fixtures shared by every suite's conftest.py (imported there) --

def _pki_fixture(key_type):
    import pytest

    @pytest.fixture(scope="session")
    def fixture():
        d = make_pki_dir(key_type)
        yield d
        shutil.rmtree(d, ignore_errors=True)
    return fixture


pki_dir = _pki_fixture("ec")
pki_rsa_dir = _pki_fixture("rsa")


def _stack_fixture():
    import pytest

    @pytest.fixture
    def stack(tmp_path, pki_dir):
        s = Stack(tmp_path, pki_dir)
        yield s
        s.close()
    return stack


stack = _stack_fixture()
