"""A Redis server that closes the module's idle connections (a restart, or
Sentinel turning an old primary back from a network cut into a replica:
it closes its clients then, CLIENT KILL TYPE normal) makes the module
forget its cached answers: what was read from that server may predate
changes whose invalidation messages went to another server (issue 12,
fleet: an old primary healed after a cut served its stale data, and the
module kept it for revoca_cache_valid).

The test puts a server in exactly that state: the certificate's record and
stored responses are set back (RESTORE, no PUBLISH) to what they were
before a revocation the module has cached, as a stale server would hold
them.  revoca_cache_valid is 1h: without the rule the cached answer would
stay; with it, once the server closes the idle connections, the next
answer is read again."""
from cryptography.x509 import ocsp

from ocsp_client import metrics, post, request_der
from revoca_fixtures import py_ocsp, wait_for

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED


def status(n, stack, leaf):
    r = post(n.port, request_der(stack.pki, stack.path(leaf)))
    assert r.status == 200
    assert r.ocsp_status == ocsp.OCSPResponseStatus.SUCCESSFUL, r.ocsp_status
    return py_ocsp(r.body, stack.pki).certificate_status


def test_server_closing_idle_connections_drops_the_cache(stack, make_nginx):
    sig = stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    n = make_nginx(stack.conf, workers=1, loc="revoca_cache_valid 1h;")
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1,
             what="the worker subscribed")
    serial = stack.serial_of(stack.path("good.pem"))
    keys = ["revoca:cert:demo:" + serial, "revoca:ocsp:demo:" + serial]
    r = stack.r()
    before = [r.dump(k) for k in keys]
    assert all(before)

    stack.cli("revoke", "--issuer", "demo", "--cert", stack.path("good.pem"),
              "--reason", "keyCompromise", "--wait")
    wait_for(lambda: status(n, stack, "good.pem") == REVOKED,
             what="the revocation answered")
    hits = metrics(n)["revoca_ocsp_cache_hits_total"]
    assert status(n, stack, "good.pem") == REVOKED
    assert metrics(n)["revoca_ocsp_cache_hits_total"] > hits  # cached

    # the server now holds the old state, as a stale one would, and says
    # nothing about it: the cached answer stays
    assert sig.stop() == 0
    for k, v in zip(keys, before):
        r.restore(k, 0, v, replace=True)
    assert status(n, stack, "good.pem") == REVOKED

    # the server closes its clients' connections (Sentinel's reconfiguration)
    killed = r.execute_command("CLIENT", "KILL", "TYPE", "normal",
                               "SKIPME", "yes")
    assert killed >= 1
    wait_for(lambda: status(n, stack, "good.pem") == GOOD, 30,
             what="the cached answer forgotten and read again")
