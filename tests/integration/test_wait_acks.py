"""Acknowledged writes (redis.min_replica_acks, WAIT): with a primary and two
real replicas, `revoca issue` (and revoke, import) report success only once
the event is on the primary and the required replicas; with one replica
stopped they exit 4 with a message saying how many acknowledged, the event
in the stream anyway; the signer leaves a batch too few replicas have
pending and applies it again later; crlgen does not publish a CRL number
the replicas do not have.  docs/redis.md#acknowledged-writes."""
import os
import subprocess

import pytest

from redis_fleet import Fleet, stream_serials
from revoca_fixtures import (BUILD, REVOCA, RedisServer, openssl_ocsp_status,
                             wait_for)

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")


@pytest.fixture
def fleet(tmp_path, pki_dir):
    pub = os.path.join(str(tmp_path), "pub")
    f = Fleet(tmp_path, pki_dir, sentinels=0,
              redis_conf='min_replica_acks = 2; wait_timeout = "2s"; ',
              extra='crl = { publish_dir = "%s"; base_url = '
                    '"http://127.0.0.1:8080/crl/"; };' % pub,
              issuers=[{"name": "demo", "crl": "{ update_interval = \"1s\"; }"}])
    f.pub = pub
    yield f
    f.close()


def stop_replica(f, i):
    srv = f.servers[i]
    srv.kill()
    # the primary has noticed (a replica it still counts acknowledges
    # nothing either; this only makes the test's state plain)
    wait_for(lambda: f.replicas_online(f.redis) == len(f.servers) - 2, 30,
             what="the primary to lose a replica")
    return srv


def restart_replica(f, i, srv):
    again = RedisServer(srv.dir, port=srv.port, args=srv.args).start()
    f.servers[i] = again
    wait_for(lambda: f.replicas_online(f.redis) == len(f.servers) - 1, 30,
             what="the replica back in sync")


def test_issue_exits_4_when_too_few_replicas_acknowledge(fleet):
    f = fleet
    sig = f.start_signer()
    good = f.path("good.pem")
    p = f.cli("issue", "--issuer", "demo", "--cert", good)
    assert p.returncode == 0
    st, _ = openssl_ocsp_status(f.response(f.serial_of(good)), f.pki, good)
    assert st == "good"

    stopped = stop_replica(f, 2)
    revoked = f.path("revoked.pem")
    serial = f.serial_of(revoked)
    p = f.cli("issue", "--issuer", "demo", "--cert", revoked, check=False)
    assert p.returncode == 4, p.stderr
    assert ("WAIT: 1 of the 2 replicas required (redis.min_replica_acks) "
            "acknowledged within 2000 ms" in p.stderr), p.stderr
    assert "it is in the stream anyway" in p.stderr
    assert "repeating the command is safe" in p.stderr
    # the message names the server
    assert "redis 127.0.0.1:%d: WAIT" % f.redis.port in p.stderr, p.stderr
    assert serial in stream_serials(f.r())
    # the same for revoke and import
    p = f.cli("revoke", "--issuer", "demo", "--serial", serial, check=False)
    assert p.returncode == 4 and "1 of the 2 replicas" in p.stderr, p.stderr
    index = os.path.join(f.tmp, "index.txt")
    with open(index, "w") as fh:
        fh.write("V\t351231235959Z\t\t%s\tunknown\t/CN=x\n" % "abc1")
    p = f.cli("import", "--issuer", "demo", "--openssl-index", index,
              check=False)
    assert p.returncode == 4 and "import: 1 events" in p.stderr, p.stderr

    # the signer commits but does not acknowledge: its entries stay pending
    wait_for(lambda: "batch not acknowledged by replicas acked=1 wanted=2"
             in sig.output(), 30, what="the signer's warning")
    assert f.r().xpending("revoca:events", "signer")["pending"] > 0

    # both replicas back: 0 again, and the pending entries applied again
    # and acknowledged (claimed after claim_idle, 2 s here)
    restart_replica(f, 2, stopped)
    p = f.cli("hold", "--issuer", "demo", "--serial", "abc1", "--wait")
    assert p.returncode == 0, p.stderr
    wait_for(lambda: f.r().xpending("revoca:events", "signer")["pending"] == 0,
             60, 0.2, what="the pending entries acknowledged")
    st, _ = openssl_ocsp_status(f.response(serial), f.pki, revoked)
    assert st == "revoked"
    # what the replicas have is what the primary has (once replicated:
    # an entry applied again may have just re-signed it)
    key = "revoca:ocsp:demo:" + serial
    for srv in f.servers[1:]:
        wait_for(lambda: srv.client().get(key) == f.r().get(key), 30,
                 what="the replica to have the primary's response")
    assert sig.stop() == 0
    assert "unreplicated=" in sig.output()


def test_issue_waits_for_the_signer_to_acknowledge(fleet):
    # The record already reflects the event (issued before), so only the
    # signer's acknowledgement of this event's entry - given once its
    # writes are on the replicas - is left to wait for.  A consumer of the
    # signer group that holds the entry without acknowledging it keeps
    # `revoca issue` from reporting success.
    f = fleet
    sig = f.start_signer()
    good = f.path("good.pem")
    f.cli("issue", "--issuer", "demo", "--cert", good)
    assert sig.stop() == 0
    r = f.r()
    short = f.conf_with("short", "")
    with open(short) as fh:
        text = fh.read()
    with open(short, "w") as fh:
        fh.write(text.replace('issue_wait = "20s"', 'issue_wait = "3s"'))
    p = subprocess.Popen([REVOCA, "-c", short, "issue", "--issuer", "demo",
                          "--cert", good], stderr=subprocess.PIPE, text=True)
    held = wait_for(lambda: r.xreadgroup("signer", "holder",
                                         {"revoca:events": ">"}, count=10),
                    what="the entry delivered to the holder")
    out = p.communicate(timeout=60)[1]
    assert p.returncode == 3, out
    assert "acknowledged by redis.min_replica_acks replicas" in out, out
    r.xack("revoca:events", "signer", *[e[0] for e in held[0][1]])
    # once the holder acknowledges the entry, success
    p = subprocess.Popen([REVOCA, "-c", f.conf, "issue", "--issuer", "demo",
                          "--cert", good], stderr=subprocess.PIPE, text=True)
    held = wait_for(lambda: r.xreadgroup("signer", "holder",
                                         {"revoca:events": ">"}, count=10),
                    what="the entry delivered to the holder")
    r.xack("revoca:events", "signer", *[e[0] for e in held[0][1]])
    out = p.communicate(timeout=60)[1]
    assert p.returncode == 0, out


def test_crlgen_does_not_publish_a_number_too_few_replicas_have(fleet):
    f = fleet
    f.start_signer()
    f.cli("issue", "--issuer", "demo", "--cert", f.path("revoked.pem"))
    f.cli("revoke", "--issuer", "demo", "--cert", f.path("revoked.pem"),
          "--wait")
    stopped = stop_replica(f, 1)
    p = subprocess.run([CRLGEN, "-c", f.conf, "--once"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode != 0
    assert "not published" in p.stderr + p.stdout, p.stderr + p.stdout
    assert "1 of the 2 replicas" in p.stderr + p.stdout
    assert not os.path.exists(os.path.join(f.pub, "demo.crl"))
    restart_replica(f, 1, stopped)
    p = subprocess.run([CRLGEN, "-c", f.conf, "--once"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.path.join(f.pub, "demo.crl"))
    # the number it carries is on both replicas
    n = f.r().get("revoca:crlnumber:demo")
    for srv in f.servers[1:]:
        wait_for(lambda: srv.client().get("revoca:crlnumber:demo") == n,
                 what="the number on the replica")


def test_no_wait_without_min_replica_acks(tmp_path, pki_dir):
    # the default (0): no WAIT sent; a replica down changes nothing
    f = Fleet(tmp_path, pki_dir, replicas=1, sentinels=0)
    try:
        f.start_signer()
        f.servers[1].kill()
        f.cli("issue", "--issuer", "demo", "--cert", f.path("good.pem"))
        info = f.r().info("commandstats")
        assert "cmdstat_wait" not in info, info
    finally:
        f.close()
