#!/usr/bin/python3
"""A Revoca fleet in network namespaces that loses its Redis primary under
load (issue 12 section 3).  `deploy/dev fleet` runs the full version, ctest
a short one (tests/fleet/test_fleet.py).  Needs root (ip netns).

Hosts, each a network namespace named rvf<PID>-<host> on one bridge (in
the namespace rvf<PID>-hub) with addresses of 10.77.0.0/24 that exist only
there:

  db1 db2 db3   redis-server (db1 the first primary, db2 and db3 its
                replicas; AOF, min-replicas-to-write 1) and a redis-sentinel
                each (quorum 2)
  web1 web2     nginx with the module (revoca_redis: its own replica first,
                then the others), revoca-signer, revoca-crlgen (own publish
                dir; a post-publish hook copies each CRL to a shared dir)
  cl            the CA (revoca issue / revoke) and the OCSP clients
                (fleet_client.py)

Scenario, under steady load: (a) SIGKILL the primary; (c) restart it as a
replica of the new primary; (b) cut the new primary off the network, still
running; heal the cut (it comes back as a replica); then stop the load and
check.  (c) comes before (b) so that the primary elected at (b) has a
replica to accept writes with min-replicas-to-write 1.

Printed: failover times, OCSP availability, propagation of revocations,
CRL figures.  Asserted (exit status 1, or the test fails): no wrong
answer, no lost event, and, with the pieces of issue 12 they depend on,
CRLs.  Every namespace and process is removed at the end, also on error or
Ctrl-C.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "nginx"))

from revoca_fixtures import BUILD, REVOCA, SIGNER, make_pki_dir  # noqa: E402
from conftest import MODULE, NGINX, nginx_env  # noqa: E402  (tests/nginx)

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")
PY = "/usr/bin/python3"
CLIENT = os.path.join(HERE, "fleet_client.py")
HOOK = os.path.join(HERE, "crl_hook.sh")
NET = "10.77.0."
HOSTS = {"db1": 11, "db2": 12, "db3": 13, "web1": 21, "web2": 22, "cl": 100}
DBS = ("db1", "db2", "db3")
WEBS = ("web1", "web2")
LOCAL = {"web1": "db2", "web2": "db3"}   # each responder's replica
REDIS_PORT, SENTINEL_PORT = 6379, 26379
MASTER = "revoca"
# a signed status, or the deliberate unsigned answer for a never-issued
# serial (docs/nginx.md): answered, as opposed to tryLater or a failure
ANSWERED = ("good", "revoked", "unknown", "UNAUTHORIZED")


def ip_of(host):
    return NET + str(HOSTS[host])


def log(msg):
    print("fleet: " + msg, flush=True)


def sh(*argv, check=True, timeout=30):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.strip()))
    return p


def poll(pred, bound, interval=0.2, what="condition"):
    """PRED until truthy, at most BOUND seconds (a hang guard, never a
    timing assertion): its value, or None."""
    deadline = time.monotonic() + bound
    while True:
        try:
            v = pred()
        except Exception:
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            log("gave up waiting %.0f s for %s" % (bound, what))
            return None
        time.sleep(interval)


def percentile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Fleet:
    def __init__(self, opts):
        self.o = opts
        self.tag = "rvf%d" % os.getpid()
        self.namespaces = []
        self.procs = {}          # name -> Popen
        self.logs = []
        self.dir = opts.dir or tempfile.mkdtemp(prefix="revoca-fleet-")
        os.makedirs(self.dir, exist_ok=True)
        self.events = []         # (name, time, details)
        self.features = {}

    # --- network ------------------------------------------------------

    def ns(self, host):
        return "%s-%s" % (self.tag, host)

    def net_up(self):
        hub = self.ns("hub")
        sh("ip", "netns", "add", hub)
        self.namespaces.append(hub)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for host in HOSTS:
            n = self.ns(host)
            sh("ip", "netns", "add", n)
            self.namespaces.append(n)
            # both ends made inside the namespaces: nothing in the caller's
            sh("ip", "-n", hub, "link", "add", host, "type", "veth",
               "peer", "name", "eth0", "netns", n)
            sh("ip", "-n", hub, "link", "set", host, "master", "br0", "up")
            sh("ip", "-n", n, "addr", "add", ip_of(host) + "/24", "dev",
               "eth0")
            sh("ip", "-n", n, "link", "set", "eth0", "up")
            sh("ip", "-n", n, "link", "set", "lo", "up")

    def cut(self, host, up=False):
        """HOST's port on the bridge down (or up): HOST keeps running and
        its own interface stays up; its packets go nowhere."""
        sh("ip", "-n", self.ns("hub"), "link", "set", host,
           "up" if up else "down")

    def net_down(self):
        for n in reversed(self.namespaces):
            self.kill_ns(n)
        for n in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        self.namespaces = []

    def kill_ns(self, n):
        """SIGKILL whatever still runs in namespace N (started by us)."""
        p = subprocess.run(["ip", "netns", "pids", n], capture_output=True,
                           text=True)
        for pid in p.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    # --- processes ----------------------------------------------------

    def spawn(self, name, host, argv, env=None):
        logf = open(os.path.join(self.dir, name + ".log"), "ab")
        self.logs.append(logf)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + argv,
                             stdout=logf, stderr=logf, env=env,
                             start_new_session=True)
        self.procs[name] = p
        return p

    def stop(self, name, sig=signal.SIGTERM, timeout=20):
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log("%s ignored signal %d: killed" % (name, sig))
            p.kill()
            p.wait()

    def kill_all(self):
        for name, p in self.procs.items():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def rcli(self, host, *cmd, port=REDIS_PORT, timeout=5):
        p = subprocess.run(["ip", "netns", "exec", self.ns(host), "redis-cli",
                            "-h", ip_of(host), "-p", str(port)] + list(cmd),
                           capture_output=True, text=True, timeout=timeout)
        return p.stdout.strip() if p.returncode == 0 else None

    # --- components ---------------------------------------------------

    def start_redis(self, host, replicaof=None):
        d = os.path.join(self.dir, host)
        os.makedirs(d, exist_ok=True)
        argv = ["redis-server", "--bind", ip_of(host), "--port",
                str(REDIS_PORT), "--protected-mode", "no", "--dir", d,
                "--appendonly", "yes", "--appendfsync", "everysec",
                "--save", "", "--min-replicas-to-write", "1",
                "--min-replicas-max-lag", "10",
                # a restarted node must not serve the data of its own AOF
                # while it resynchronises
                "--replica-serve-stale-data", "no",
                "--logfile", os.path.join(d, "redis.log")]
        if replicaof:
            argv += ["--replicaof", ip_of(replicaof), str(REDIS_PORT)]
        self.spawn("redis-" + host, host, argv)
        poll(lambda: self.rcli(host, "ping") == "PONG", 30,
             what="redis on " + host)

    def start_sentinel(self, host):
        d = os.path.join(self.dir, host)
        conf = os.path.join(d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind %s\nprotected-mode no\ndir %s\n"
                    "logfile %s\n"
                    "sentinel monitor %s %s %d 2\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s 10000\n"
                    "sentinel parallel-syncs %s 1\n" % (
                        SENTINEL_PORT, ip_of(host), d,
                        os.path.join(d, "sentinel.log"), MASTER,
                        ip_of("db1"), REDIS_PORT, MASTER,
                        self.o.down_after, MASTER, MASTER))
        self.spawn("sentinel-" + host, host, ["redis-sentinel", conf])

    def sentinel_master(self):
        """The primary's host as the Sentinels that answer name it."""
        for h in DBS:
            out = self.rcli(h, "SENTINEL", "get-master-addr-by-name", MASTER,
                            port=SENTINEL_PORT, timeout=2)
            if out:
                addr = out.split()[0]
                for k in DBS:
                    if ip_of(k) == addr:
                        return k
        return None

    def replicas_online(self, host):
        info = self.rcli(host, "info", "replication") or ""
        return info.count("state=online")

    def redis_conf(self):
        """The daemons' and the CLI's redis group: through the Sentinels
        when the build knows them, else straight to db1."""
        if self.features["sentinel"]:
            sent = ", ".join('"%s:%d"' % (ip_of(h), SENTINEL_PORT)
                             for h in DBS)
            return ('redis = { sentinels = ( %s ); master_name = "%s"; '
                    'min_replica_acks = 1; wait_timeout = "2s"; };\n' % (
                        sent, MASTER))
        return 'redis = { host = "%s"; port = %d; };\n' % (ip_of("db1"),
                                                           REDIS_PORT)

    def write_conf(self, name, redis, crl_dir=None, consumer=None,
                   extra=""):
        pki = self.pki
        text = redis + 'prefix = "revoca";\n' + extra
        if consumer:
            text += ('signer = { batch = 64; claim_idle = "3s"; lease = "5s"; '
                     'consumer = "%s"; };\n' % consumer)
        text += 'cli = { issue_wait = "20s"; };\n'
        if crl_dir:
            text += ('crl = { publish_dir = "%s"; base_url = "http://%s/crl/";'
                     ' post_publish = "%s %s %s"; lease_ttl = "3s";'
                     ' claim_idle = "3s"; consumer = "crl-%s"; };\n' % (
                         crl_dir, ip_of("web1"), HOOK, self.shared,
                         consumer, consumer))
        text += ('issuers = ( { name = "demo"; cert = "%s/issuer.pem";'
                 ' key = "%s/issuer.key"; responder_cert = "%s/responder.pem";'
                 ' responder_key = "%s/responder.key"; validity = "1d";'
                 ' crl = { update_interval = "2s"; delta_lifetime = "1h"; };'
                 ' } );\n' % (pki, pki, pki, pki))
        path = os.path.join(self.dir, name + ".conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def purge_hook(self):
        """The signer's CDN purge hook: logs each run (time, URLs), as it
        would tell a CDN."""
        self.purge_log = os.path.join(self.dir, "purges.log")
        path = os.path.join(self.dir, "purge-hook.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nprintf '%%s %%s\\n' \"$(date +%%s.%%N)\" \"$*\""
                    " >> %s\n" % self.purge_log)
        os.chmod(path, 0o755)
        return ('purge = { hook = "%s"; ocsp_urls = ( %s ); };\n' % (
            path, ", ".join('"http://%s/ocsp"' % ip_of(h) for h in WEBS)))

    def detect(self):
        """Which pieces of issue 12 this build has."""
        probe = self.write_conf(
            "probe", 'redis = { sentinels = ( "%s:%d" ); master_name = "%s";'
            ' min_replica_acks = 1; wait_timeout = "2s"; };\n' % (
                ip_of("db1"), SENTINEL_PORT, MASTER))
        p = subprocess.run([SIGNER, "-c", probe, "--check"],
                           capture_output=True, text=True, timeout=30)
        self.features["sentinel"] = p.returncode == 0
        if p.returncode != 0:
            self.features["sentinel_why"] = (p.stdout + p.stderr).strip()[-200:]
        purge = self.purge_hook()
        probe = self.write_conf("probe-purge", 'redis = { host = "%s"; };\n'
                                % ip_of("db1"), extra=purge)
        p = subprocess.run([SIGNER, "-c", probe, "--check"],
                           capture_output=True, text=True, timeout=30)
        self.features["purge"] = p.returncode == 0
        self.purge_conf = purge if p.returncode == 0 else ""
        # the CRL floor (numbers from Redis's clock in ms) is seen on the
        # first CRL: check_crls()
        self.features["crl_floor"] = self.o.assert_crl

    def start_web(self, host):
        d = os.path.join(self.dir, host)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        pub = os.path.join(d, "pub")
        conf = self.write_conf(host, self.redis_conf(), crl_dir=pub,
                               consumer=host, extra=self.purge_conf)
        # nginx reads a file of its own: the servers come from revoca_redis
        nconf = self.write_conf(host + "-nginx", 'redis = { host = "%s"; '
                                'port = %d; };\n' % (ip_of(LOCAL[host]),
                                                     REDIS_PORT))
        order = [LOCAL[host]] + [h for h in DBS if h != LOCAL[host]]
        servers = "".join("    revoca_redis %s:%d;\n" % (ip_of(h), REDIS_PORT)
                          for h in order)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("""load_module %(module)s;
%(user)s
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log info;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp/body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    revoca_config %(nconf)s;
    revoca_cache_zone 8m;
%(servers)s    revoca_redis_connect_timeout 200ms;
    revoca_redis_timeout 500ms;
    server {
        listen %(ip)s:80;
        location /ocsp { revoca_ocsp; }
        location = /metrics { revoca_metrics; }
        location /crl/ { alias %(shared)s/; }
    }
}
""" % {"module": MODULE, "d": d, "nconf": nconf, "servers": servers,
                "ip": ip_of(host), "shared": self.shared,
                "user": "user root root;" if os.geteuid() == 0 else ""})
        self.spawn("nginx-" + host, host, [NGINX, "-p", d, "-c",
                                           os.path.join(d, "nginx.conf"),
                                           "-e", os.path.join(d, "error.log")],
                   env=nginx_env())
        self.spawn("signer-" + host, host, [SIGNER, "-c", conf])
        self.spawn("crlgen-" + host, host, [CRLGEN, "-c", conf])
        return conf

    # --- the run ------------------------------------------------------

    def setup(self):
        self.pki = os.path.join(self.dir, "pki")
        src = make_pki_dir()
        shutil.copytree(src, self.pki)
        shutil.rmtree(src, ignore_errors=True)
        self.shared = os.path.join(self.dir, "shared")
        os.makedirs(os.path.join(self.shared, "archive"))
        self.detect()
        log("features: sentinel=%s purge hook=%s" % (
            self.features["sentinel"], self.features["purge"]))
        if not self.features["sentinel"]:
            log("the daemons and the CLI do not take redis.sentinels yet (%s):"
                " they talk to db1 directly and cannot follow a failover" %
                self.features.get("sentinel_why", ""))
        self.net_up()
        log("namespaces %s-*, run directory %s" % (self.tag, self.dir))
        self.start_redis("db1")
        for h in ("db2", "db3"):
            self.start_redis(h, replicaof="db1")
        poll(lambda: self.replicas_online("db1") == 2, 60,
             what="two replicas online")
        for h in DBS:
            self.start_sentinel(h)
        poll(lambda: all("num-other-sentinels\n2" in (self.rcli(
            h, "SENTINEL", "master", MASTER, port=SENTINEL_PORT) or "")
            for h in DBS), 60, what="Sentinels to find each other")
        self.ca_conf = self.write_conf("ca", self.redis_conf())
        for h in WEBS:
            self.start_web(h)
        responders = ",".join("%s:80" % ip_of(h) for h in WEBS)
        # the module's invalidation subscription shows in its metrics
        metrics = poll(lambda: self.metrics("web1"), 30,
                       what="nginx on web1") or ""
        self.features["invalidate"] = "revoca_invalidation" in metrics
        log("the module subscribes to invalidations: %s" %
            self.features["invalidate"])
        poll(lambda: self.rcli("db1", "exists", "revoca:crlnumber:demo") ==
             "1", 60, what="a first CRL")
        common = ["--pki", self.pki, "--responders", responders,
                  "--sentinels", ",".join("%s:%d" % (ip_of(h), SENTINEL_PORT)
                                          for h in DBS),
                  "--master-name", MASTER]
        self.common = common
        self.ca_journal = os.path.join(self.dir, "ca.jsonl")
        self.ocsp_journal = os.path.join(self.dir, "ocsp.jsonl")
        self.mark("load-start")
        self.spawn("ca", "cl", [PY, CLIENT, "ca", "--conf", self.ca_conf,
                                "--revoca", REVOCA, "--journal",
                                self.ca_journal,
                                "--revoke-every", str(self.o.revoke_every),
                                "--issue-threads", "2"] + common)
        self.spawn("ocsp", "cl", [PY, CLIENT, "ocsp", "--ca-journal",
                                  self.ca_journal, "--out", self.ocsp_journal,
                                  "--threads", str(self.o.ocsp_threads)] +
                   common)

    def metrics(self, host):
        """The module's metrics page on HOST, from the clients' host."""
        p = subprocess.run(["ip", "netns", "exec", self.ns("cl"), "curl",
                            "-s", "-f", "-m", "5", "http://%s/metrics" %
                            ip_of(host)], capture_output=True, text=True)
        return p.stdout if p.returncode == 0 else None

    def redis_stats(self):
        """Each node's role, memory and command figures, for the report
        (and docs/scaling.md)."""
        self.stats = {}
        for h in DBS:
            st = {}
            for section in ("replication", "memory", "commandstats",
                            "keyspace"):
                for line in (self.rcli(h, "info", section) or "").splitlines():
                    k, _, v = line.partition(":")
                    if k in ("role", "used_memory", "db0") or (
                            k.startswith("cmdstat_") and k[8:] in (
                                "get", "exec", "xadd", "wait", "publish",
                                "mget", "set", "xreadgroup", "evalsha",
                                "eval", "incr")):
                        st[k] = v.strip()
            self.stats[h] = st
        for h in WEBS:
            st = {}
            for line in (self.metrics(h) or "").splitlines():
                k, _, v = line.partition(" ")
                if k in ("revoca_ocsp_cache_hits_total",
                         "revoca_ocsp_cache_misses_total",
                         "revoca_ocsp_stale_served_total",
                         "revoca_ocsp_redis_errors_total"):
                    st[k[12:]] = v
                elif k.startswith("revoca_invalidation"):
                    st[k[7:]] = v
            self.stats[h] = st

    def mark(self, what, **kw):
        kw["t"] = time.time()
        self.events.append((what, kw))
        log("%s %s" % (what, " ".join("%s=%s" % (k, v) for k, v in kw.items()
                                       if k != "t")))
        return kw["t"]

    def wait_promoted(self, old, bound):
        return poll(lambda: (lambda m: m if m and m != old and
                             self.rcli(m, "role").startswith("master")
                             else None)(self.sentinel_master()),
                    bound, what="a new primary")

    def scenario(self):
        o = self.o
        time.sleep(o.warmup)
        # (a) SIGKILL the primary
        old = self.sentinel_master() or "db1"
        self.mark("a-kill", host=old)
        self.stop("redis-" + old, signal.SIGKILL)
        new = self.wait_promoted(old, 90)
        self.mark("a-promoted", host=new)
        time.sleep(o.hold)
        # (c) the old primary back, as a replica of the new one
        if new:
            self.mark("c-restart", host=old, replicaof=new)
            self.start_redis(old, replicaof=new)
            poll(lambda: self.replicas_online(new) == 2, 90,
                 what="the restarted node online as a replica")
            self.mark("c-online", host=old)
        time.sleep(o.hold)
        # (b) cut the primary off the network, still running
        cut = self.sentinel_master() or new or old
        self.mark("b-cut", host=cut)
        self.cut(cut)
        new2 = self.wait_promoted(cut, 90)
        self.mark("b-promoted", host=new2)
        time.sleep(o.hold)
        self.cut(cut, up=True)
        self.mark("b-healed", host=cut)
        if new2:
            poll(lambda: self.replicas_online(new2) == 2, 90,
                 what="the healed node back as a replica")
            self.mark("b-rejoined", host=cut)
        time.sleep(o.tail)
        self.mark("load-stop")
        self.stop("ca", timeout=o.prop_bound + 90)
        self.stop("ocsp", timeout=30)
        self.mark("ocsp-stop")
        self.redis_stats()
        # the sweep: every acknowledged event in Redis and answered right
        self.sweep_journal = os.path.join(self.dir, "sweep.jsonl")
        self.spawn("sweep", "cl", [PY, CLIENT, "sweep", "--ca-journal",
                                   self.ca_journal, "--out",
                                   self.sweep_journal, "--bound",
                                   str(o.settle)] + self.common)
        self.procs["sweep"].wait(o.settle * 3 + 120)

    def check_alive(self):
        """Daemons that died on their own (only Redis is killed here)."""
        self.died = sorted(n for n, p in self.procs.items()
                           if p.poll() is not None and
                           n.split("-")[0] in ("signer", "crlgen", "nginx",
                                               "sentinel"))

    def bad_log_lines(self):
        """nginx [alert]/[crit]/[emerg] lines and sanitizer reports."""
        import re
        bad = []
        for h in WEBS:
            path = os.path.join(self.dir, h, "error.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    bad += ["%s: %s" % (h, l.strip()) for l in f
                            if re.search(r"\[(alert|crit|emerg)\]", l)]
        for n in os.listdir(self.dir):
            if n.endswith(".log"):
                with open(os.path.join(self.dir, n), errors="replace") as f:
                    bad += ["%s: %s" % (n, l.strip()) for l in f
                            if "AddressSanitizer" in l or
                            "runtime error:" in l or
                            "LeakSanitizer" in l]
        return bad

    def teardown(self):
        self.check_alive()
        for name in ("ca", "ocsp", "sweep"):
            self.stop(name, timeout=5)
        # the daemons stop as an operator stops them: SIGTERM, exit 0 (and,
        # in the sanitizer build, their leak check at exit)
        self.exits = {}
        for h in WEBS:
            for d in ("signer-", "crlgen-"):
                p = self.procs.get(d + h)
                if p is not None and p.poll() is None:
                    self.stop(d + h, timeout=30)
                    self.exits[d + h] = p.returncode
            self.stop("nginx-" + h, signal.SIGQUIT, timeout=10)
        self.kill_all()
        self.net_down()
        for f in self.logs:
            f.close()
        left = [n for n in sh("ip", "netns", "list").stdout.split()
                if n.startswith(self.tag + "-")]
        if left:
            log("namespaces left behind: %s" % " ".join(left))

    # --- judging ------------------------------------------------------

    def judge(self):
        from fleet_client import tail
        rep = {"features": self.features}
        ca, _ = tail(self.ca_journal, 0)
        ocsp_, _ = tail(self.ocsp_journal, 0)
        sweep, _ = tail(self.sweep_journal, 0)
        issues = [r for r in ca if r["op"] == "issue"]
        revokes = [r for r in ca if r["op"] == "revoke"]
        issued = {r["s"]: r["t1"] for r in issues if r["rc"] == 0}
        attempted = {r["s"] for r in ca if r["op"] == "issue-start"}
        revoked = {r["s"]: r["t1"] for r in revokes if r["rc"] == 0}
        revoke_start = {r["s"]: r["t"] for r in ca if r["op"] ==
                        "revoke-start"}
        rep["issue"] = {"ok": len(issued), "failed": len(issues) - len(issued)}
        rep["revoke"] = {"ok": len(revoked),
                         "failed": len(revokes) - len(revoked)}
        rc_counts = {}
        for r in issues + revokes:
            if r["rc"]:
                rc_counts[r["rc"]] = rc_counts.get(r["rc"], 0) + 1
        rep["cli_failures_by_exit"] = rc_counts
        # wrong answers, from every OCSP answer of the run
        wrong, stale, kinds = [], 0, {}
        answers = [a for a in ocsp_ if "k" in a]
        for a in answers:
            k, s, p = a["k"], a["s"], a["p"]
            kinds[k] = kinds.get(k, 0) + 1
            why = None
            if k in ("badsig", "wrongcert", "garbage"):
                why = k
            elif k == "good" and s not in attempted:
                why = "good for a never-issued serial"
            elif k == "good" and s in revoked and p > revoked[s]:
                why = "good signed after the revocation was acknowledged"
            elif k == "good" and s in revoked and a["t"] > revoked[s]:
                stale += 1
            elif k == "revoked" and s in issued and (
                    s not in revoke_start or revoke_start[s] > a["t1"]):
                why = "revoked but never revoked"
            elif k == "unknown" and s in issued and p > issued[s]:
                why = "unknown signed after the issue was acknowledged"
            if why:
                wrong.append(dict(a, why=why))
        rep["ocsp"] = {"answers": len(answers), "kinds": kinds,
                       "stale_good_during_propagation": stale}
        # availability in the failover windows
        win = self.windows()
        for name, (t0, t1) in win.items():
            w = [a for a in answers if t0 <= a["t"] <= t1]
            ok = sum(1 for a in w if a["k"] in ANSWERED)
            rep.setdefault("availability", {})[name] = {
                "seconds": round(t1 - t0, 1), "answers": len(w),
                "successful": ok,
                "share": round(ok / len(w), 4) if w else None,
                "tryLater": sum(1 for a in w if a["k"] == "TRY_LATER")}
        # failover times
        probes = [r for r in ca if r["op"] == "probe"]
        for what, ev in self.events:
            if what not in ("a-kill", "b-cut"):
                continue
            t = ev["t"]
            after = [r["t1"] for r in issues if r["rc"] == 0 and r["t0"] > t]
            # the probe's first failure after the fault, then its first
            # success after that (a write in flight may still succeed)
            fl = [r["t"] for r in probes if not r["ok"] and r["t"] > t]
            pr = [r["t"] for r in probes if r["ok"] and fl and
                  r["t"] > fl[0]] if fl else [t]
            rep.setdefault("failover", {})[what] = {
                "host": ev["host"],
                "writes_again_s": round(min(after) - t, 2) if after else None,
                "redis_probe_s": round(min(pr) - t, 2) if pr else None,
                "promoted_s": self.since(what, t)}
        # propagation
        props = [r for r in ca if r["op"] == "prop" and not r.get("skipped")]
        lat = [max(r["seen"]) - r["t1"] for r in props if None not in r["seen"]]
        rep["propagation"] = {
            "revocations": len(props),
            "not_seen": sum(1 for r in props if None in r["seen"]),
            "skipped": sum(1 for r in ca if r["op"] == "prop" and
                           r.get("skipped")),
            "p50_s": percentile(lat, 0.5) and round(percentile(lat, 0.5), 3),
            "p99_s": percentile(lat, 0.99) and round(percentile(lat, 0.99), 3),
            "max_s": round(max(lat), 3) if lat else None}
        ilat = [r["t1"] - r["t0"] for r in issues if r["rc"] == 0]
        rep["issue_cli_s"] = {"p50": percentile(ilat, 0.5),
                              "p99": percentile(ilat, 0.99)}
        rep["redis"] = getattr(self, "stats", {})
        # the same outside the faults (from each fault until the fleet is
        # whole again, plus 5 s) and within them
        ev = {w: e["t"] for w, e in self.events}
        faults = [(ev[a], ev.get(b, ev.get("load-stop", time.time())) + 5)
                  for a, b in (("a-kill", "c-online"), ("b-cut", "b-rejoined"))
                  if a in ev]

        def in_fault(t):
            return any(f0 <= t <= f1 for f0, f1 in faults)
        for name, pick in (("steady", lambda t: not in_fault(t)),
                           ("faults", in_fault)):
            xs = [max(r["seen"]) - r["t1"] for r in props
                  if None not in r["seen"] and pick(r["t1"])]
            rep["propagation"][name] = {
                "n": len(xs), "p50_s": _r(percentile(xs, 0.5)),
                "p99_s": _r(percentile(xs, 0.99)),
                "over_1s": sum(1 for x in xs if x > 1)}
        rlat = [r["t1"] - r["t0"] for r in revokes if r["rc"] == 0]
        rep["revoke_cli_s"] = {"p50": percentile(rlat, 0.5),
                               "p99": percentile(rlat, 0.99)}
        # the sweep
        red = [r for r in sweep if r["op"] == "redis"]
        osw = [r for r in sweep if r["op"] == "ocsp"]
        rep["sweep"] = {"redis": red[0] if red else None,
                        "ocsp": osw[0] if osw else None}
        rep["purge"] = self.check_purges(revoked, revoke_start)
        rep["crl"] = self.check_crls()
        rep["crl"]["missing"] = self.crl_missing(revoked)
        rep["died"] = getattr(self, "died", [])
        rep["exits"] = getattr(self, "exits", {})
        rep["bad_log_lines"] = self.bad_log_lines()[:50]
        rep["wrong"] = wrong[:50]
        rep["nwrong"] = len(wrong)
        return rep

    def check_purges(self, revoked, revoke_start):
        """Which acknowledged revocations the purge hook was run for, and
        how long after `revoke --wait` returned."""
        import base64
        import urllib.parse
        from cryptography.x509 import ocsp
        path = getattr(self, "purge_log", os.path.join(self.dir,
                                                        "purges.log"))
        first = {}
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    t, *urls = line.split()
                    for u in urls:
                        b64 = urllib.parse.unquote(u.rsplit("/", 1)[1])
                        try:
                            req = ocsp.load_der_ocsp_request(
                                base64.b64decode(b64))
                        except ValueError:
                            continue
                        s = "%x" % req.serial_number
                        first.setdefault(s, []).append(float(t))
        lat = []
        for s, t1 in revoked.items():
            # the issue's purge came before the revocation was asked for
            later = [t for t in first.get(s, []) if t >= revoke_start[s]]
            if later:
                lat.append(min(later) - t1)
        return {"runs_for": len(first), "revocations": len(revoked),
                "revocations_purged": len(lat),
                "p50_s": _r(percentile(lat, 0.5)),
                "p99_s": _r(percentile(lat, 0.99))}

    def since(self, what, t):
        pair = {"a-kill": "a-promoted", "b-cut": "b-promoted"}[what]
        for w, ev in self.events:
            if w == pair and ev.get("host"):
                return round(ev["t"] - t, 2)
        return None

    def windows(self):
        ev = {w: e["t"] for w, e in self.events}
        out = {}
        if "a-kill" in ev:
            out["a (primary killed) +30s"] = (ev["a-kill"], ev["a-kill"] + 30)
        if "b-cut" in ev:
            out["b (primary cut off) +30s"] = (ev["b-cut"], ev["b-cut"] + 30)
        if "load-start" in ev:
            out["whole run"] = (ev["load-start"],
                                ev.get("ocsp-stop", time.time()))
        return out

    def crl_missing(self, revoked):
        """Acknowledged revocations absent from the last full CRL and delta
        at the shared location, among those acknowledged 10 s or more
        before the later of the two arrived there."""
        from cryptography import x509
        entries, arrived = set(), 0
        for name in ("demo.crl", "demo-delta.crl"):
            path = os.path.join(self.shared, name)
            if not os.path.exists(path):
                continue
            arrived = max(arrived, os.stat(path).st_mtime)
            with open(path, "rb") as f:
                crl = x509.load_der_x509_crl(f.read())
            entries |= {"%x" % e.serial_number for e in crl}
        if not arrived:
            return None
        return sorted(s for s, t1 in revoked.items()
                      if t1 < arrived - 10 and s not in entries)

    def check_crls(self):
        """Every CRL the hooks delivered to the shared location, in the
        order they arrived: verified by OpenSSL, numbers strictly
        increasing, each delta's base a full CRL delivered before it."""
        from cryptography import x509
        arch = os.path.join(self.shared, "archive")
        files = sorted((n for n in os.listdir(arch) if not n.startswith(".")
                        and n.split("-")[2] in ("full", "delta", "shard")),
                       key=lambda n: int(n.split("-")[0]))
        chain = os.path.join(self.pki, "ca.pem")
        out = {"delivered": len(files), "by_generator": {}, "problems": []}
        last, fulls, arrivals = None, set(), []
        for n in files:
            ts, gen, kind = n.split("-")[:3]
            out["by_generator"][gen] = out["by_generator"].get(gen, 0) + 1
            path = os.path.join(arch, n)
            with open(path, "rb") as f:
                crl = x509.load_der_x509_crl(f.read())
            num = crl.extensions.get_extension_for_class(x509.CRLNumber) \
                .value.crl_number
            p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                                path, "-CAfile", chain, "-noout"],
                               capture_output=True, text=True)
            if "verify OK" not in p.stdout + p.stderr:
                out["problems"].append("%s: openssl: %s" % (
                    n, (p.stdout + p.stderr).strip()[:200]))
            if last is not None and num <= last:
                out["problems"].append("%s: number %d after %d" % (
                    n, num, last))
            last = num if last is None else max(last, num)
            if kind == "full":
                fulls.add(num)
            elif kind == "delta":
                base = crl.extensions.get_extension_for_class(
                    x509.DeltaCRLIndicator).value.crl_number
                if base not in fulls:
                    out["problems"].append(
                        "%s: delta base %d is no full CRL delivered before"
                        " it" % (n, base))
            arrivals.append(int(ts) / 1e9)
        ev = {w: e["t"] for w, e in self.events}
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        out["max_gap_s"] = round(max(gaps), 1) if gaps else None
        for w in ("a-kill", "b-cut"):
            if w in ev:
                later = [t for t in arrivals if t > ev[w]]
                out["first_after_%s_s" % w] = \
                    round(later[0] - ev[w], 1) if later else None
        out["last_number"] = last
        if files and min(int(n.split("-")[3].split(".")[0]) for n in files) \
                > 10 ** 12:
            self.features["crl_floor"] = True
        return out

    def report(self, rep):
        f = rep.get("failover", {})
        for what, v in f.items():
            log("failover %s (%s): promoted after %s s, writes (revoca issue)"
                " accepted again after %s s, Redis write probe after %s s"
                " (target <= 10 s)" % (what, v["host"], v["promoted_s"],
                                       v["writes_again_s"], v["redis_probe_s"]))
        for name, v in rep.get("availability", {}).items():
            log("OCSP availability %s: %s of %d answers successful (%s),"
                " tryLater %d" % (name, v["successful"], v["answers"],
                                  v["share"], v["tryLater"]))
        log("OCSP answers by kind: %s; stale good after a revocation (within"
            " the cache lifetime): %d" % (
                json.dumps(rep["ocsp"]["kinds"], sort_keys=True),
                rep["ocsp"]["stale_good_during_propagation"]))
        log("issued %d (failed %d), revoked %d (failed %d); CLI failures by"
            " exit status %s" % (rep["issue"]["ok"], rep["issue"]["failed"],
                                 rep["revoke"]["ok"], rep["revoke"]["failed"],
                                 rep["cli_failures_by_exit"]))
        log("revoca issue (returns once answerable): p50=%s s p99=%s s" % (
            _r(rep["issue_cli_s"]["p50"]), _r(rep["issue_cli_s"]["p99"])))
        for h, st in sorted(rep["redis"].items()):
            parts = []
            for k, v in sorted(st.items()):
                if k.startswith("cmdstat_"):
                    f = dict(x.split("=") for x in v.split(","))
                    v = "%s calls, %s us each" % (f["calls"],
                                                  f["usec_per_call"])
                    k = k[8:]
                parts.append("%s=%s" % (k, v))
            log("%s: %s" % (h, "; ".join(parts)))
        p = rep["propagation"]
        log("revocation propagation (revoke --wait returned -> both"
            " responders revoked): n=%d p50=%s s p99=%s s max=%s s, not seen"
            " %d, not probed %d (target p99 <= 1 s); revoke --wait itself"
            " p50=%s p99=%s" % (
                p["revocations"], p["p50_s"], p["p99_s"], p["max_s"],
                p["not_seen"], p["skipped"],
                _r(rep["revoke_cli_s"]["p50"]), _r(rep["revoke_cli_s"]["p99"])))
        for name in ("steady", "faults"):
            q = p[name]
            log("  revocations acknowledged %s: n=%d p50=%s s p99=%s s, over"
                " 1 s: %d" % ("outside the faults" if name == "steady" else
                              "during a fault (until the fleet is whole + 5"
                              " s)", q["n"], q["p50_s"], q["p99_s"],
                              q["over_1s"]))
        if self.features.get("purge"):
            pg = rep["purge"]
            log("CDN purge hook: run for %d certificates; %d of %d"
                " acknowledged revocations purged, from revoke --wait"
                " returning p50=%s s p99=%s s (negative: before it returned)"
                % (pg["runs_for"], pg["revocations_purged"],
                   pg["revocations"], pg["p50_s"], pg["p99_s"]))
        c = rep["crl"]
        log("CRL numbers from Redis's clock (the CRL floor): %s; CRL checks %s"
            % (self.features["crl_floor"], "asserted" if
               self.features["crl_floor"] else "printed only"))
        log("CRLs at the shared location: %d (%s), last number %s, largest"
            " gap %s s, first after (a) %s s, after (b) %s s; problems: %d" % (
                c["delivered"], c["by_generator"], c["last_number"],
                c["max_gap_s"], c.get("first_after_a-kill_s"),
                c.get("first_after_b-cut_s"), len(c["problems"])))
        if c.get("missing") is not None:
            log("acknowledged revocations missing from the last full CRL and"
                " delta: %d" % len(c["missing"]))
        for pr in c["problems"][:10]:
            log("  CRL: " + pr)
        s = rep["sweep"]
        if s["redis"]:
            log("lost events: %d of %d acknowledged certificates (primary %s)"
                % (s["redis"]["nlost"], s["redis"]["checked"],
                   s["redis"]["primary"]))
            for x in s["redis"]["lost"][:10]:
                log("  lost: %s" % (x,))
        if s["ocsp"]:
            log("final answers: %d certificates x 2 responders, %d not as"
                " acknowledged after %d passes; never-issued answered good: %d"
                % (s["ocsp"]["checked"], s["ocsp"]["nunconverged"],
                   s["ocsp"]["passes"], len(s["ocsp"]["never_good"])))
            for x in s["ocsp"]["unconverged"][:10]:
                log("  final: %s" % (x,))
        if rep["died"]:
            log("died on their own: %s" % " ".join(rep["died"]))
        log("daemons' exit status on SIGTERM: %s" % json.dumps(
            rep["exits"], sort_keys=True))
        for l in rep["bad_log_lines"][:10]:
            log("  log: " + l)
        log("wrong answers during the run: %d" % rep["nwrong"])
        for w in rep["wrong"][:10]:
            log("  wrong: %s" % (w,))

    def verdict(self, rep):
        """The asserted checks: list of failures."""
        fails = []
        if rep["nwrong"]:
            fails.append("%d wrong answers" % rep["nwrong"])
        s = rep["sweep"]
        if not s["ocsp"]:
            fails.append("the final sweep did not report")
        else:
            if s["ocsp"]["never_good"]:
                fails.append("never-issued serials answered good")
            if s["ocsp"]["nunconverged"]:
                fails.append("%d final answers not as acknowledged" %
                             s["ocsp"]["nunconverged"])
        if not s["redis"] or s["redis"]["primary"] is None:
            fails.append("no primary to check the events on")
        elif s["redis"]["nlost"]:
            fails.append("%d acknowledged events lost" % s["redis"]["nlost"])
        if rep["died"]:
            fails.append("died during the run: %s" % " ".join(rep["died"]))
        bad_exit = {k: v for k, v in rep["exits"].items() if v != 0}
        if bad_exit:
            fails.append("exit status on SIGTERM: %s" % bad_exit)
        if rep["bad_log_lines"]:
            fails.append("%d alert/crit/sanitizer log lines" %
                         len(rep["bad_log_lines"]))
        if rep["issue"]["ok"] == 0:
            fails.append("no certificate was issued")
        c = rep["crl"]
        if self.features["crl_floor"]:
            if c["problems"]:
                fails.append("%d CRL problems" % len(c["problems"]))
            if c.get("missing"):
                fails.append("%d acknowledged revocations missing from the "
                             "CRLs" % len(c["missing"]))
            # (0.0: one arrived within 50 ms of the cut; None: none did)
            if self.features["sentinel"] and \
                    c.get("first_after_b-cut_s") is None:
                fails.append("no CRL delivered after the last failover")
        return fails


def _r(x):
    return None if x is None else round(x, 3)


def run(opts):
    """Builds, runs, judges and removes a fleet: (report, failures)."""
    if os.geteuid() != 0:
        raise SystemExit("fleet: needs root (ip netns)")
    fleet = Fleet(opts)

    def on_signal(sig, _frm):
        raise KeyboardInterrupt("signal %d" % sig)

    # SIGINT too: a shell starting the run in the background leaves it
    # ignored, and Python then never turns it into KeyboardInterrupt
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT,
                                                    signal.SIGTERM,
                                                    signal.SIGHUP)}
    try:
        fleet.setup()
        fleet.scenario()
    except BaseException:
        log("stopped by an error or a signal; logs in %s" % fleet.dir)
        raise
    finally:
        fleet.teardown()
        for s, h in old.items():
            signal.signal(s, h)
    rep = fleet.judge()
    fleet.report(rep)
    fails = fleet.verdict(rep)
    with open(os.path.join(fleet.dir, "report.json"), "w") as f:
        json.dump({"report": rep, "failures": fails,
                   "events": fleet.events}, f, indent=1, default=str)
    log("report %s/report.json" % fleet.dir)
    return rep, fails, fleet.dir


def options(argv=None, short=False):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--short", action="store_true", default=short,
                    help="the ctest version (about 3 minutes)")
    ap.add_argument("--dir", help="run directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run directory even on success")
    ap.add_argument("--judge", metavar="DIR",
                    help="only judge the kept run directory DIR again")
    ap.add_argument("--cleanup", action="store_true",
                    help="only remove the namespaces of dead runs")
    ap.add_argument("--assert-crl", action="store_true",
                    help="assert the CRL checks even without the CRL floor")
    o = ap.parse_args(argv)
    if o.short:
        o.warmup, o.hold, o.tail, o.revoke_every = 10, 8, 5, 0.5
    else:
        o.warmup, o.hold, o.tail, o.revoke_every = 30, 40, 30, 0.4
    o.down_after = 1500
    o.ocsp_threads = 2
    o.prop_bound = 150
    o.settle = 150
    return o


def cleanup_stale():
    """Removes the namespaces of fleet runs whose process is gone (a run
    killed with SIGKILL cannot clean up after itself)."""
    for n in sh("ip", "netns", "list").stdout.split():
        tag = n.split("-")[0]
        if not (tag.startswith("rvf") and tag[3:].isdigit()):
            continue
        if os.path.exists("/proc/%s" % tag[3:]):
            continue
        p = subprocess.run(["ip", "netns", "pids", n], capture_output=True,
                           text=True)
        for pid in p.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", n], capture_output=True)
        log("removed stale namespace %s" % n)


def rejudge(d, opts):
    """Judges a kept run directory D again (after a change to the checks)."""
    with open(os.path.join(d, "report.json")) as f:
        saved = json.load(f)
    opts.dir = d
    fleet = Fleet(opts)
    fleet.events = [tuple(e) for e in saved["events"]]
    fleet.features = saved["report"]["features"]
    fleet.stats = saved["report"].get("redis", {})
    fleet.died = saved["report"].get("died", [])
    fleet.exits = saved["report"].get("exits", {})
    fleet.pki = os.path.join(d, "pki")
    fleet.shared = os.path.join(d, "shared")
    fleet.ca_journal = os.path.join(d, "ca.jsonl")
    fleet.ocsp_journal = os.path.join(d, "ocsp.jsonl")
    fleet.sweep_journal = os.path.join(d, "sweep.jsonl")
    rep = fleet.judge()
    fleet.report(rep)
    return fleet.verdict(rep)


def main():
    if "--cleanup" in sys.argv[1:]:
        cleanup_stale()
        return 0
    o = options()
    if o.judge:
        fails = rejudge(o.judge, o)
        log("FAILED: " + "; ".join(fails) if fails else "ok")
        return 1 if fails else 0
    rep, fails, d = run(o)
    if fails:
        log("FAILED: " + "; ".join(fails))
        log("logs kept in %s" % d)
        return 1
    log("ok")
    if not o.keep and not o.dir:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
