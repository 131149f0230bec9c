"""Invalidation (issue 12, "A revocation reaches every responder within a
second"): each worker subscribes to <prefix>:invalidate; a message
"ISSUER:SERIAL" drops every cached answer for that certificate, both
CertID hashes, from the shared zone.  revoca_cache_valid is 1h here, so
that without the message the old answer would be served for an hour: the
tests fail without invalidation.

The responses are written by the real revoca-signer (revoca revoke
--wait), which publishes the message in the transaction that commits the
change; the tests publish it again with redis-cli, so that what they check
is the module's side of the contract (the second finds nothing to drop),
and publish malformed ones the signer never would.
"""
import subprocess

import pytest
from cryptography.x509 import ocsp

from ocsp_client import metrics, post, request_der
from revoca_fixtures import py_ocsp, wait_for

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED

CHANNEL = "revoca:invalidate"


def status(n, stack, leaf, digest="sha1"):
    r = post(n.port, request_der(stack.pki, stack.path(leaf), digest))
    assert r.status == 200
    assert r.ocsp_status == ocsp.OCSPResponseStatus.SUCCESSFUL, r.ocsp_status
    return py_ocsp(r.body, stack.pki).certificate_status


def publish(stack, payload):
    """PUBLISH with redis-cli, as an operator or the signer would (a NUL
    byte, which no argv can carry, with redis-py)."""
    if "\x00" in payload:
        return stack.r().publish(CHANNEL, payload)
    p = subprocess.run(["redis-cli", "-p", str(stack.redis.port), "PUBLISH",
                        CHANNEL, payload], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.strip())


@pytest.fixture
def env(stack, make_nginx):
    stack.start_signer()
    for leaf in ("good.pem", "revoked.pem"):
        stack.cli("issue", "--issuer", "demo", "--cert", stack.path(leaf))
    n = make_nginx(stack.conf, workers=1, loc="revoca_cache_valid 1h;")
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1,
             what="the worker subscribed")
    return n


def test_revocation_reaches_the_cache_at_once(stack, env):
    n = env
    for digest in ("sha1", "sha256"):
        assert status(n, stack, "good.pem", digest) == GOOD
        assert status(n, stack, "good.pem", digest) == GOOD
    hits = metrics(n)["revoca_ocsp_cache_hits_total"]
    assert hits >= 2
    serial = stack.serial_of(stack.path("good.pem"))
    stack.cli("revoke", "--issuer", "demo", "--cert", stack.path("good.pem"),
              "--reason", "keyCompromise", "--wait")
    assert publish(stack, "demo:" + serial) >= 1
    wait_for(lambda: metrics(n)["revoca_invalidation_dropped_total"] >= 2,
             what="both cached answers dropped")
    # an hour before the cached answers would have expired
    for digest in ("sha1", "sha256"):
        assert status(n, stack, "good.pem", digest) == REVOKED
    m = metrics(n)
    assert m["revoca_invalidation_messages_total"] >= 1
    assert m["revoca_invalidation_malformed_total"] == 0
    # and the new answer is cached again
    assert status(n, stack, "good.pem") == REVOKED
    assert metrics(n)["revoca_ocsp_cache_hits_total"] > m[
        "revoca_ocsp_cache_hits_total"]


@pytest.mark.parametrize("payload", [
    "garbage", "demo", "demo:", ":ab", "demo:00ab", "demo:AB", "demo:0x1f",
    "demo:ab:cd", "Demo:ab", "demo:zz", "demo:" + "a" * 41,
    "x" * 40 + ":ab", "demo:ab\x00", "demo :ab",
])
def test_malformed_messages_ignored_and_counted(stack, env, payload):
    n = env
    assert status(n, stack, "good.pem") == GOOD
    serial = stack.serial_of(stack.path("good.pem"))
    m = metrics(n)
    publish(stack, payload)
    wait_for(lambda: metrics(n)["revoca_invalidation_malformed_total"] ==
             m["revoca_invalidation_malformed_total"] + 1,
             what="the message counted as malformed")
    assert metrics(n)["revoca_invalidation_dropped_total"] == \
        m["revoca_invalidation_dropped_total"]
    assert "invalidation message on revoca:invalidate ignored" in n.log()
    # still cached: the revocation the signer writes now is not seen (a
    # malformed message drops nothing), until a well-formed one comes
    stack.cli("revoke", "--issuer", "demo", "--cert", stack.path("good.pem"),
              "--reason", "keyCompromise", "--wait")
    publish(stack, payload)
    wait_for(lambda: metrics(n)["revoca_invalidation_malformed_total"] ==
             m["revoca_invalidation_malformed_total"] + 2,
             what="the second one counted")
    if metrics(n)["revoca_invalidation_dropped_total"] == \
            m["revoca_invalidation_dropped_total"]:
        # (unless the signer published the revocation itself)
        assert status(n, stack, "good.pem") == GOOD
    publish(stack, "demo:" + serial)
    wait_for(lambda: metrics(n)["revoca_invalidation_dropped_total"] >
             m["revoca_invalidation_dropped_total"], what="the drop")
    assert status(n, stack, "good.pem") == REVOKED


def test_other_issuers_and_serials_drop_nothing(stack, env):
    n = env
    assert status(n, stack, "good.pem") == GOOD
    m = metrics(n)
    for payload in ("other:ab", "demo:1234abcd"):
        publish(stack, payload)
    wait_for(lambda: metrics(n)["revoca_invalidation_messages_total"] ==
             m["revoca_invalidation_messages_total"] + 2,
             what="both messages received")
    m2 = metrics(n)
    assert m2["revoca_invalidation_malformed_total"] == \
        m["revoca_invalidation_malformed_total"]
    assert m2["revoca_invalidation_dropped_total"] == \
        m["revoca_invalidation_dropped_total"]
    assert status(n, stack, "good.pem") == GOOD
    assert metrics(n)["revoca_ocsp_cache_hits_total"] == \
        m2["revoca_ocsp_cache_hits_total"] + 1


def test_subscription_lost_then_back(stack, env):
    """The subscription killed (CLIENT KILL TYPE pubsub) and kept from
    coming back (its user may not SUBSCRIBE for a while): counted, cached
    answers live their revoca_cache_valid meanwhile; a revocation published
    in the gap is lost, so once subscribed again every answer cached until
    then is dropped: before the loss, and during it."""
    n = env
    r = stack.r()
    assert status(n, stack, "good.pem") == GOOD
    r.execute_command("ACL", "SETUSER", "default", "-subscribe")
    try:
        assert r.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
        wait_for(lambda: metrics(n)["revoca_invalidation_lost_total"] == 1,
                 what="the loss counted")
        assert metrics(n)["revoca_invalidation_connected"] == 0
        wait_for(lambda: "refused SUBSCRIBE revoca:invalidate: NOPERM"
                 in n.log(), what="a refused resubscription")
        # cached during the gap, then revoked: its message is lost too
        assert status(n, stack, "revoked.pem") == GOOD
        stack.cli("revoke", "--issuer", "demo", "--cert",
                  stack.path("revoked.pem"), "--reason", "keyCompromise",
                  "--wait")
        publish(stack, "demo:" + stack.serial_of(stack.path("revoked.pem")))
        assert status(n, stack, "revoked.pem") == GOOD
        # revoked meanwhile: nobody to tell
        stack.cli("revoke", "--issuer", "demo", "--cert",
                  stack.path("good.pem"), "--reason", "keyCompromise",
                  "--wait")
        publish(stack, "demo:" + stack.serial_of(stack.path("good.pem")))
        hits = metrics(n)["revoca_ocsp_cache_hits_total"]
        # the fallback: today's cache lifetime
        assert status(n, stack, "good.pem") == GOOD
        assert metrics(n)["revoca_ocsp_cache_hits_total"] == hits + 1
        assert metrics(n)["revoca_invalidation_connected"] == 0
    finally:
        r.execute_command("ACL", "SETUSER", "default", "+subscribe")
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1,
             what="subscribed again")
    assert "subscription to revoca:invalidate lost" in n.log()
    assert "answers cached before the loss dropped" in n.log()
    assert status(n, stack, "good.pem") == REVOKED
    assert status(n, stack, "revoked.pem") == REVOKED
    assert metrics(n)["revoca_invalidation_lost_total"] == 1


def test_silent_server_ends_the_subscription(stack, env):
    """A server that stops answering (SIGSTOP) is noticed by the PING of
    the subscription, which is then re-established."""
    import signal
    n = env
    stack.redis.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: "silent for" in n.log(), 30,
                 what="the silence noticed")
        assert metrics(n)["revoca_invalidation_connected"] == 0
    finally:
        stack.redis.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1, 30,
             what="subscribed again")
    assert metrics(n)["revoca_invalidation_lost_total"] == 1


def test_reload_keeps_the_subscription_counted_right(stack, env):
    """A reload's old worker leaving is not a lost subscription; the new
    one subscribes (the gauge counts workers subscribed)."""
    n = env
    n.reload()
    wait_for(lambda: "gracefully shutting down" in n.log(), 20,
             what="the old worker leaving")
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1 and
             "exited with code 0" in n.log(), 20, what="the new one alone")
    assert metrics(n)["revoca_invalidation_lost_total"] == 0
    assert status(n, stack, "good.pem") == GOOD
    serial = stack.serial_of(stack.path("good.pem"))
    stack.cli("revoke", "--issuer", "demo", "--cert", stack.path("good.pem"),
              "--reason", "keyCompromise", "--wait")
    publish(stack, "demo:" + serial)
    wait_for(lambda: metrics(n)["revoca_invalidation_dropped_total"] >= 1,
             what="the drop by the new worker")
    assert status(n, stack, "good.pem") == REVOKED


def test_channel_follows_the_prefix(stack, make_nginx):
    """The channel is <prefix>:invalidate, the prefix of the shared file."""
    conf = stack.conf.replace("revoca.conf", "p2.conf")
    with open(stack.conf) as f:
        text = f.read()
    assert 'prefix = "revoca";' in text
    with open(conf, "w") as f:
        f.write(text.replace('prefix = "revoca";', 'prefix = "p2";'))
    n = make_nginx(conf, workers=1)
    wait_for(lambda: metrics(n)["revoca_invalidation_connected"] == 1,
             what="the worker subscribed")
    publish(stack, "demo:ab")          # revoca:invalidate: not ours
    assert stack.r().publish("p2:invalidate", "demo:cd") == 1
    wait_for(lambda: metrics(n)["revoca_invalidation_messages_total"] >= 1,
             what="the message on p2:invalidate")
    assert metrics(n)["revoca_invalidation_messages_total"] == 1
