"""Fail-over among the revoca_redis servers (issue 12, "Replicas and
Sentinel"): real redis-servers, two replicas (REPLICAOF) of the primary the
real signer and CLI write to.  nginx reads the first replica (the local
one), fails over to the next on a connect error, a timeout (a replica
stopped with SIGSTOP) or a transient error reply (MASTERDOWN), skips a
server that keeps failing and probes it again later.

Every answer is checked (good for the good certificate, revoked for the
revoked one), never a timing: with the cache off, each request is a Redis
query, and a failed one must be retried on the next server so that the
client never sees tryLater.  Which server answered is read from Redis's own
INFO commandstats.
"""
import os
import signal

import pytest
from cryptography.x509 import ocsp

from ocsp_client import metrics, post, request_der
from revoca_fixtures import RedisServer, py_ocsp, wait_for

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED
TRY_LATER = ocsp.OCSPResponseStatus.TRY_LATER


class Fleet:
    """The stack's Redis as primary, and replicas of it."""

    def __init__(self, stack, n=2, replica_args=()):
        self.stack = stack
        self.replicas = []
        for i in range(n):
            args = ["--replicaof", "127.0.0.1", str(stack.redis.port)]
            args += list(replica_args[i]) if i < len(replica_args) else []
            r = RedisServer(os.path.join(stack.tmp, "replica%d" % i),
                            args=args).start()
            self.replicas.append(r)
        stack.start_signer()
        stack.cli("issue", "--issuer", "demo", "--cert",
                  stack.path("good.pem"))
        stack.cli("issue", "--issuer", "demo", "--cert",
                  stack.path("revoked.pem"))
        stack.cli("revoke", "--issuer", "demo", "--cert",
                  stack.path("revoked.pem"), "--reason", "keyCompromise",
                  "--wait")
        for r in self.replicas:
            self.synced(r)

    def synced(self, r):
        """R has caught up with the primary (the same stored responses)."""
        keys = sorted(self.stack.r().keys("revoca:ocsp:*"))
        assert len(keys) == 2

        def same():
            try:
                c = r.client()
                return (c.info("replication")["master_link_status"] == "up"
                        and all(c.get(k) == self.stack.r().get(k)
                                for k in keys))
            except Exception:
                return False
        wait_for(same, 30, 0.05, "replica %d in sync" % r.port)

    def close(self):
        for r in self.replicas:
            if r.proc and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGCONT)
            r.kill()        # nothing of theirs to keep


@pytest.fixture
def fleet(stack):
    made = []

    def make(**kw):
        f = Fleet(stack, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def gets(r):
    """GET commands server R has run."""
    try:
        return r.client().info("commandstats").get(
            "cmdstat_get", {}).get("calls", 0)
    except Exception:
        return None


def answers_right(n, stack, rounds=1):
    """Both certificates answered right, ROUNDS times each."""
    for _ in range(rounds):
        for leaf, want in (("good.pem", GOOD), ("revoked.pem", REVOKED)):
            r = post(n.port, request_der(stack.pki, stack.path(leaf)))
            assert r.status == 200
            assert r.ocsp_status == ocsp.OCSPResponseStatus.SUCCESSFUL, \
                "%s: %s\n%s" % (leaf, r.ocsp_status, n.log()[-3000:])
            assert py_ocsp(r.body, stack.pki).certificate_status == want
    return True


def nginx_on(make_nginx, stack, servers, loc="revoca_cache off;",
             timeout="1s"):
    http = "revoca_config %s;\nrevoca_cache_zone 1m;\n" % stack.conf
    http += "".join("revoca_redis 127.0.0.1:%d;\n" % s.port for s in servers)
    http += ("revoca_redis_connect_timeout %s;\nrevoca_redis_timeout %s;\n"
             % (timeout, timeout))
    # one worker: one view of which server is healthy
    return make_nginx(http=http, loc=loc, workers=1)


def label(s):
    return '{server="127.0.0.1:%d"}' % s.port


def test_prefers_the_first_server(stack, fleet, make_nginx):
    f = fleet()
    a, b = f.replicas
    before = gets(a), gets(b), gets(stack.redis)
    n = nginx_on(make_nginx, stack, [a, b])
    answers_right(n, stack, 10)
    # no round-robin: every query went to the first server
    assert gets(a) - before[0] >= 20
    assert gets(b) == before[1]
    assert gets(stack.redis) == before[2]
    m = metrics(n)
    assert m["revoca_ocsp_redis_server_queries_total" + label(a)] >= 20
    assert m["revoca_ocsp_redis_server_queries_total" + label(b)] == 0
    assert m["revoca_ocsp_redis_failovers_total"] == 0


def test_first_server_stopped_then_back(stack, fleet, make_nginx):
    """Killed: the failed query is retried on the second server, so no
    client sees tryLater; the first is skipped, then probed and used again
    once it is back (seen by its own GET count)."""
    f = fleet()
    a, b = f.replicas
    n = nginx_on(make_nginx, stack, [a, b])
    answers_right(n, stack, 3)      # keepalive connections to a now
    a.kill()
    b0 = gets(b)
    answers_right(n, stack, 10)
    assert gets(b) - b0 >= 20
    m = metrics(n)
    assert m["revoca_ocsp_redis_failovers_total"] >= 1
    assert m["revoca_ocsp_redis_server_errors_total" + label(a)] >= 3
    assert m["revoca_ocsp_redis_errors_total"] == 0
    assert ('revoca_ocsp_responses_total{issuer="demo",status="tryLater",'
            'cert_status="none"}') not in m
    assert "skipped for" in n.log()

    # back (its AOF and the primary's data): used again after the skip
    a.start()
    f.synced(a)
    a0 = gets(a)

    def a_used():
        answers_right(n, stack)
        return gets(a) > a0
    wait_for(a_used, 60, 0.1, "the first server used again")
    assert "answers again, used again" in n.log()
    a1 = gets(a)
    b1 = gets(b)
    answers_right(n, stack, 5)
    assert gets(a) - a1 >= 10
    assert gets(b) == b1


def test_first_server_hangs(stack, fleet, make_nginx):
    """SIGSTOP: connections are accepted by the kernel and nothing is
    answered; each query times out on the first server and is retried on
    the second within the same request, correct every time."""
    f = fleet()
    a, b = f.replicas
    n = nginx_on(make_nginx, stack, [a, b], timeout="500ms")
    answers_right(n, stack, 2)
    a.proc.send_signal(signal.SIGSTOP)
    try:
        answers_right(n, stack, 5)
        assert "read timed out" in n.log()
        m = metrics(n)
        assert m["revoca_ocsp_redis_failovers_total"] >= 1
        assert m["revoca_ocsp_redis_errors_total"] == 0
    finally:
        a.proc.send_signal(signal.SIGCONT)
    assert "skipped for" in n.log()

    # what it was sent while stopped it runs now, unasked: the log, not
    # its GET count, says when nginx uses it again
    def a_used():
        answers_right(n, stack)
        return "answers again, used again" in n.log()
    wait_for(a_used, 60, 0.1, "the first server used again")
    a1, b1 = gets(a), gets(b)
    answers_right(n, stack, 5)
    assert gets(a) - a1 >= 10
    assert gets(b) == b1


def test_masterdown_reply_fails_over(stack, fleet, make_nginx):
    """A replica cut off from its primary that does not serve stale data
    (replica-serve-stale-data no) answers MASTERDOWN: a transient error,
    retried on the next server, not served as an answer."""
    f = fleet(replica_args=[["--replica-serve-stale-data", "no"]])
    a, b = f.replicas
    n = nginx_on(make_nginx, stack, [a, b])
    answers_right(n, stack, 2)
    stack.redis.kill()      # the primary: a loses its link
    wait_for(lambda: a.client().info("replication")["master_link_status"]
             == "down", 30, what="the replica's link down")
    answers_right(n, stack, 5)
    assert "cannot answer now: MASTERDOWN" in n.log()
    m = metrics(n)
    assert m["revoca_ocsp_redis_failovers_total"] >= 1
    assert m["revoca_ocsp_redis_errors_total"] == 0


def test_all_servers_down(stack, fleet, make_nginx):
    """Nothing answers: a cached answer is still served (before its
    nextUpdate), tryLater otherwise; and once the servers are skipped the
    requests no longer wait for them."""
    f = fleet()
    a, b = f.replicas
    n = nginx_on(make_nginx, stack, [a, b], loc="revoca_cache_valid 0;")
    r = post(n.port, request_der(stack.pki, stack.path("good.pem")))
    assert py_ocsp(r.body, stack.pki).certificate_status == GOOD
    a.kill()
    b.kill()
    for _ in range(5):
        r = post(n.port, request_der(stack.pki, stack.path("good.pem")))
        assert py_ocsp(r.body, stack.pki).certificate_status == GOOD
        r = post(n.port, request_der(stack.pki, stack.path("revoked.pem")))
        assert r.ocsp_status == TRY_LATER
    assert "every redis server is failing, none asked" in n.log()
    m = metrics(n)
    assert m["revoca_ocsp_stale_served_total"] >= 5
