"""Two generators on one Redis: one publishes under the lease, the other
takes over when it dies, and no CRL number is ever published twice."""
import os
import re
import signal

from conftest import CrlStack, crl_group, wait_for
from revoca_fixtures import render_conf

ISSUERS = [{"name": "demo", "crl": '{ update_interval = "1s"; }'}]


def numbers(gen):
    return [int(n) for n in re.findall(r"published .* number=(\d+)", gen.output())]


def second_generator_conf(s, lease_ttl):
    """Config for a second generator on the same Redis, publishing into its
    own directory: (publish dir, config path)."""
    pub2 = os.path.join(s.tmp, "pub2")
    conf2 = os.path.join(s.tmp, "revoca2.conf")
    with open(conf2, "w") as f:
        f.write(render_conf(s.redis.port, ISSUERS,
                            crl_group(pub2, lease_ttl=lease_ttl)))
    return pub2, conf2


def test_two_generators_takeover_and_unique_numbers(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir, issuers=ISSUERS, crl={"lease_ttl": '"2s"'})
    try:
        s.start_signer()
        pub2, conf2 = second_generator_conf(s, '"2s"')
        a = s.start_crlgen()
        b = s.start_crlgen(conf=conf2)
        wait_for(lambda: numbers(a) or numbers(b), what="a first publication")
        leader, follower = (a, b) if numbers(a) else (b, a)

        s.issue_revoke("revoked")
        wait_for(lambda: len(numbers(leader)) >= 3, what="a delta")
        assert numbers(follower) == []

        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(10)
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        s.cli("revoke", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
        # the follower takes over within a lease TTL and publishes
        wait_for(lambda: len(numbers(follower)) >= 2, timeout=30,
                 what="takeover")
        assert "lease acquired" in follower.output()
        # its own publish dir gets a full CRL at once, not at the re-sign
        fdir = s.pub if follower is a else pub2
        wait_for(lambda: os.path.exists(os.path.join(fdir, "demo.crl")),
                 what="the new leader's full CRL")

        # whatever the dead leader left pending is claimed and acknowledged
        r = s.r()
        wait_for(lambda: r.xpending("revoca:events", "crlgen")["pending"] == 0,
                 timeout=30, what="pending events claimed")

        published = numbers(leader) + numbers(follower)
        assert len(published) == len(set(published)), published
        assert min(numbers(follower)) > max(numbers(leader))
        follower.stop()
    finally:
        s.close()


def test_dead_generators_pending_events_are_claimed(tmp_path, pki_dir):
    """A generator killed between reading an event and publishing the CRL
    that covers it leaves the event pending; the next leader claims it
    (XAUTOCLAIM), covers it and acknowledges it."""
    import glob
    s = CrlStack(tmp_path, pki_dir, issuers=ISSUERS, crl={"lease_ttl": '"3s"'})
    try:
        s.start_signer()
        pub2, conf2 = second_generator_conf(s, '"3s"')
        stall = dict(os.environ, REVOCA_CRLGEN_TEST_STALL_MS="1000")
        a = s.start_crlgen(env=stall)
        wait_for(lambda: os.path.exists(s.file("demo-delta.crl")),
                 what="the first generator's CRLs")
        b = s.start_crlgen(conf=conf2)

        serial = s.issue_revoke("revoked")
        r = s.r()
        # a is writing the delta that covers the revocation: kill it there
        wait_for(lambda: glob.glob(os.path.join(s.pub, ".demo-delta.crl.tmp-*")),
                 what="a delta being published")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        assert r.xpending("revoca:events", "crlgen")["pending"] >= 1

        wait_for(lambda: r.xpending("revoca:events", "crlgen")["pending"] == 0,
                 timeout=30, what="the event claimed and acknowledged")
        delta = s.crl("demo-delta.crl", pub=pub2)
        assert delta.get_revoked_certificate_by_serial_number(serial) is not None
        assert "lease acquired" in b.output()
        b.stop()
    finally:
        s.close()
