"""TLS from the nginx module to Redis (issue 12, "Secure connections"), with
nginx's own SSL connection machinery: a real redis-server 7 on a TLS port
only (plain TCP off), certificates made by Python cryptography (the PKI of
tests/integration/test_redis_tls.py), the real signer and CLI writing over
TLS with the same shared config file the module reads.

The server is verified against redis.tls_ca and its name (redis.host, an
IP address here, checked against the certificate's iPAddress; or
redis.tls_server_name, a DNS name, also sent as SNI); a client certificate
is presented when configured (mTLS); every failure is logged with the
server and the reason, and the client gets tryLater when nothing valid is
cached.  AUTH as the documented least-privilege ACL user of docs/redis.md.
"""
import re
import threading
import socket

import pytest
from cryptography.x509 import ocsp

from conftest import Nginx  # noqa: F401
from ocsp_client import get_raw, metrics, post, request_der
from revoca_fixtures import Stack, py_ocsp, render_conf, wait_for
from test_redis_tls import documented_acls, tls_conf, tls_pki  # noqa: F401

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED
TRY_LATER = ocsp.OCSPResponseStatus.TRY_LATER


class TlsStack(Stack):
    """Redis on a TLS port only; the signer and the CLI over TLS."""

    def __init__(self, tmp, pki_dir, tls_pki, redis_conf, auth_clients):
        tls = dict(tls_pki)
        if not auth_clients:
            tls.pop("client_cert")
            tls.pop("client_key")
        super().__init__(tmp, pki_dir, redis_tls=tls, redis_conf=redis_conf,
                         redis_args=["--tls-auth-clients",
                                     "yes" if auth_clients else "no"])

    def conf_as(self, name, redis_conf):
        path = "%s/%s.conf" % (self.tmp, name)
        with open(path, "w") as f:
            f.write(render_conf(self.redis.port, [{"name": "demo"}], "",
                                self.signer_conf, redis_conf))
        return path

    def where(self):
        return "redis 127.0.0.1:%d" % self.redis.port


@pytest.fixture
def make_stack(tmp_path, pki_dir, tls_pki):
    made = []

    def make(redis_conf=None, auth_clients=False, issue=True):
        s = TlsStack(tmp_path, pki_dir, tls_pki,
                     tls_conf(tls_pki) if redis_conf is None else redis_conf,
                     auth_clients)
        made.append(s)
        if issue:
            s.start_signer()
            s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
            s.cli("issue", "--issuer", "demo", "--cert", s.path("revoked.pem"))
            s.cli("revoke", "--issuer", "demo", "--cert",
                  s.path("revoked.pem"), "--reason", "keyCompromise", "--wait")
        return s
    yield make
    for s in made:
        s.close()


def status(n, s, leaf):
    r = post(n.port, request_der(s.pki, s.path(leaf)))
    assert r.status == 200
    if r.ocsp_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return r.ocsp_status
    return py_ocsp(r.body, s.pki).certificate_status


def gets_of(s):
    """GETs Redis has run: the signer and the CLI's, the module's."""
    return s.r().info("commandstats").get("cmdstat_get", {}).get("calls", 0)


def nginx_for(make_nginx, conf, name="nginx", **kw):
    return make_nginx(conf, name=name, workers=1,
                      loc="revoca_cache off;", **kw)


@pytest.mark.parametrize("name", [None, "redis.test"])
def test_answers_over_tls(make_stack, make_nginx, tls_pki, name):
    """redis.host 127.0.0.1 verified against the certificate's iPAddress,
    or tls_server_name redis.test against its dNSName (and sent as SNI);
    queries, keepalive connections and the invalidation subscription all
    over TLS."""
    s = make_stack()
    conf = s.conf_as("nginx", tls_conf(tls_pki, name=name))
    n = nginx_for(make_nginx, conf)
    for _ in range(5):
        assert status(n, s, "good.pem") == GOOD
        assert status(n, s, "revoked.pem") == REVOKED
    m = metrics(n)
    assert m["revoca_ocsp_redis_errors_total"] == 0
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1,
             what="the subscription over TLS")
    # Redis sees TLS clients only (plain TCP is off): the module's are there
    clients = s.r().client_list()
    assert any(c.get("sub") == "1" for c in clients), clients


def test_wrong_ca_names_the_server_and_the_reason(make_stack, make_nginx,
                                                 tls_pki):
    s = make_stack()
    bad = s.conf_as("wrong-ca", tls_conf(tls_pki, ca=tls_pki["other_ca"]))
    gets = gets_of(s)
    n = nginx_for(make_nginx, bad)
    assert status(n, s, "good.pem") == TRY_LATER
    expect = re.compile(
        re.escape(s.where()) + r" TLS handshake failed: certificate verify "
        r"failed \((self-signed certificate in certificate chain|"
        r"unable to get local issuer certificate)\)")
    wait_for(lambda: expect.search(n.log()), 10, what="the TLS error")
    assert metrics(n)["revoca_ocsp_redis_errors_total"] >= 1
    # nothing was asked through a link that was never trusted
    assert gets_of(s) == gets


def test_hostname_mismatch_refused(make_stack, make_nginx, tls_pki):
    s = make_stack()
    bad = s.conf_as("mismatch", tls_conf(tls_pki, name="other.test"))
    n = nginx_for(make_nginx, bad)
    assert status(n, s, "good.pem") == TRY_LATER
    wait_for(lambda: ("%s TLS handshake failed: certificate verify failed "
                      "(hostname mismatch)" % s.where()) in n.log(), 10,
             what="the mismatch logged")
    # an address the certificate does not carry: refused too
    ip = s.conf_as("ip", tls_conf(tls_pki, name="127.0.0.2"))
    n2 = nginx_for(make_nginx, ip, name="nginx2")
    assert status(n2, s, "good.pem") == TRY_LATER
    wait_for(lambda: "certificate verify failed (IP address mismatch)"
             in n2.log(), 10, what="the address mismatch logged")


def test_cached_answer_served_while_tls_fails(make_stack, make_nginx,
                                              tls_pki):
    """A TLS failure is a failed query like any other: a valid cached
    answer is still served, tryLater only when there is none.  The name
    is made wrong by a reload (the cache zone survives it)."""
    s = make_stack()
    conf = s.conf_as("nginx", tls_conf(tls_pki))
    n = make_nginx(conf, workers=1, loc="revoca_cache_valid 0;")
    assert status(n, s, "good.pem") == GOOD
    assert s.conf_as("nginx", tls_conf(tls_pki, name="other.test")) == conf
    n.reload()

    # the old worker gone, the new one alone answers
    wait_for(lambda: "exited with code 0" in n.log(), 20,
             what="the old worker's exit")
    assert status(n, s, "good.pem") == GOOD
    assert metrics(n)["revoca_ocsp_stale_served_total"] >= 1
    assert "(hostname mismatch)" in n.log()
    assert status(n, s, "good.pem") == GOOD
    assert status(n, s, "revoked.pem") == TRY_LATER


def test_mtls_required_by_the_server(make_stack, make_nginx, tls_pki):
    s = make_stack(tls_conf(tls_pki, client="client"), auth_clients=True)
    # no client certificate: refused, named, with the server's reason
    bare = s.conf_as("bare", tls_conf(tls_pki))
    n = nginx_for(make_nginx, bare, name="bare")
    assert status(n, s, "good.pem") == TRY_LATER
    refusal = (re.escape(s.where()) + r" (TLS handshake failed: server "
               r"sent alert|TLS read failed: .*alert) ")
    wait_for(lambda: re.search(refusal + "certificate required", n.log()),
             10, what="the refusal logged")
    # a certificate the server's CA never issued: refused too
    rogue = s.conf_as("rogue", tls_conf(tls_pki, client="rogue"))
    n = nginx_for(make_nginx, rogue, name="rogue")
    assert status(n, s, "good.pem") == TRY_LATER
    wait_for(lambda: re.search(refusal + r"(unknown ca|unknown CA|certificate"
                               r" unknown|bad certificate)", n.log()), 10,
             what="the refusal logged")
    # the right one
    n = nginx_for(make_nginx, s.conf, name="good")
    assert status(n, s, "good.pem") == GOOD
    assert status(n, s, "revoked.pem") == REVOKED


def test_auth_as_the_documented_acl_user(make_stack, make_nginx, tls_pki):
    """The module logs in as revoca-nginx with the rules docs/redis.md
    gives it: it reads and subscribes, and Redis's ACL LOG stays empty (a
    command outside the ACL would be a bug); a wrong password is named."""
    s = make_stack()
    admin = s.r()
    rules = documented_acls()["revoca-nginx"]
    admin.execute_command("ACL", "SETUSER", "revoca-nginx", ">pw-nginx",
                          *rules)
    admin.execute_command("ACL", "LOG", "RESET")
    conf = s.conf_as("nginx", tls_conf(tls_pki) +
                     'user = "revoca-nginx"; password = "pw-nginx"; db = 0; ')
    n = make_nginx(conf, workers=1, loc="revoca_cache_valid 0;")
    for _ in range(3):
        assert status(n, s, "good.pem") == GOOD
        assert status(n, s, "revoked.pem") == REVOKED
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1,
             what="the subscription as revoca-nginx")
    assert admin.execute_command("ACL", "LOG") == []
    wrong = s.conf_as("wrong", tls_conf(tls_pki) +
                      'user = "revoca-nginx"; password = "nope"; ')
    n2 = make_nginx(wrong, name="wrong", workers=1)
    assert status(n2, s, "good.pem") == TRY_LATER
    wait_for(lambda: "%s AUTH/SELECT: WRONGPASS" % s.where() in n2.log(), 10,
             what="the AUTH failure logged")


def test_silent_server_times_out_the_handshake(tmp_path, pki_dir, tls_pki,
                                               make_nginx):
    """A peer that accepts and never answers the handshake: bounded by
    revoca_redis_connect_timeout, logged, tryLater; the worker is never
    blocked meanwhile (the metrics page answers)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(lsock.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    s = Stack(tmp_path / "silent", pki_dir)
    try:
        conf = "%s/silent.conf" % s.tmp
        with open(conf, "w") as f:
            f.write(render_conf(port, [{"name": "demo"}], "", "",
                                tls_conf(tls_pki)))
        n = make_nginx(conf, workers=1, http="""
            revoca_config %s;
            revoca_cache_zone 1m;
            revoca_redis_connect_timeout 300ms;
            revoca_redis_timeout 300ms;
        """ % conf)
        results = []
        th = threading.Thread(target=lambda: results.append(
            status(n, s, "good.pem")))
        th.start()
        assert get_raw(n.port, "/metrics").status == 200
        th.join(30)
        assert results == [TRY_LATER]
        assert ("redis 127.0.0.1:%d TLS handshake timed out" % port
                in n.log()), n.log()
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        lsock.close()
        s.close()


def test_ingest_as_the_documented_acl_user(make_stack, make_nginx, tls_pki,
                                           tmp_path):
    """An ingest location under revoca-ingest (docs/redis.md): events
    written (XADD) and waited for (GET of the records), OCSP still
    answered and the subscription up, nothing refused (ACL LOG empty)."""
    from test_ingest import Ingest, pem
    s = make_stack()
    admin = s.r()
    admin.execute_command("ACL", "SETUSER", "revoca-ingest", ">pw-ingest",
                          *documented_acls()["revoca-ingest"])
    admin.execute_command("ACL", "LOG", "RESET")
    conf = s.conf_as("ingest", tls_conf(tls_pki) +
                     'user = "revoca-ingest"; password = "pw-ingest"; ')
    n = admin.xlen("revoca:events")
    ing = Ingest(s, make_nginx, tmp_path,
                 http="revoca_config %s; revoca_cache_zone 1m;" % conf)
    st, _, body = ing.post([{"kind": "revoke", "issuer": "demo",
                             "serial": s.serial_of(s.path("good.pem")),
                             "reason": "superseded"}, {
                            "kind": "issue", "issuer": "demo",
                            "certificate": pem(s.path("unissued.pem"))}],
                           path="/ingest?wait=1")
    assert (st, body) == (200, {"accepted": 2, "signed": True})
    assert admin.xlen("revoca:events") == n + 2
    assert ing.ocsp(s.path("good.pem")) == "revoked"
    plain = type("Plain", (), {"port": ing.plain})
    wait_for(lambda: metrics(plain)["revoca_invalidation_connected"] == 2,
             what="the subscriptions as revoca-ingest")
    assert admin.execute_command("ACL", "LOG") == []
