"""The HTTPS event ingest (revoca_ingest, issue 13): real nginx with the
module, client certificates made here, real Redis and revoca-signer.
Events are accepted as JSON (one or a batch) and protobuf, answered by OCSP
afterwards (`openssl ocsp`), idempotent by id; bad input, unknown or
unauthorised clients and oversized bodies are refused with nothing written;
a Redis outage is a 503 with Retry-After; a wait ends 200 once signed or
202 when the signer does not apply the events in time."""
import datetime
import http.client
import ipaddress
import json
import os
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

import demo_pki
from conftest import Nginx, Stack
from redis_fleet import Fleet
from revoca_fixtures import free_port, render_conf, varint, wait_for

DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([
        x509.NameAttribute(x509.oid.NameOID.ORGANIZATION_NAME, "Revoca demo"),
        x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, cn)])


def _cert(ca, ca_key, cn, eku, san=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    b = (x509.CertificateBuilder().subject_name(_name(cn))
         .issuer_name(ca.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - DAY).not_valid_after(now + DAY)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                        critical=True)
         .add_extension(x509.ExtendedKeyUsage([eku]), critical=False))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


class TlsPki:
    """A TLS CA of the ingest's own (not the OCSP issuer): nginx's server
    certificate and the clients' certificates."""

    def __init__(self, d):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        self.ca = demo_pki.make_ca("Ingest TLS CA", key)
        self.ca_key = key
        demo_pki.save(d, "tls-ca", self.ca)
        cert, k = _cert(self.ca, key, "127.0.0.1",
                        ExtendedKeyUsageOID.SERVER_AUTH,
                        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        demo_pki.save(d, "server", cert, k)
        self.clients = {}

    def client(self, name, ca=None, ca_key=None):
        cert, key = _cert(ca or self.ca, ca_key or self.ca_key, name,
                          ExtendedKeyUsageOID.CLIENT_AUTH)
        demo_pki.save(self.dir, name, cert, key)
        self.clients[name] = cert
        return cert

    def path(self, stem):
        return os.path.join(self.dir, stem)

    def sha256(self, name):
        return self.clients[name].fingerprint(hashes.SHA256()).hex()

    def subject(self, name):
        return self.clients[name].subject.rfc4514_string()


class Ingest:
    """nginx with an HTTPS server: /ingest (clients ca-front: every kind;
    revoker: revoke only, by fingerprint), /quick (a wait of 1 s), /small
    (a 1 kB body limit),
    /ocsp and /metrics, and the OCSP location on a plain port too."""

    def __init__(self, stack, make_nginx, tmp_path, http=None):
        self.stack = stack
        self.tls = TlsPki(str(tmp_path / "tls"))
        self.tls.client("ca-front")
        self.tls.client("revoker")
        self.tls.client("stranger")  # trusted, but not configured
        self.plain = free_port()
        clients = (
            'revoca_ingest_client ca-front "subject=%s" issuers=demo;\n'
            'revoca_ingest_client revoker sha256=%s issuers=demo'
            ' kinds=revoke;\n' % (self.tls.subject("ca-front"),
                                  self.tls.sha256("revoker")))
        server = """
        listen 127.0.0.1:%(plain)d;
        ssl_certificate %(dir)s/server.pem;
        ssl_certificate_key %(dir)s/server.key;
        ssl_client_certificate %(dir)s/tls-ca.pem;
        ssl_verify_client optional;
        client_max_body_size 16m;
        location = /ingest {
            revoca_ingest;
            revoca_ingest_wait %(wait)s;
            %(clients)s
        }
        location = /quick {
            revoca_ingest;
            revoca_ingest_wait 1s;
            %(clients)s
        }
        location = /small {
            revoca_ingest;
            revoca_ingest_max_body 1k;
            %(clients)s
        }
        location /ocsp {
            revoca_ocsp;
        }
        location = /metrics {
            revoca_metrics;
        }
""" % {"plain": self.plain, "dir": self.tls.dir, "wait": "20s",
            "clients": clients}
        self.nginx = make_nginx(stack.conf, ssl=True, server=server,
                                http=http)

    def context(self, client):
        ctx = ssl.create_default_context(cafile=self.tls.path("tls-ca.pem"))
        if client:
            ctx.load_cert_chain(self.tls.path(client + ".pem"),
                                self.tls.path(client + ".key"))
        return ctx

    def connect(self, client="ca-front"):
        return http.client.HTTPSConnection("127.0.0.1", self.nginx.port,
                                           context=self.context(client),
                                           timeout=30)

    def post(self, body, client="ca-front", path="/ingest",
             ctype="application/json", conn=None, headers=None):
        c = conn or self.connect(client)
        try:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            h = {"Content-Type": ctype} if ctype else {}
            h.update(headers or {})
            c.request("POST", path, body=body, headers=h)
            resp = c.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), json.loads(data)
        finally:
            if conn is None:
                c.close()

    def ocsp(self, leaf):
        """`openssl ocsp` against the responder (plain port): the status
        word of LEAF, the response verified."""
        pki = self.stack.pki
        p = subprocess.run(
            ["openssl", "ocsp", "-issuer", os.path.join(pki, "issuer.pem"),
             "-cert", leaf, "-url", "http://127.0.0.1:%d/ocsp" % self.plain,
             "-CAfile", os.path.join(pki, "ca.pem"), "-no_nonce"],
            capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        assert "Response verify OK" in out, out
        line = [l for l in out.splitlines() if l.startswith(leaf + ":")]
        assert line, out
        return line[0].split(":", 1)[1].strip()

    def metric(self, name, **labels):
        c = http.client.HTTPConnection("127.0.0.1", self.plain, timeout=30)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        want = name + "{" + ",".join('%s="%s"' % kv
                                     for kv in sorted(labels.items())) + "}"
        for line in text.splitlines():
            if line.startswith(want + " "):
                return int(line.split()[1])
        raise AssertionError("%s not in\n%s" % (want, text))


def pem(path):
    with open(path) as f:
        return f.read()


def stream_len(stack):
    return stack.r().xlen("revoca:events")


def entries(stack):
    return [e[1][b"e"] for e in stack.r().xrange("revoca:events")]


@pytest.fixture
def ing(stack, make_nginx, tmp_path):
    return Ingest(stack, make_nginx, tmp_path)


def test_json_single_and_batch_answered_by_ocsp(stack, ing):
    stack.start_signer()
    good, revoked = stack.path("good.pem"), stack.path("revoked.pem")
    # one event: the certificate itself, PEM; wait until signed
    st, _, body = ing.post({"kind": "issue", "issuer": "demo",
                            "certificate": pem(good), "wait": True})
    assert (st, body) == (200, {"accepted": 1, "signed": True})
    assert ing.ocsp(good) == "good"
    # a batch: the other certificate and a never-issued serial, then its
    # revocation, over one keep-alive connection
    conn = ing.connect()
    future = int(datetime.datetime.utcnow().timestamp()) + 86400
    st, _, body = ing.post({"events": [
        {"kind": "issue", "issuer": "demo", "certificate": pem(revoked)},
        {"kind": "issue", "issuer": "demo", "serial": "0a:bc:de",
         "not_after": future}], "wait": True}, conn=conn)
    assert (st, body) == (200, {"accepted": 2, "signed": True})
    st, _, body = ing.post([{"kind": "revoke", "issuer": "demo",
                             "serial": stack.serial_of(revoked),
                             "reason": "keyCompromise"}],
                           conn=conn)
    assert (st, body) == (200, {"accepted": 1})
    conn.close()
    wait_for(lambda: ing.ocsp(revoked) == "revoked", 20,
             what="the revocation answered")
    assert stack.r().exists("revoca:cert:demo:abcde")
    # every accepted event records the client: via ingest, its DN and
    # certificate fingerprint
    evs = entries(stack)
    assert len(evs) == 4
    for e in evs:
        assert b"ingest" in e
        assert ing.tls.subject("ca-front").encode() in e
        assert ("sha256:" + ing.tls.sha256("ca-front")).encode() in e
    assert ing.metric("revoca_ingest_requests_total", client="ca-front",
                      outcome="accepted") == 3
    assert ing.metric("revoca_ingest_events_total", client="ca-front",
                      outcome="accepted") == 4
    # what the operator sees of it: the history names the client (issue
    # 14 section 1) and the inventory the certificate's subject, taken
    # from the certificate the client sent (section 5)
    serial = stack.serial_of(revoked)
    h = json.loads(stack.cli("status", "--issuer", "demo", "--serial",
                             serial, "--json").stdout)["history"]
    assert [e["kind"] for e in h] == ["issued", "revoked"]
    for e in h:
        assert e["origin"]["via"] == "ingest"
        assert ("sha256:" + ing.tls.sha256("ca-front")) in \
            e["origin"]["principal"]
    inv = {r["serial"]: r for r in json.loads(stack.cli(
        "inventory", "--issuer", "demo", "--format", "json").stdout)}
    subject = x509.load_pem_x509_certificate(
        open(revoked, "rb").read()).subject.rfc4514_string()
    assert inv[serial]["subject"] == subject
    assert inv[serial]["status"] == "revoked"
    assert inv["abcde"]["subject"] is None


def pb_string(field, s):
    b = s.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def pb_int(field, v):
    return varint(field << 3) + varint(v)


def pb_revoke(event_id, serial, t, reason):
    revoked = pb_int(1, t) + pb_int(2, reason)
    return (pb_string(1, event_id) + pb_string(2, "demo") +
            pb_string(3, serial) + pb_int(4, t) +
            varint(6 << 3 | 2) + varint(len(revoked)) + revoked +
            # an origin of the sender's own: dropped, the receiver stamps
            varint(9 << 3 | 2) + varint(len(pb_string(1, "forged"))) +
            pb_string(1, "forged"))


def test_protobuf_body_and_idempotent_retry(stack, ing):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    serial = stack.serial_of(good)
    t = int(datetime.datetime.utcnow().timestamp()) - 60
    ev = pb_revoke("pb-1", serial, t, 4)  # superseded
    st, _, body = ing.post(ev, client="revoker",
                           ctype="application/x-protobuf",
                           path="/ingest?wait=1")
    assert (st, body) == (200, {"accepted": 1, "signed": True})
    assert ing.ocsp(good) == "revoked"
    n = stream_len(stack)
    assert b"forged" not in entries(stack)[-1]
    assert ing.tls.sha256("revoker").encode() in entries(stack)[-1]
    # the same event again (a retry): accepted, applied once
    record = stack.r().get("revoca:cert:demo:" + serial)
    st, _, body = ing.post(ev, client="revoker",
                           ctype="application/x-protobuf",
                           path="/ingest?wait=1")
    assert (st, body) == (200, {"accepted": 1, "signed": True})
    assert stream_len(stack) == n + 1
    assert stack.r().get("revoca:cert:demo:" + serial) == record
    # a JSON retry of one id, twice: the same outcome
    for _ in range(2):
        st, _, body = ing.post({"kind": "hold", "issuer": "demo",
                                "serial": "77", "id": "hold-77",
                                "time": t, "wait": True})
        assert (st, body) == (200, {"accepted": 1, "signed": True})
    # a protobuf body that is not an Event
    before = stream_len(stack)
    st, _, body = ing.post(ev[:-3], client="revoker",
                           ctype="application/x-protobuf")
    assert st == 400 and body["error"]["field"] == "events[0]"
    assert stream_len(stack) == before


def test_certificate_issue_derives_its_shard(tmp_path, pki_dir, make_nginx):
    base = "http://127.0.0.1:8080/crl/"
    s = Stack(tmp_path / "stack", pki_dir, [{"name": "demo", "shards": 4}],
              extra='crl = { publish_dir = "pub"; base_url = "%s"; };'
              % base)
    try:
        s.start_signer()
        ing = Ingest(s, make_nginx, tmp_path)
        ca, ca_key = demo_pki.load(s.pki, "issuer")
        serial = x509.random_serial_number()
        shard = (serial + 1) % 4   # never serial % 4: derived, not guessed
        leaf, _ = demo_pki.make_leaf(
            ca, ca_key, "sharded.demo.test", serial=serial,
            crl_url="%sdemo-shard-%d.crl" % (base, shard))
        text = leaf.public_bytes(serialization.Encoding.PEM).decode()
        st, _, body = ing.post({"kind": "issue", "issuer": "demo",
                                "certificate": text, "wait": True})
        assert (st, body) == (200, {"accepted": 1, "signed": True})
        st, _, body = ing.post({"kind": "revoke", "issuer": "demo",
                                "serial": "%x" % serial, "wait": True})
        assert (st, body) == (200, {"accepted": 1, "signed": True})
        assert [i for i in range(4) if s.r().hexists(
            "revoca:revoked:demo:%d" % i, "%x" % serial)] == [shard]
        # a shard that disagrees with the distribution point: refused
        other, _ = demo_pki.make_leaf(
            ca, ca_key, "other.demo.test", serial=serial + 7,
            crl_url="%sdemo-shard-%d.crl" % (base, shard))
        n = stream_len(s)
        st, _, body = ing.post({
            "kind": "issue", "issuer": "demo", "shard": (shard + 1) % 4,
            "certificate": other.public_bytes(
                serialization.Encoding.PEM).decode()})
        assert st == 400, body
        assert body["error"]["field"] == "events[0].certificate"
        assert stream_len(s) == n
    finally:
        s.close()


BAD = [
    (b"{", "", "not JSON"),
    ({"kind": "issue", "issuer": "demo", "serial": "xyz",
      "not_after": 2000000000}, "events[0].serial", "not a serial"),
    ([{"kind": "hold", "issuer": "demo", "serial": "1"},
      {"kind": "revoke", "issuer": "demo", "serial": "2",
       "reason": "certificateHold"}], "events[1].reason", "reason"),
    ({"kind": "issue", "issuer": "demo", "serial": "5"},
     "events[0].not_after", "missing"),
    ({"kind": "issue", "issuer": "demo", "serial": "5", "not_after": 1000},
     "events[0].not_after", "in the past"),
    ({"kind": "revoke", "issuer": "demo", "serial": "5", "origin": "x"},
     "events[0].origin", "unknown member"),
    ({"kind": "issue", "issuer": "demo", "certificate": "bm90IGEgY2VydA=="},
     "events[0].certificate", "not a PEM"),
    ({"kind": "issue", "issuer": "nope", "serial": "5",
      "not_after": 2000000000}, None, None),  # 403: not this client's
]


def test_bad_input_refused_nothing_written(stack, ing):
    stack.r().xadd("revoca:events", {"x": "y"})  # the stream exists
    n = stream_len(stack)
    for body, field, reason in BAD:
        st, _, reply = ing.post(body)
        if field is None:
            assert st == 403, reply
            continue
        assert st == 400, (body, reply)
        assert reply["error"]["code"] == "invalid"
        assert reply["error"]["field"] == field, reply
        assert reason in reply["error"]["reason"], reply
    # another CA's certificate for demo
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = demo_pki.make_ca("Not the issuer", ca_key)
    stray, _ = demo_pki.make_leaf(ca, ca_key, "stray.demo.test")
    st, _, reply = ing.post({"kind": "issue", "issuer": "demo",
                             "certificate": stray.public_bytes(
                                 serialization.Encoding.PEM).decode()})
    assert st == 400 and reply["error"]["field"] == "events[0].certificate"
    st, _, reply = ing.post("{}", ctype="text/plain")
    assert st == 415 and reply["error"]["code"] == "content_type"
    c = ing.connect()
    c.request("GET", "/ingest")
    r = c.getresponse()
    assert r.status == 405 and json.loads(r.read())["error"]["code"]
    c.close()
    assert stream_len(stack) == n
    assert ing.metric("revoca_ingest_requests_total", client="ca-front",
                      outcome="invalid") == len(BAD) + 1
    assert ing.metric("revoca_ingest_requests_total", client="ca-front",
                      outcome="forbidden") == 1


def test_oversized_body_413(stack, ing):
    stack.r().xadd("revoca:events", {"x": "y"})
    n = stream_len(stack)
    big = [{"kind": "hold", "issuer": "demo", "serial": "%x" % (i + 1)}
           for i in range(40)]
    st, _, reply = ing.post(big, path="/small")
    assert st == 413 and reply["error"]["code"] == "too_large"
    # chunked: no length announced, refused once read
    c = ing.connect()
    c.putrequest("POST", "/small")
    c.putheader("Content-Type", "application/json")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    data = json.dumps(big).encode()
    c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    r = c.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]["code"]
    c.close()
    # the same body within a location's limit is fine
    st, _, reply = ing.post(big)
    assert (st, reply) == (200, {"accepted": 40})
    assert stream_len(stack) == n + 40
    # one larger than client_body_buffer_size (16k): read back from
    # nginx's temporary file
    many = [{"kind": "hold", "issuer": "demo", "serial": "%x" % (i + 1),
             "id": "many-%d" % i} for i in range(2000)]
    assert len(json.dumps(many)) > 64 * 1024
    st, _, reply = ing.post(many)
    assert (st, reply) == (200, {"accepted": 2000})
    assert stream_len(stack) == n + 2040
    assert "buffered to a temporary file" in ing.nginx.log()
    assert ing.metric("revoca_ingest_requests_total", client="ca-front",
                      outcome="too_large") == 2


def test_unauthorised_clients_403(stack, ing):
    stack.r().xadd("revoca:events", {"x": "y"})
    n = stream_len(stack)
    hold = {"kind": "hold", "issuer": "demo", "serial": "1"}
    for client in (None, "stranger"):
        st, _, reply = ing.post(hold, client=client)
        assert st == 403 and reply["error"]["code"] == "forbidden", reply
    # revoke-only: a hold, and an issue in a batch, refused whole
    st, _, reply = ing.post(hold, client="revoker")
    assert st == 403 and reply["error"]["field"] == "events[0].kind"
    st, _, reply = ing.post([{"kind": "revoke", "issuer": "demo",
                              "serial": "1"},
                             {"kind": "issue", "issuer": "demo",
                              "serial": "2", "not_after": 2000000000}],
                            client="revoker")
    assert st == 403 and reply["error"]["field"] == "events[1].kind"
    # a certificate of a CA nginx does not trust: the handshake fails
    # (ssl_verify_client), nothing reaches the module
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = demo_pki.make_ca("Other TLS CA", other_key)
    ing.tls.client("forged", other, other_key)
    try:
        st, _, reply = ing.post(hold, client="forged")
        assert st in (400, 403), reply
    except (ssl.SSLError, ConnectionError, http.client.HTTPException,
            json.JSONDecodeError):
        pass
    assert stream_len(stack) == n
    assert ing.metric("revoca_ingest_requests_total", client="",
                      outcome="forbidden") == 2
    assert ing.metric("revoca_ingest_requests_total", client="revoker",
                      outcome="forbidden") == 2
    assert "may not report kind hold" in ing.nginx.log()


def test_redis_down_503(stack, ing):
    st, _, reply = ing.post({"kind": "hold", "issuer": "demo",
                             "serial": "1"})
    assert st == 200
    stack.redis.stop()
    st, headers, reply = ing.post({"kind": "hold", "issuer": "demo",
                                   "serial": "2"})
    assert st == 503, reply
    assert reply["error"]["code"] == "redis"
    assert int(headers["Retry-After"]) > 0
    assert ing.metric("revoca_ingest_requests_total", client="ca-front",
                      outcome="unavailable") == 1


def test_wait_202_without_signer(stack, ing):
    good = stack.path("good.pem")
    conn = ing.connect()
    st, _, reply = ing.post({"kind": "issue", "issuer": "demo",
                             "certificate": pem(good), "wait": True},
                            conn=conn, path="/quick")
    assert st == 202, reply
    assert reply["accepted"] == 1 and reply["signed"] is False
    assert reply["pending"] == 1 and "not yet signed" in reply["reason"]
    assert stream_len(stack) == 1
    # the connection is still usable, the worker was never blocked: the
    # signer comes, the same event (its id made anew: a new event, applied
    # once more to the same effect) is then signed in time
    stack.start_signer()
    st, _, reply = ing.post({"kind": "issue", "issuer": "demo",
                             "certificate": pem(good), "wait": True},
                            conn=conn)
    assert (st, reply) == (200, {"accepted": 1, "signed": True})
    conn.close()
    assert ing.ocsp(good) == "good"
    assert ing.metric("revoca_ingest_requests_total", client="ca-front",
                      outcome="pending") == 1


def test_writes_go_to_the_primary_with_replica_acks(tmp_path, pki_dir,
                                                     make_nginx):
    """Reads from a replica (revoca_redis), writes to revoca_redis_primary,
    acknowledged by redis.min_replica_acks replicas (WAIT) as the CLI's;
    a replica gone: 503, the events on the primary anyway."""
    f = Fleet(tmp_path / "fleet", pki_dir, replicas=1, sentinels=0,
              redis_conf='min_replica_acks = 1; wait_timeout = "1s"; ')
    try:
        f.start_signer()
        replica = f.servers[1]
        http = """
    revoca_config %s;
    revoca_redis 127.0.0.1:%d;
    revoca_redis_primary 127.0.0.1:%d;
    revoca_redis_timeout 3s;
""" % (f.conf, replica.port, f.redis.port)
        ing = Ingest(f, make_nginx, tmp_path, http=http)
        good = f.path("good.pem")
        st, _, body = ing.post({"kind": "issue", "issuer": "demo",
                                "certificate": pem(good), "wait": True})
        assert (st, body) == (200, {"accepted": 1, "signed": True})
        wait_for(lambda: replica.client().exists(
            "revoca:ocsp:demo:" + f.serial_of(good)), 20,
            what="the response on the replica")
        assert ing.ocsp(good) == "good"
        assert replica.client().xlen("revoca:events") == 1
        assert "reply refused" not in ing.nginx.log()
        replica.kill()
        wait_for(lambda: f.replicas_online(f.redis) == 0, 30,
                 what="the primary to lose its replica")
        st, headers, body = ing.post({"kind": "hold", "issuer": "demo",
                                      "serial": "5"})
        assert st == 503 and body["error"]["code"] == "replicas", body
        assert "0 of redis.min_replica_acks 1" in body["error"]["reason"]
        assert "Retry-After" in headers
        assert f.r().xlen("revoca:events") == 2
    finally:
        f.close()


@pytest.mark.parametrize("loc,message", [
    ("revoca_ingest;", 'needs at least one "revoca_ingest_client"'),
    ("revoca_ingest; revoca_ingest_client a sha256=00 issuers=demo;",
     "not 32 hex octets"),
    ('revoca_ingest; revoca_ingest_client a "subject=CN=x" issuers=nope;',
     '"nope" is not an issuer of'),
    ('revoca_ingest; revoca_ingest_client a "subject=CN=x";',
     "needs issuers="),
    ('revoca_ingest; revoca_ingest_client a "subject=CN=x" sha256=%s'
     ' issuers=*;' % ("ab" * 32), "exactly one of subject= and sha256="),
    ('revoca_ingest; revoca_ingest_client a "subject=CN=x" issuers=*'
     ' kinds=issue,delete;', "invalid kind"),
    ('revoca_ingest; revoca_ingest_client "a b" "subject=CN=x" issuers=*;',
     "has a name of letters"),
    ('revoca_ingest; revoca_ingest_max_body 9m;'
     ' revoca_ingest_client a "subject=CN=x" issuers=*;', "is over"),
])
def test_config_refused(stack, tmp_path, loc, message):
    n = Nginx(tmp_path / "refused", stack.conf,
              server="location = /ingest { %s }" % loc)
    p = n.check_config()
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_sentinels_need_a_primary(tmp_path, pki_dir):
    s = Stack(tmp_path / "stack", pki_dir,
              redis_conf='sentinels = ( "127.0.0.1:1" ); master_name = "m"; ')
    try:
        loc = ('location = /ingest { revoca_ingest;'
               ' revoca_ingest_client a "subject=CN=x" issuers=*; }')
        n = Nginx(tmp_path / "refused", s.conf, server=loc)
        p = n.check_config()
        assert p.returncode != 0 and \
            'needs "revoca_redis_primary" when' in p.stderr, p.stderr
        n = Nginx(tmp_path / "ok", s.conf, server=loc,
                  http="revoca_config %s; revoca_redis_primary"
                       " 127.0.0.1:%d;" % (s.conf, s.redis.port))
        p = n.check_config()
        assert p.returncode == 0, p.stderr
    finally:
        s.close()


def test_wait_until_the_signer_acknowledges(tmp_path, pki_dir, make_nginx):
    """With redis.min_replica_acks, a wait ends once the signer has
    acknowledged the events, which it does only after its own WAIT: a
    signer that needs more replicas than there are applies the events on
    the primary but never acknowledges them, and the answer is 202."""
    f = Fleet(tmp_path / "fleet", pki_dir, replicas=1, sentinels=0,
              redis_conf='min_replica_acks = 1; wait_timeout = "1s"; ')
    try:
        strict = os.path.join(f.tmp, "strict.conf")
        with open(strict, "w") as out:
            out.write(render_conf(f.redis.port, f.issuers, f.extra,
                                  f.signer_conf, 'min_replica_acks = 2; '
                                  'wait_timeout = "200ms"; '))
        f.start_signer(conf=strict)
        ing = Ingest(f, make_nginx, tmp_path)
        good = f.path("good.pem")
        st, _, body = ing.post({"kind": "issue", "issuer": "demo",
                                "certificate": pem(good), "wait": True},
                               path="/quick")
        assert st == 202, body
        assert "not yet acknowledged" in body["reason"], body
        assert f.r().exists("revoca:cert:demo:" + f.serial_of(good))
        # XPENDING's answer was read and judged, not refused
        assert "reply refused" not in ing.nginx.log()
        assert f.r().xpending_range("revoca:events", "signer", "-", "+", 1)
    finally:
        f.close()
