"""`revoca health` against a real redis-server, revoca-signer and (when
built) revoca-crlgen: 0 when the service is healthy, 1 naming what is wrong
(a stopped signer with events waiting, an overdue re-sign, Redis down, a
CRL generator gone), 2 on bad input; --format json parses."""
import json
import os
import time

import pytest

from revoca_fixtures import (BUILD, Daemon, RedisServer, Stack, wait_for)

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")


def health(stack, *args):
    return stack.cli("health", *args, check=False)


def health_json(stack, *args):
    p = health(stack, "--format", "json", *args)
    assert p.returncode in (0, 1), p.stderr
    doc = json.loads(p.stdout)
    assert doc["healthy"] == (p.returncode == 0)
    return p.returncode, doc


def test_healthy_then_signer_stopped_then_overdue(stack):
    sig = stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    p = health(stack)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "healthy" in p.stdout and "PROBLEM" not in p.stdout
    assert "reachable role=master" in p.stdout
    rc, doc = health_json(stack)
    assert rc == 0 and doc["problems"] == []
    assert doc["redis"]["reachable"] and doc["redis"]["role"] == "master"
    assert doc["groups"]["signer"]["lag"] == 0
    assert doc["groups"]["signer"]["pending"] == 0
    assert doc["groups"]["crlgen"] is None
    (demo,) = doc["issuers"]
    assert demo["name"] == "demo" and demo["due"] == 1
    assert demo["resign_overdue_seconds"] == 0
    assert demo["responder_cert_expiry_seconds"] > 14 * 86400
    assert demo["oldest_response_age_seconds"] >= 3600  # backdated 1 h

    # The signer stops; events wait in the stream.
    assert sig.stop() == 0
    for _ in range(3):
        stack.cli("issue", "--issuer", "demo", "--cert", good, "--no-wait")
    p = health(stack, "--max-lag", "2")
    assert p.returncode == 1, p.stdout
    assert "PROBLEM: signer: 3 events behind the stream (lag 3, pending 0" \
        in p.stdout
    assert "action: is revoca-signer running?" in p.stdout
    assert "UNHEALTHY" in p.stdout
    # under the default threshold three events are no problem
    assert health(stack).returncode == 0
    rc, doc = health_json(stack, "--max-lag", "0")
    assert rc == 1 and doc["groups"]["signer"]["lag"] == 3
    assert any("events behind" in n["what"] for n in doc["problems"])

    # A re-sign two hours late.
    serial = stack.serial_of(good)
    stack.r().zadd("revoca:due:demo", {serial: int(time.time()) - 7200})
    p = health(stack)
    assert p.returncode == 1, p.stdout
    assert "PROBLEM: issuer demo: a re-sign is" in p.stdout
    assert "overdue" in p.stdout
    rc, doc = health_json(stack)
    assert doc["issuers"][0]["resign_overdue_seconds"] >= 7200
    # a signer that runs again catches up, and all is well
    stack.start_signer()
    wait_for(lambda: health(stack, "--max-lag", "0").returncode == 0,
             what="the signer to catch up")


def test_redis_down_and_bad_input(stack):
    assert health(stack, "--format", "xml").returncode == 2
    assert health(stack, "--max-lag", "-1").returncode == 2
    assert health(stack, "extra").returncode == 2
    stack.redis.kill()
    p = health(stack)
    assert p.returncode == 1
    assert "UNREACHABLE" in p.stdout and "PROBLEM: redis 127.0.0.1:" in p.stdout
    rc, doc = health_json(stack)
    assert rc == 1 and doc["redis"]["reachable"] is False
    assert doc["redis"]["error"]


def test_replication_is_shown(stack, tmp_path):
    replica = RedisServer(str(tmp_path / "replica"), args=(
        "--replicaof", "127.0.0.1", str(stack.redis.port))).start()
    try:
        def online():
            rc, doc = health_json(stack)
            reps = doc["redis"]["replicas"]
            return reps and reps[0]["state"] == "online" and doc
        doc = wait_for(online, what="the replica to be online")
        assert doc["redis"]["connected_replicas"] == 1
        assert doc["redis"]["replicas"][0]["address"] == \
            "127.0.0.1:%d" % replica.port
        p = health(stack)
        assert "replica 127.0.0.1:%d state=online" % replica.port in p.stdout
        # pointed at the replica, health says writes would go astray
        conf = os.path.join(stack.tmp, "replica.conf")
        with open(stack.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("port = %d;" % stack.redis.port,
                                 "port = %d;" % replica.port))
        p = stack.cli("health", check=False, conf=conf)
        assert p.returncode == 1
        assert "is a replica (link to its primary: up)" in p.stdout
    finally:
        replica.kill()


@pytest.mark.skipif(not os.path.exists(CRLGEN), reason="crlgen not built")
def test_crl_freshness_and_lease(tmp_path, pki_dir):
    pub = os.path.join(str(tmp_path), "pub")
    crl = ('crl = { publish_dir = "%s"; base_url = "http://127.0.0.1/crl/"; '
           'lease_ttl = "3s"; claim_idle = "2s"; };' % pub)
    stack = Stack(tmp_path, pki_dir,
                  [{"name": "demo", "crl": '{ update_interval = "1s"; }'}],
                  crl)
    try:
        stack.start_signer()
        gen = Daemon([CRLGEN, "-c", stack.conf, "-v"],
                     os.path.join(stack.tmp, "crlgen.log")).start()
        stack.signers.append(gen)

        def published():
            rc, doc = health_json(stack)
            c = doc["issuers"][0]["crl"]
            # the signer's group too: a slow (sanitizer) signer may create
            # it after crlgen has published
            return c["full_number"] > 0 and c["lease_holder"] and \
                "signer" in doc.get("groups", {}) and (rc, doc)
        rc, doc = wait_for(published, what="a CRL, a lease, the signer group")
        assert rc == 0, doc["problems"]
        c = doc["issuers"][0]["crl"]
        assert c["full_next_update"] > time.time() > c["full_this_update"]
        assert doc["groups"]["crlgen"]["lag"] == 0
        gen.stop(9)  # no release: the lease runs out
        wait_for(lambda: health(stack).returncode == 1, what="the lease to go")
        p = health(stack)
        assert "issuer demo: no CRL generator holds the lease" in p.stdout
    finally:
        stack.close()
