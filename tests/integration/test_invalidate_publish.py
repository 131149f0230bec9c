"""The signer's invalidation messages (docs/purge.md, keys.h): every
committed change of a certificate's answer PUBLISHes "ISSUER:SERIAL" to
<prefix>:invalidate inside the same MULTI/EXEC; a re-sign, an event that
changes nothing, an event the signer refuses and a try of a batch that met
a WATCH conflict publish nothing.  Real redis-server and revoca-signer; the
subscriber is redis-py."""
import os
import re
import signal

import pytest

from revoca_fixtures import Stack, render_conf, wait_for

CHANNEL = "revoca:invalidate"


class Subscriber:
    """A SUBSCRIBE to the invalidation channel, opened before the signer
    acts, so that nothing published is missed."""

    def __init__(self, r):
        self.ps = r.pubsub(ignore_subscribe_messages=True)
        self.ps.subscribe(CHANNEL)
        # the subscription is confirmed before anything is published
        m = wait_for(lambda: self.ps.get_message(timeout=0.2) or
                     self.ps.subscribed, what="subscription")
        assert m

    def until(self, payload, timeout=30):
        """Every payload received up to and including PAYLOAD.  Messages of
        one server arrive in the order they were published, so when a
        change made after some action is heard, anything that action
        published has been heard too."""
        got = []

        def step():
            m = self.ps.get_message(timeout=0.2)
            if m is not None and m["type"] == "message":
                assert m["channel"] == CHANNEL.encode()
                got.append(m["data"].decode())
            return got and got[-1] == payload
        wait_for(step, timeout, interval=0, what="message " + payload)
        return got

    def close(self):
        self.ps.close()


def settled(r):
    return (r.xpending("revoca:events", "signer")["pending"] == 0 and
            r.xinfo_groups("revoca:events")[0]["last-delivered-id"] ==
            r.xinfo_stream("revoca:events")["last-generated-id"])


class Sentinels:
    """Fresh certificates issued to mark a point in the message stream."""

    def __init__(self, stack):
        self.stack = stack
        self.n = 0

    def mark(self):
        self.n += 1
        serial = "%x" % (0x5e0000 + self.n)
        wait_for(lambda: settled(self.stack.r()), what="signer to settle")
        self.stack.cli("issue", "--issuer", "demo", "--serial", serial,
                       "--not-after", "2030-01-01")
        return "demo:" + serial


def test_one_message_per_change_of_answer(stack):
    r = stack.r()
    sub = Subscriber(r)
    marks = Sentinels(stack)
    stack.start_signer()
    cli = stack.cli

    def expect(*payloads):
        """The messages since the last call: PAYLOADS, then a sentinel."""
        last = marks.mark()
        got = sub.until(last)
        assert got == list(payloads) + [last], got

    try:
        # operator input in any spelling: the payload carries the
        # canonical serial (lower-case hex, no leading zeros)
        cli("issue", "--issuer", "demo", "--serial", "0x00A1B2",
            "--not-after", "2030-01-01")
        expect("demo:a1b2")
        # the same issue again, and a release of what is not held: the
        # record may change, the answer does not
        cli("issue", "--issuer", "demo", "--serial", "a1b2", "--not-after",
            "2030-01-01")
        cli("release", "--issuer", "demo", "--serial", "a1b2", "--time",
            "2026-01-01", "--wait")
        expect()
        cli("hold", "--issuer", "demo", "--serial", "a1b2", "--time",
            "2026-02-01", "--wait")
        expect("demo:a1b2")
        cli("release", "--issuer", "demo", "--serial", "a1b2", "--time",
            "2026-02-02", "--wait")
        expect("demo:a1b2")
        cli("revoke", "--issuer", "demo", "--serial", "a1b2", "--reason",
            "superseded", "--time", "2026-03-01", "--wait")
        expect("demo:a1b2")
        # keyCompromise outranks: the reason (and time) of the answer change
        cli("revoke", "--issuer", "demo", "--serial", "a1b2", "--reason",
            "keyCompromise", "--time", "2026-04-01", "--wait")
        expect("demo:a1b2")
        # revoked is final: neither changes the answer
        cli("revoke", "--issuer", "demo", "--serial", "a1b2", "--reason",
            "superseded", "--time", "2026-05-01")
        cli("hold", "--issuer", "demo", "--serial", "a1b2", "--time",
            "2026-06-01")
        expect()

        # a re-sign (due now) signs the same answer again: no message
        before = r.get("revoca:ocsp:demo:a1b2")
        r.zadd("revoca:due:demo", {"a1b2": 0})
        wait_for(lambda: r.get("revoca:ocsp:demo:a1b2") != before,
                 what="the re-sign")
        expect()

        # events the signer refuses: not an Event, an unknown issuer
        r.xadd("revoca:events", {"e": b"\xff\xfe not protobuf"})
        other = os.path.join(stack.tmp, "other.conf")
        with open(other, "w") as f:
            f.write(render_conf(stack.redis.port,
                                [{"name": "demo"}, {"name": "other"}]))
        cli("issue", "--issuer", "other", "--serial", "c0ffee",
            "--not-after", "2030-01-01", "--no-wait", conf=other)
        wait_for(lambda: "unknown issuer" in stack.signers[0].output(),
                 what="the refusal")
        expect()
        # a never-issued serial revoked: unknown -> revoked is a change
        cli("revoke", "--issuer", "demo", "--serial", "dead", "--wait")
        expect("demo:dead")
    finally:
        sub.close()
    sig = stack.signers[0]
    assert sig.stop() == 0
    # the counter agrees: 5 changes of a1b2, the sentinels, "dead"
    n = 5 + marks.n + 1
    assert re.search(r" stopped .* invalidations=%d " % n, sig.output()), \
        sig.output()[-600:]


def make_index(path, n, serial_base=0x1000):
    with open(path, "w") as f:
        for i in range(n):
            f.write("V\t301231235959Z\t\t%X\tunknown\t/CN=c%d\n" %
                    (serial_base + i, i))
    return ["%x" % (serial_base + i) for i in range(n)]


def test_watch_conflict_repeat_publishes_nothing(tmp_path, pki_dir):
    """The scenario of test_signer.py's repeated batch: the batch holding a
    certificate's issue and revocation is full, so the hold after it is
    read, loaded and built (its first try: unknown -> held, a change)
    before that batch commits; the hold's batch meets a WATCH conflict and
    is repeated, and the repeat no longer changes anything (revoked is
    final).  Only the committed change is published: one message for the
    certificate, one for each of the others."""
    stack = Stack(tmp_path, pki_dir, signer="batch = 4096;")
    try:
        r = stack.r()
        sub = Subscriber(r)
        leaf = stack.path("revoked.pem")
        serial = stack.serial_of(leaf)
        idx = os.path.join(stack.tmp, "index.txt")
        others = make_index(idx, 4094)
        stack.cli("issue", "--issuer", "demo", "--cert", leaf, "--no-wait")
        stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
        stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--reason",
                  "keyCompromise")
        stack.cli("hold", "--issuer", "demo", "--cert", leaf)
        sig = stack.start_signer()
        wait_for(lambda: " batch " in sig.output() and settled(r), 90,
                 what="signer to consume the events")
        marks = Sentinels(stack)
        last = marks.mark()
        got = sub.until(last, 60)
        sub.close()
        assert sig.stop(signal.SIGTERM) == 0
        assert " conflicts=1 " in sig.output(), sig.output()[-600:]
        assert got[-1] == last
        got = got[:-1]
        assert got.count("demo:" + serial) == 1, got.count("demo:" + serial)
        assert sorted(got) == sorted(["demo:" + s for s in others] +
                                     ["demo:" + serial])
    finally:
        stack.close()
