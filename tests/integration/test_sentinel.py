"""Sentinel: the CLI and the signer find the primary through real
redis-sentinel processes (a primary, two replicas, three Sentinels on free
loopback ports), follow a failover after the primary is SIGKILLed under a
stream of `revoca issue` without losing anything acknowledged, log in to
Sentinels with their own password, skip a Sentinel that is down, and a bad
redis.sentinels setting is a configuration error naming the place.
docs/redis.md#sentinel."""
import os
import subprocess
import threading
import time

import pytest
from cryptography.x509 import ocsp

from redis_fleet import Fleet, failover_seconds, stream_serials
from revoca_fixtures import (BUILD, REVOCA, free_port, openssl_ocsp_status,
                             py_ocsp, render_conf, wait_for)
from test_redis_tls import documented_acls, tls_conf
from test_redis_tls import tls_pki  # noqa: F401 (a fixture)

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")


@pytest.fixture
def fleets(tmp_path, pki_dir):
    made = []

    def make(**kw):
        f = Fleet(tmp_path / ("f%d" % len(made)), pki_dir, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def not_after():
    return str(int(time.time()) + 30 * 86400)


def test_cli_signer_and_crlgen_find_the_primary_through_sentinel(fleets,
                                                                tmp_path):
    pub = str(tmp_path / "pub")
    f = fleets(extra='crl = { publish_dir = "%s"; base_url = '
                     '"http://127.0.0.1:8080/crl/"; };' % pub,
               issuers=[{"name": "demo",
                         "crl": '{ update_interval = "1s"; }'}])
    # redis.host/port name a replica: a write there would fail READONLY
    assert f.conf_port != f.redis.port
    sig = f.start_signer()
    leaf = f.path("revoked.pem")
    f.cli("issue", "--issuer", "demo", "--cert", leaf)
    st, _ = openssl_ocsp_status(f.response(f.serial_of(leaf)), f.pki, leaf)
    assert st == "good"
    f.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
    out = f.cli("status", "--issuer", "demo", "--cert", leaf).stdout
    assert "ocsp_status      revoked" in out, out
    wait_for(lambda: "redis connected host=127.0.0.1 port=%d" % f.redis.port
             in sig.output(), what="the signer's connection line")
    assert "READONLY" not in sig.output()
    p = subprocess.run([CRLGEN, "-c", f.conf, "--once"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    from cryptography import x509
    with open(os.path.join(pub, "demo.crl"), "rb") as fh:
        crl = x509.load_der_x509_crl(fh.read())
    assert [r.serial_number for r in crl] == [int(f.serial_of(leaf), 16)]
    assert f.r().get("revoca:crlnumber:demo") is not None


def test_components_under_their_acls_with_sentinel_and_wait(fleets):
    # ROLE and WAIT are in the documented ACLs (docs/redis.md); ACLs are
    # not replicated: every server gets the users
    f = fleets()
    confs = {}
    for user, rules in documented_acls().items():
        for srv in f.servers:
            srv.client().execute_command("ACL", "SETUSER", user,
                                         ">pw-" + user, *rules)
        comp = user.split("-", 1)[1]
        confs[comp] = f.conf_with(comp, 'user = "%s"; password = "pw-%s"; '
                                  'min_replica_acks = 2; '
                                  'wait_timeout = "5s"; ' % (user, user))
    f.redis.client().execute_command("ACL", "LOG", "RESET")
    sig = f.start_signer(conf=confs["signer"])
    leaf = f.path("revoked.pem")
    f.cli("issue", "--issuer", "demo", "--cert", leaf, conf=confs["cli"])
    f.cli("revoke", "--issuer", "demo", "--cert", leaf, "--reason",
          "keyCompromise", "--wait", conf=confs["cli"])
    st, _ = openssl_ocsp_status(f.response(f.serial_of(leaf)), f.pki, leaf)
    assert st == "revoked"
    log = f.redis.client().execute_command("ACL", "LOG")
    assert log == [], log
    assert "NOPERM" not in sig.output(), sig.output()
    # acknowledged: nothing left pending in the signer's group
    wait_for(lambda: f.r().xpending("revoca:events", "signer")["pending"] == 0,
             what="the signer's acknowledgements")


@pytest.mark.parametrize("sentinel_tls", [True, False])
def test_tls_to_the_sentinels_and_the_primary(fleets, tls_pki, sentinel_tls):
    # Redis and the Sentinels on TLS ports; the primary's certificate is
    # verified for the address the Sentinel gave (127.0.0.1, an iPAddress
    # of the test's certificate).  With sentinel_tls = false the client
    # speaks plain TCP to a TLS Sentinel: refused, the Sentinel named.
    f = fleets(tls=tls_pki)
    conf = f.conf_with("tls", tls_conf(tls_pki) +
                       ("" if sentinel_tls else "sentinel_tls = false; "))
    if not sentinel_tls:
        p = f.cli("status", "--issuer", "demo", "--serial", "01",
                  check=False, conf=conf)
        assert p.returncode == 1
        assert "none of 3 named the primary" in p.stderr, p.stderr
        assert "redis sentinel 127.0.0.1:%d: " % f.sentinels[-1].port \
            in p.stderr, p.stderr
        return
    f.start_signer(conf=conf)
    leaf = f.path("good.pem")
    f.cli("issue", "--issuer", "demo", "--cert", leaf, conf=conf)
    st, _ = openssl_ocsp_status(f.response(f.serial_of(leaf)), f.pki, leaf)
    assert st == "good"
    # a name the primary's certificate does not carry: refused, named
    bad = f.conf_with("badname", tls_conf(tls_pki, name="other.test"))
    p = f.cli("status", "--issuer", "demo", "--serial", "01", check=False,
              conf=bad)
    assert p.returncode == 1
    assert "certificate verify failed" in p.stderr, p.stderr


def crl_numbers(pub, serial):
    """{file: CRL number} of the published CRLs listing SERIAL (hex)."""
    from cryptography import x509
    out = {}
    for name in ("demo.crl", "demo-delta.crl"):
        try:
            with open(os.path.join(pub, name), "rb") as fh:
                crl = x509.load_der_x509_crl(fh.read())
        except (FileNotFoundError, ValueError):
            continue
        if crl.get_revoked_certificate_by_serial_number(int(serial, 16)):
            out[name] = crl.extensions.get_extension_for_class(
                x509.CRLNumber).value.crl_number
    return out


def test_failover_under_load_loses_nothing_acknowledged(fleets, capsys,
                                                        tmp_path):
    pub = str(tmp_path / "pub")
    f = fleets(redis_conf="min_replica_acks = 1; wait_timeout = \"2s\"; ",
               extra='crl = { publish_dir = "%s"; base_url = '
                     '"http://127.0.0.1:8080/crl/"; lease_ttl = "3s"; };' % pub,
               issuers=[{"name": "demo",
                         "crl": '{ update_interval = "1s"; }'}])
    sig = f.start_signer()
    gen = f.start_daemon([CRLGEN, "-c", f.conf, "-v"], "crlgen.log")
    # a revocation on a CRL before the failover
    f.cli("revoke", "--issuer", "demo", "--serial", "0e1", "--wait")
    before = wait_for(lambda: crl_numbers(pub, "0e1"), 60, 0.2,
                      what="a CRL before the failover")
    results = []  # (serial, exit status, stderr, when)
    stop = threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            serial = "%x" % (0x100000 + i)
            i += 1
            p = f.cli("issue", "--issuer", "demo", "--serial", serial,
                      "--not-after", not_after(), check=False, timeout=120)
            results.append((serial, p.returncode, p.stderr, time.monotonic()))

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        wait_for(lambda: sum(r[1] == 0 for r in results) >= 10, 60,
                 what="issues before the failover")
        old = f.redis
        t0 = time.monotonic()
        old.kill()
        new, secs = failover_seconds(f, old.port, t0)
        f.redis = new
        n = len(results)
        wait_for(lambda: sum(r[1] == 0 for r in results[n:]) >= 10, 120,
                 what="issues after the failover")
    finally:
        stop.set()
        t.join(180)
    ok = [r[0] for r in results if r[1] == 0]
    failed = [r for r in results if r[1] != 0]
    first_after = min((r[3] for r in results[n:] if r[1] == 0), default=t0)
    with capsys.disabled():
        print("\nfailover: primary SIGKILLed -> new primary accepts writes "
              "%.2f s; first `revoca issue` acknowledged after %.2f s; "
              "issues: %d acknowledged, %d refused (exit %s)" %
              (secs, first_after - t0, len(ok), len(failed),
               sorted(set(r[1] for r in failed))))
    # a refusal is a clear message, never a silent loss
    for r in failed:
        assert r[1] in (1, 3, 4) and r[2].startswith("revoca: "), r
    # every acknowledged event is in the new primary's stream ...
    in_stream = set(stream_serials(new.client()))
    missing = [s for s in ok if s not in in_stream]
    assert not missing, missing

    # ... and its response signed there (pending entries applied again)
    def signed():
        for s in ok:
            st = f.stored(s)
            if st is None or st["status"] != "good":
                return False
        return True
    wait_for(signed, 120, 0.2, what="every acknowledged issue signed")
    for s in ok:
        resp = py_ocsp(f.response(s), f.pki)
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert resp.serial_number == int(s, 16)
    # crlgen followed it too: a revocation after it is published with a
    # higher CRL number
    f.cli("revoke", "--issuer", "demo", "--serial", "0e2", "--wait")
    after = wait_for(lambda: crl_numbers(pub, "0e2"), 60, 0.2,
                     what="a CRL after the failover")
    assert min(after.values()) > max(before.values()), (before, after)
    assert gen.alive()
    # the signer followed the failover through the Sentinels
    assert sig.alive()
    wait_for(lambda: "redis connected" in sig.output(), what="signer log")
    assert "redis lost" in sig.output(), sig.output()


def test_sentinel_auth_and_a_sentinel_down(fleets):
    down = free_port()
    f = fleets(sentinel_password="s3cret")
    listed = ["127.0.0.1:%d" % down] + ["127.0.0.1:%d" % s.port
                                        for s in f.sentinels]
    f.redis_conf = ('sentinels = ( %s ); master_name = "revoca-m"; ' %
                    ", ".join('"%s"' % a for a in listed))
    good = f.conf_with("good", 'sentinel_password = "s3cret"; ')
    nopass = f.conf_with("nopass", "")
    wrong = f.conf_with("wrong", 'sentinel_password = "wrong"; ')
    # without Sentinel's password: every Sentinel refuses, each named
    p = f.cli("status", "--issuer", "demo", "--serial", "01", check=False,
              conf=nopass)
    assert p.returncode == 1
    assert "redis sentinels: none of 4 named the primary" in p.stderr, p.stderr
    assert "redis sentinel 127.0.0.1:" in p.stderr and "NOAUTH" in p.stderr, \
        p.stderr
    p = f.cli("status", "--issuer", "demo", "--serial", "01", check=False,
              conf=wrong)
    assert p.returncode == 1
    assert "WRONGPASS" in p.stderr or "invalid password" in p.stderr, p.stderr
    # with it, the Sentinel that is down is skipped (and logged)
    sig = f.start_signer(conf=good)
    leaf = f.path("good.pem")
    f.cli("issue", "--issuer", "demo", "--cert", leaf, conf=good)
    st, _ = openssl_ocsp_status(f.response(f.serial_of(leaf)), f.pki, leaf)
    assert st == "good"
    wait_for(lambda: "redis sentinel skipped host=127.0.0.1 port=%d" % down
             in sig.output(), what="the skipped Sentinel in the log")
    assert "connect: Connection refused" in sig.output()


class StaleSentinel:
    """A peer speaking Sentinel's protocol whose view is stale: it names
    ADDR (a replica) as the primary, whatever is asked."""

    def __init__(self, addr):
        import socket
        self.addr = addr
        self.asked = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        host, port = self.addr[0].encode(), str(self.addr[1]).encode()
        reply = b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(host), host, len(port), port)
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                try:
                    data = b""
                    while b"get-master-addr-by-name" not in data or \
                            not data.endswith(b"\r\n"):
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if data:
                        self.asked += 1
                        c.sendall(reply)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_a_stale_sentinel_naming_a_replica_is_not_written_to(fleets):
    f = fleets()
    replica = f.servers[1]
    stale = StaleSentinel(("127.0.0.1", replica.port))
    try:
        real = ['"127.0.0.1:%d"' % s.port for s in f.sentinels]
        bad = '"127.0.0.1:%d"' % stale.port
        f.redis_conf = 'sentinels = ( %s ); master_name = "revoca-m"; ' % bad
        only = f.conf_with("only", "")
        with open(only) as fh:
            text = fh.read()
        with open(only, "w") as fh:  # retried for 3 s, not 20
            fh.write(text.replace('issue_wait = "20s"', 'issue_wait = "3s"'))
        f.redis_conf = ('sentinels = ( %s ); master_name = "revoca-m"; ' %
                        ", ".join([bad] + real))
        first = f.conf_with("first", "")
        # that Sentinel alone: ROLE refuses the replica, with the backoff
        p = f.cli("revoke", "--issuer", "demo", "--serial", "0bad",
                  check=False, conf=only)
        assert p.returncode == 1
        assert ("redis 127.0.0.1:%d: ROLE: slave, not the primary" %
                replica.port in p.stderr), p.stderr
        assert stale.asked >= 2  # asked again, not given up at once
        assert f.r().xlen("revoca:events") == 0
        # listed first, before the real ones: they are asked next
        f.start_signer(conf=first)
        leaf = f.path("good.pem")
        f.cli("issue", "--issuer", "demo", "--cert", leaf, conf=first)
        st, _ = openssl_ocsp_status(f.response(f.serial_of(leaf)), f.pki,
                                    leaf)
        assert st == "good"
    finally:
        stale.close()


def test_no_sentinel_answers_names_them(tmp_path, pki_dir):
    a, b = free_port(), free_port()
    conf = str(tmp_path / "revoca.conf")
    with open(conf, "w") as fh:
        fh.write(render_conf(1, [{"name": "demo"}], "", "",
                             'sentinels = ( "127.0.0.1:%d", "[::1]:%d" ); '
                             'master_name = "m"; ' % (a, b)))
    p = subprocess.run([REVOCA, "-c", conf, "status", "--issuer", "demo",
                        "--serial", "01"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1
    assert 'redis sentinels: none of 2 named the primary of "m"' in p.stderr
    # the last one asked, in brackets as an IPv6 address
    assert "redis sentinel [::1]:%d: connect:" % b in p.stderr, p.stderr


@pytest.mark.parametrize("redis_conf,message", [
    ('sentinels = "127.0.0.1:26379"; master_name = "m";',
     'redis: sentinels: expected a list of 1..16 "host:port" strings'),
    ('sentinels = ( ); master_name = "m";',
     'redis: sentinels: expected a list of 1..16'),
    ('sentinels = ( "127.0.0.1:0" ); master_name = "m";',
     'redis: sentinels[0] "127.0.0.1:0": the port must be 1..65535'),
    ('sentinels = ( "h:1", "h:65536" ); master_name = "m";',
     'redis: sentinels[1] "h:65536": the port must be 1..65535'),
    ('sentinels = ( "[::1:26379" ); master_name = "m";',
     'redis: sentinels[0] "[::1:26379": expected "[IPv6]:port"'),
    ('sentinels = ( "[nope]:1" ); master_name = "m";',
     'redis: sentinels[0] "[nope]:1": not an IPv6 address in the brackets'),
    ('sentinels = ( "bad host:1" ); master_name = "m";',
     'redis: sentinels[0] "bad host:1": the host is not a DNS name or an IP '
     'address'),
    ('sentinels = ( 26379 ); master_name = "m";',
     'redis: sentinels[0] "": expected a "host:port" string'),
    ('sentinels = ( "127.0.0.1:26379" );',
     'redis: sentinels needs master_name'),
    ('sentinels = ( "127.0.0.1:26379" ); master_name = "a b";',
     'redis: master_name must be 1..128 printable characters'),
    ('master_name = "m";', 'redis: master_name is set but sentinels is not'),
    ('sentinel_password = "x";',
     'redis: sentinel_password is set but sentinels is not'),
    ('sentinels = ( "127.0.0.1:26379" ); master_name = "m"; '
     'sentinel_tls = true;', 'redis: sentinel_tls needs tls = true'),
    ('min_replica_acks = -1;', 'min_replica_acks: -1 is out of range 0..64'),
    ('wait_timeout = "0s";', 'redis: wait_timeout: expected a duration of '
     '1ms..60s'),
    ('wait_timeout = "2m";', 'redis: wait_timeout: expected a duration'),
    ('wait_timeout = "fast";', 'redis: wait_timeout: expected a duration'),
])
def test_bad_sentinel_settings_name_the_place(tmp_path, redis_conf, message):
    conf = str(tmp_path / "revoca.conf")
    with open(conf, "w") as fh:
        fh.write(render_conf(1, [{"name": "demo"}], "", "", redis_conf))
    for argv in ([REVOCA, "-c", conf, "status", "--issuer", "demo",
                  "--serial", "01"],
                 [os.path.join(BUILD, "responder", "revoca-signer"), "-c",
                  conf, "--check"],
                 [CRLGEN, "-c", conf, "--check"]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
        # the redis group is on line 1 of the rendered file
        assert "%s:1: %s" % (conf, message) in p.stderr, (argv[0], p.stderr)
