"""revoca import --cfssl-db: a real CFSSL CA (Debian's golang-cfssl) feeds
Revoca from its SQLite certificate database.

`cfssl gencert -initca` makes the CA, `cfssl serve -db-config` signs and
revokes over its own HTTP API (Debian's CFSSL 1.2 stores an empty
authority_key_identifier, which its `cfssl revoke` command refuses, so the
API does the revoking), and after every step Revoca's record and its
pre-signed OCSP response, checked with `openssl ocsp` and Python
cryptography, must say what the database says.
"""
import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from revoca_fixtures import (REVOCA, Daemon, Stack, cert,  # noqa: E402
                             free_port, wait_for)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402

CFSSL = "/usr/bin/cfssl"
pytestmark = pytest.mark.skipif(not os.path.exists(CFSSL),
                                reason="golang-cfssl is not installed")

BASE = "http://127.0.0.1:8080/crl/"
CRL_CONF = 'crl = { publish_dir = "pub"; base_url = "%s"; };' % BASE

# cfssl's certdb/sqlite/migrations (the first one: what cfssl 1.2 reads and
# writes)
SCHEMA = """
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
"""


def run(args, cwd, inp=None):
    p = subprocess.run(args, cwd=cwd, input=inp, capture_output=True,
                       text=True)
    assert p.returncode == 0, " ".join(args) + ": " + p.stderr
    return p.stdout


class CfsslCA:
    """A CFSSL CA in DIR with its certdb at DB, served on a loopback port."""

    def __init__(self, d, db, name, crl_url):
        self.d, self.db = d, db
        os.makedirs(d, exist_ok=True)
        csr = json.dumps({"CN": name, "key": {"algo": "ecdsa", "size": 256}})
        out = json.loads(run([CFSSL, "gencert", "-initca", "-"], d, csr))
        self.cert, self.key = os.path.join(d, "ca.pem"), os.path.join(d,
                                                                      "ca-key.pem")
        with open(self.cert, "w") as f:
            f.write(out["cert"])
        with open(self.key, "w") as f:
            f.write(out["key"])
        self.config = os.path.join(d, "config.json")
        with open(self.config, "w") as f:
            json.dump({"signing": {"default": {
                "expiry": "720h", "crl_url": crl_url,
                "usages": ["digital signature", "server auth"]}}}, f)
        self.db_config = os.path.join(d, "db.json")
        with open(self.db_config, "w") as f:
            json.dump({"driver": "sqlite3", "data_source": db}, f)
        self.n = 0
        self.server = None

    def serve(self):
        self.port = free_port()
        self.server = Daemon([CFSSL, "serve", "-address", "127.0.0.1",
                              "-port", str(self.port), "-ca", self.cert,
                              "-ca-key", self.key, "-config", self.config,
                              "-db-config", self.db_config],
                             os.path.join(self.d, "serve.log")).start()
        wait_for(self._up, what="cfssl serve listening")
        return self

    def _up(self):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        except OSError:
            return False
        return True

    def api(self, ep, req):
        r = urllib.request.Request(
            "http://127.0.0.1:%d/api/v1/cfssl/%s" % (self.port, ep),
            data=json.dumps(req).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["success"], body
        return body["result"]

    def csr(self):
        self.n += 1
        req = json.dumps({"CN": "leaf%d.example" % self.n,
                          "hosts": ["leaf%d.example" % self.n],
                          "key": {"algo": "ecdsa", "size": 256}})
        return json.loads(run([CFSSL, "genkey", "-"], self.d, req))["csr"]

    def issue(self):
        """Signs a new certificate over the API: its PEM file."""
        pem = self.api("sign", {"certificate_request": self.csr()})[
            "certificate"]
        return self._save(pem)

    def sign_cli(self):
        """Signs with `cfssl sign -db-config` instead."""
        p = os.path.join(self.d, "req%d.csr" % self.n)
        with open(p, "w") as f:
            f.write(self.csr())
        out = json.loads(run([CFSSL, "sign", "-ca", self.cert, "-ca-key",
                              self.key, "-config", self.config, "-db-config",
                              self.db_config, p], self.d))
        return self._save(out["cert"])

    def _save(self, pem):
        path = os.path.join(self.d, "leaf%d.pem" % self.n)
        with open(path, "w") as f:
            f.write(pem)
        return path

    def revoke(self, leaf, reason):
        self.api("revoke", {"serial": str(cert(leaf).serial_number),
                            "authority_key_id": "", "reason": reason})

    def says(self, leaf):
        """(status, reason, revoked_at) in CFSSL's database for LEAF."""
        c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        try:
            return c.execute(
                "SELECT status, reason, strftime('%s', revoked_at) "
                "FROM certificates WHERE serial_number = ?",
                (str(cert(leaf).serial_number),)).fetchone()
        finally:
            c.close()

    def close(self):
        if self.server is not None and self.server.alive():
            self.server.stop()


def stream_len(s):
    return s.r().xlen("revoca:events") if s.r().exists("revoca:events") else 0


@pytest.fixture
def cfssl_stack(tmp_path, pki_dir):
    db = os.path.join(str(tmp_path), "certdb.sqlite")
    c = sqlite3.connect(db)
    c.executescript(SCHEMA)
    c.close()
    ca = CfsslCA(os.path.join(str(tmp_path), "cfssl"), db, "CFSSL Test CA",
                 BASE + "cf-shard-1.crl")
    s = Stack(tmp_path, pki_dir, [{
        "name": "cf", "cert": ca.cert, "key": ca.key, "shards": 2,
        "responder_cert": ca.cert, "responder_key": ca.key}], extra=CRL_CONF)
    s.start_signer()
    ca.serve()
    yield s, ca
    ca.close()
    s.close()


def serial_hex(leaf):
    return "%x" % cert(leaf).serial_number


def check_matches(s, ca, leaf):
    """Revoca's record and signed response say what CFSSL's database says."""
    status, reason, at = ca.says(leaf)
    want = {"good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED}[status]
    serial = serial_hex(leaf)

    def answered():
        st = s.stored(serial, "cf")
        if st is None:
            return False
        r = ocsp.load_der_ocsp_response(s.response(serial, issuer="cf"))
        return r.certificate_status == want
    wait_for(answered, what="%s %s" % (serial, status))
    der = s.response(serial, issuer="cf")
    r = ocsp.load_der_ocsp_response(der)
    pub = cert(ca.cert).public_key()
    pub.verify(r.signature, r.tbs_response_bytes,
               ec.ECDSA(r.signature_hash_algorithm))
    if status == "revoked":
        assert r.revocation_reason == x509.ReasonFlags(
            {1: "keyCompromise", 4: "superseded", 5: "cessationOfOperation",
             6: "certificateHold"}[reason])
        assert int(r.revocation_time.timestamp()) == int(at)
    # openssl's own reading of the same response
    resp = os.path.join(s.tmp, "resp.der")
    with open(resp, "wb") as f:
        f.write(der)
    p = subprocess.run(["openssl", "ocsp", "-respin", resp, "-issuer",
                        ca.cert, "-cert", leaf, "-VAfile", ca.cert,
                        "-no_nonce"], capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    assert "%s: %s" % (leaf, status) in out, out
    st = s.cli("status", "--issuer", "cf", "--serial", serial).stdout
    assert "record" in st and status in st, st


CRLGEN = os.path.join(os.path.dirname(os.path.dirname(REVOCA)), "crlgen",
                      "revoca-crlgen")
REASON_NAMES = {0: None, 1: "key_compromise", 4: "superseded",
                5: "cessation_of_operation"}


def crl_matches_cfssl(s, ca):
    """The CRLs revoca-crlgen publishes now (--once; every shard, each
    signature checked by `openssl crl`) list exactly the certificates
    CFSSL's database has revoked, with their times and reasons."""
    p = subprocess.run([CRLGEN, "-c", s.conf, "--once"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    pub = os.path.join(s.tmp, "pub")
    names = sorted(n for n in os.listdir(pub)
                   if n.startswith("cf") and n.endswith(".crl"))
    assert names, os.listdir(pub)
    ours = {}
    for n in names:
        path = os.path.join(pub, n)
        p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path,
                            "-CAfile", ca.cert, "-noout"],
                           capture_output=True, text=True)
        assert p.returncode == 0 and "verify OK" in p.stdout + p.stderr, \
            p.stdout + p.stderr
        for e in x509.load_der_x509_crl(open(path, "rb").read()):
            try:
                reason = e.extensions.get_extension_for_class(
                    x509.CRLReason).value.reason.name
            except x509.ExtensionNotFound:
                reason = None
            ours[e.serial_number] = (int(e.revocation_date.replace(
                tzinfo=datetime.timezone.utc).timestamp()), reason)
    c = sqlite3.connect("file:%s?mode=ro" % ca.db, uri=True)
    try:
        theirs = {int(serial): (int(at), REASON_NAMES[reason])
                  for serial, reason, at in c.execute(
                      "SELECT serial_number, reason, "
                      "strftime('%s', revoked_at) FROM certificates "
                      "WHERE status = 'revoked'")}
    finally:
        c.close()
    assert theirs and ours == theirs


def test_import_then_follow_matches_cfssl(cfssl_stack):
    s, ca = cfssl_stack
    a, b = ca.issue(), ca.issue()
    c = ca.sign_cli()
    ca.revoke(b, "keyCompromise")
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "certificates=3 events=4 unchanged=0 skipped=0" in p.stdout, \
        p.stdout
    for leaf in (a, b, c):
        check_matches(s, ca, leaf)
    # the shard is the one the CRL distribution point names
    assert s.r().hexists("revoca:revoked:cf:1", serial_hex(b))
    # the origin names the importer and the database
    ev = s.r().xrange("revoca:events", count=1)[0][1][b"e"]
    assert b"import-cfssl" in ev and ca.db.encode() in ev
    # the same again: nothing sent
    n = stream_len(s)
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "events=0 unchanged=3" in p.stdout, p.stdout
    assert stream_len(s) == n

    follower = Daemon([REVOCA, "-c", s.conf, "import", "--issuer", "cf",
                       "--cfssl-db", ca.db, "--follow", "--interval", "1"],
                      os.path.join(s.tmp, "follow.log")).start()
    try:
        wait_for(lambda: "unchanged=3" in follower.output(),
                 what="follower's first round")
        assert stream_len(s) == n
        d = ca.issue()
        check_matches(s, ca, d)
        ca.revoke(a, "superseded")
        check_matches(s, ca, a)
        check_matches(s, ca, b)
        crl_matches_cfssl(s, ca)
        assert follower.stop(signal.SIGTERM) == 0
    finally:
        if follower.alive():
            follower.stop()
    # a restarted follower resends nothing, and picks up what changed
    # while it was down
    n = stream_len(s)
    ca.revoke(c, "cessationOfOperation")
    follower = Daemon([REVOCA, "-c", s.conf, "import", "--issuer", "cf",
                       "--cfssl-db", ca.db, "--follow", "--interval", "1"],
                      os.path.join(s.tmp, "follow2.log")).start()
    try:
        check_matches(s, ca, c)
        wait_for(lambda: "events=1 unchanged=3" in follower.output(),
                 what="restart sends only the change")
        assert stream_len(s) == n + 1
        crl_matches_cfssl(s, ca)
        assert follower.stop(signal.SIGTERM) == 0
    finally:
        if follower.alive():
            follower.stop()


def test_wait_returns_once_signed_or_times_out(cfssl_stack):
    """--wait: on return the response is signed; with the signer stopped,
    exit 3 once --wait-timeout is out."""
    s, ca = cfssl_stack
    a = ca.issue()
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db, "--wait")
    assert "events=1" in p.stdout and "signed=all" in p.stdout, p.stdout
    assert s.stored(serial_hex(a), "cf") is not None  # no waiting
    for d in s.signers:
        assert d.stop(signal.SIGTERM) == 0
    b = ca.issue()
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db, "--wait",
              "--wait-timeout", "1", check=False)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "--wait: 0 of 1 events signed after 1s" in p.stderr, p.stderr
    assert s.stored(serial_hex(b), "cf") is None


def test_other_ca_in_same_db_skipped(cfssl_stack, tmp_path):
    s, ca = cfssl_stack
    other = CfsslCA(os.path.join(str(tmp_path), "other"), ca.db,
                    "Another CFSSL CA", BASE + "cf-shard-1.crl").serve()
    try:
        mine, theirs = ca.issue(), other.issue()
        p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
        assert "certificates=1 events=1" in p.stdout, p.stdout
        assert "other_issuers=1" in p.stdout, p.stdout
        check_matches(s, ca, mine)
        assert s.stored(serial_hex(theirs), "cf") is None
        assert not s.r().exists("revoca:cert:cf:" + serial_hex(theirs))
    finally:
        other.close()


def test_missing_or_corrupt_db_refused(cfssl_stack):
    s, ca = cfssl_stack
    missing = os.path.join(s.tmp, "nope.sqlite")
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", missing, check=False)
    assert p.returncode != 0
    assert "nope.sqlite: cannot read the CFSSL database" in p.stderr, p.stderr
    corrupt = os.path.join(s.tmp, "corrupt.sqlite")
    with open(corrupt, "wb") as f:
        f.write(b"this is not SQLite" * 100)
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", corrupt, check=False)
    assert p.returncode != 0
    assert "corrupt.sqlite: not a CFSSL certificate database" in p.stderr, \
        p.stderr
    # a SQLite file without CFSSL's table
    empty = os.path.join(s.tmp, "empty.sqlite")
    sqlite3.connect(empty).executescript("CREATE TABLE t (x int);")
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", empty, check=False)
    assert p.returncode != 0
    assert "no such table: certificates" in p.stderr, p.stderr
    # a row whose PEM was not signed by the issuer: named, skipped
    c = sqlite3.connect(ca.db)
    c.execute("INSERT INTO certificates VALUES ('12345', '', NULL, 'good', "
              "0, NULL, NULL, ?)", (open(os.path.join(s.pki, "issuer.pem"))
                                    .read(),))
    c.commit()
    c.close()
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "certificates=0 events=0" in p.stdout, p.stdout
    assert "other_issuers=1" in p.stdout, p.stdout
    assert stream_len(s) == 0
    # a row whose serial_number is not its PEM's: named, skipped
    leaf = ca.issue()
    c = sqlite3.connect(ca.db)
    c.execute("INSERT INTO certificates VALUES ('999', '', NULL, 'good', "
              "0, NULL, NULL, ?)", (open(leaf).read(),))
    c.commit()
    c.close()
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "certificates=1 events=1 unchanged=0 skipped=1" in p.stdout, \
        p.stdout
    assert "its row says serial 3e7 (skipped)" in p.stderr, p.stderr
    assert s.stored("3e7", "cf") is None
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db, "--interval",
              "3", check=False)
    assert p.returncode == 2 and "with --follow" in p.stderr


def test_hold_and_release(cfssl_stack):
    """cfssl's certificateHold is a hold; a held row that shows `good` again
    (CFSSL has no unrevoke of its own: the row is edited, as an operator
    would) is released."""
    s, ca = cfssl_stack
    leaf = ca.issue()
    ca.revoke(leaf, "certificateHold")
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "certificates=1 events=2" in p.stdout, p.stdout
    check_matches(s, ca, leaf)
    c = sqlite3.connect(ca.db)
    c.execute("UPDATE certificates SET status = 'good', reason = 0")
    c.commit()
    c.close()
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "certificates=1 events=1" in p.stdout, p.stdout
    check_matches(s, ca, leaf)
    # a revocation after that is final: editing it back changes nothing
    ca.revoke(leaf, "keyCompromise")
    s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    check_matches(s, ca, leaf)
    n = stream_len(s)
    c = sqlite3.connect(ca.db)
    c.execute("UPDATE certificates SET status = 'good', reason = 0")
    c.commit()
    c.close()
    p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db)
    assert "events=0 unchanged=1" in p.stdout, p.stdout
    assert stream_len(s) == n


def test_under_documented_cli_acl(cfssl_stack):
    """The importers' state is within the revoca-cli ACL of docs/redis.md:
    import --cfssl-db and import --crl run as that user, and Redis's ACL
    LOG shows nothing refused."""
    from test_redis_tls import documented_acls
    from revoca_fixtures import render_conf
    s, ca = cfssl_stack
    admin = s.r()
    admin.execute_command("ACL", "SETUSER", "revoca-cli", ">pw-cli",
                          *documented_acls()["revoca-cli"])
    admin.execute_command("ACL", "LOG", "RESET")
    conf = os.path.join(s.tmp, "cli.conf")
    with open(conf, "w") as f:
        f.write(render_conf(s.redis.port, s.issuers, CRL_CONF,
                            redis='user = "revoca-cli"; '
                                  'password = "pw-cli"; '))
    leaf = ca.issue()
    ca.revoke(leaf, "keyCompromise")
    for _ in range(2):
        p = s.cli("import", "--issuer", "cf", "--cfssl-db", ca.db, conf=conf)
    assert "events=0 unchanged=1" in p.stdout, p.stdout
    check_matches(s, ca, leaf)
    crl = os.path.join(s.tmp, "cf.crl")
    # cfssl's own CRL (gencrl: from a list of serials)
    serials = os.path.join(s.tmp, "serials.txt")
    with open(serials, "w") as f:
        f.write("%d\n" % cert(leaf).serial_number)
    out = run([CFSSL, "gencrl", serials, ca.cert, ca.key], ca.d)
    import base64
    with open(crl, "wb") as f:
        f.write(base64.b64decode(out.strip()))
    p = s.cli("import", "--issuer", "cf", "--crl", crl, conf=conf,
              check=False)
    assert p.returncode == 0, p.stderr
    assert admin.execute_command("ACL", "LOG") == []


def test_too_few_replicas_exit_4(tmp_path, pki_dir):
    """redis.min_replica_acks holds as for the other imports: with a replica
    down, exit 4, the events in the stream, and (not recorded as reported)
    sent again by the next run."""
    from redis_fleet import Fleet
    db = os.path.join(str(tmp_path), "certdb.sqlite")
    c = sqlite3.connect(db)
    c.executescript(SCHEMA)
    c.close()
    ca = CfsslCA(os.path.join(str(tmp_path), "cfssl"), db, "CFSSL Test CA",
                 BASE + "cf-shard-1.crl")
    f = Fleet(tmp_path, pki_dir, sentinels=0,
              redis_conf='min_replica_acks = 2; wait_timeout = "1s"; ')
    try:
        f.write_conf([{"name": "cf", "cert": ca.cert, "key": ca.key,
                       "shards": 2, "responder_cert": ca.cert,
                       "responder_key": ca.key}], CRL_CONF)
        ca.serve()
        ca.issue()
        p = f.cli("import", "--issuer", "cf", "--cfssl-db", db)
        assert "events=1" in p.stdout, p.stdout
        ca.issue()
        f.servers[2].kill()
        wait_for(lambda: f.replicas_online(f.redis) == len(f.servers) - 2,
                 30, what="the primary to lose a replica")
        n0 = f.r().xlen("revoca:events")
        p = f.cli("import", "--issuer", "cf", "--cfssl-db", db, check=False)
        assert p.returncode == 4, p.stderr
        assert "import --cfssl-db: 1 events" in p.stderr, p.stderr
        assert f.r().xlen("revoca:events") == n0 + 1
        p = f.cli("import", "--issuer", "cf", "--cfssl-db", db, check=False)
        assert p.returncode == 4 and "1 events" in p.stderr, p.stderr
    finally:
        ca.close()
        f.close()
