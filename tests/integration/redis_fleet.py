"""A replicated Redis for tests: a primary and replicas (real redis-server,
--replicaof) and, optionally, real redis-sentinel processes monitoring them,
all on free loopback ports in the test's directory; with the Stack of
revoca_fixtures (config, PKI, signers, CLI) pointed at it.

Used by test_sentinel.py and test_wait_acks.py.
"""
import os
import shutil
import subprocess
import time

from revoca_fixtures import (Daemon, RedisServer, Stack,
                             free_port, render_conf, wait_for)

MASTER = "revoca-m"


def decode_fields(buf):
    """Top-level fields of a protobuf message: {number: [bytes or int]}
    (enough to read an Event's id and serial)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def stream_serials(client, key="revoca:events"):
    """Serials of every event in the stream (Event field 3)."""
    return [decode_fields(f[b"e"])[3][0].decode()
            for _, f in client.xrange(key)]


class Sentinel:
    """A real redis-sentinel on a free loopback port monitoring MASTER;
    its config file is written here (Sentinel rewrites it)."""

    def __init__(self, workdir, primary_port, password=None, tls=None):
        self.dir = workdir
        self.port = free_port()
        self.password = password
        self.tls = tls
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "sentinel.conf")
        if tls:
            # its own port on TLS, and TLS to the servers it monitors
            ports = ["port 0", "tls-port %d" % self.port,
                     "tls-cert-file %s" % tls["cert"],
                     "tls-key-file %s" % tls["key"],
                     "tls-ca-cert-file %s" % tls["ca"],
                     "tls-auth-clients no", "tls-replication yes"]
        else:
            ports = ["port %d" % self.port]
        lines = ports + ["bind 127.0.0.1",
                 "dir %s" % workdir,
                 "logfile %s" % os.path.join(workdir, "sentinel.log"),
                 "sentinel monitor %s 127.0.0.1 %d 2" % (MASTER, primary_port),
                 "sentinel down-after-milliseconds %s 1000" % MASTER,
                 "sentinel failover-timeout %s 4000" % MASTER,
                 "sentinel parallel-syncs %s 2" % MASTER]
        if password:
            # clients and the other Sentinels log in with it
            lines += ["requirepass %s" % password,
                      "sentinel sentinel-pass %s" % password]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-sentinel", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(self.ping, 10, what="redis-sentinel")
        return self

    def client(self):
        import redis
        if self.tls:
            return redis.Redis(host="127.0.0.1", port=self.port,
                               socket_timeout=2, password=self.password,
                               ssl=True, ssl_ca_certs=self.tls["ca"])
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2,
                           password=self.password)

    def ping(self):
        try:
            return self.client().ping()
        except Exception:
            return False

    def master(self):
        """(host, port) Sentinel gives for MASTER, or None."""
        try:
            r = self.client().execute_command(
                "SENTINEL", "get-master-addr-by-name", MASTER)
        except Exception:
            return None
        return None if r is None else (r[0].decode(), int(r[1]))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Fleet(Stack):
    """Stack on a primary with REPLICAS replicas and SENTINELS Sentinels.
    The config's redis.host/port name a replica, never the primary: with
    Sentinels they must not be used (a write there fails READONLY).
    REDIS_CONF is more of the redis group; with Sentinels their list and
    master_name come first."""

    def __init__(self, tmp, pki_src, replicas=2, sentinels=3, redis_conf="",
                 sentinel_password=None, sentinel_list=None, issuers=None,
                 extra="", redis_args=(), tls=None):
        self.tmp = str(tmp)
        shutil.copytree(pki_src, os.path.join(self.tmp, "pki"))
        self.pki = os.path.join(self.tmp, "pki")
        self.signers = []
        self.signer_conf = ""
        self.sentinels = []
        self.servers = []
        if tls:
            # TLS everywhere, replication included; no client certificates
            tls = {k: tls[k] for k in ("cert", "key", "ca")}
            redis_args = list(redis_args) + ["--tls-replication", "yes",
                                             "--tls-auth-clients", "no"]
        self.redis = RedisServer(os.path.join(self.tmp, "r0"), tls=tls,
                                 args=list(redis_args)).start()
        self.servers.append(self.redis)
        for i in range(replicas):
            self.servers.append(RedisServer(
                os.path.join(self.tmp, "r%d" % (i + 1)), tls=tls,
                args=["--replicaof", "127.0.0.1", str(self.redis.port)] +
                list(redis_args)).start())
        wait_for(lambda: self.replicas_online(self.redis) == replicas, 30,
                 what="replicas in sync")
        for i in range(sentinels):
            self.sentinels.append(Sentinel(
                os.path.join(self.tmp, "s%d" % i), self.redis.port,
                sentinel_password, tls).start())
        if sentinels:
            # each knows the replicas and the other Sentinels: a failover
            # needs a majority of them
            def known():
                for s in self.sentinels:
                    c = s.client()
                    if (len(c.execute_command("SENTINEL", "replicas", MASTER))
                            != replicas or
                            len(c.execute_command("SENTINEL", "sentinels",
                                                  MASTER)) != sentinels - 1):
                        return False
                return True
            wait_for(known, 60, 0.2, what="Sentinels to know each other")
        listed = sentinel_list if sentinel_list is not None else [
            "127.0.0.1:%d" % s.port for s in self.sentinels]
        self.redis_conf = redis_conf
        if listed:
            self.redis_conf = ('sentinels = ( %s ); master_name = "%s"; ' % (
                ", ".join('"%s"' % a for a in listed), MASTER)) + redis_conf
        self.conf = os.path.join(self.tmp, "revoca.conf")
        self.extra = extra
        self.conf_port = (self.servers[1].port if replicas and listed
                          else self.redis.port)
        self.write_conf(issuers or [{"name": "demo"}], extra)

    def conf_with(self, name, redis_conf):
        """Another config file NAME.conf: this fleet's, with REDIS_CONF
        added to the redis group."""
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(render_conf(self.conf_port, self.issuers, self.extra,
                                self.signer_conf,
                                self.redis_conf + redis_conf))
        return path

    def start_daemon(self, argv, log):
        """Another daemon (crlgen), stopped with the fleet."""
        d = Daemon(argv, os.path.join(self.tmp, log)).start()
        self.signers.append(d)
        return d

    @staticmethod
    def replicas_online(server):
        try:
            info = server.client().info("replication")
        except Exception:
            return -1
        return sum(1 for k, v in info.items()
                   if k.startswith("slave") and isinstance(v, dict) and
                   v.get("state") == "online")

    def primary(self):
        """The server that is a primary now (ROLE), or None."""
        for s in self.servers:
            try:
                if s.proc.poll() is None and \
                        s.client().execute_command("ROLE")[0] == b"master":
                    return s
            except Exception:
                pass
        return None

    def close(self):
        for s in self.signers:
            if s.alive():
                s.stop()
        for s in self.sentinels:
            s.stop()
        for s in self.servers:
            s.kill()  # SIGKILL: a primary's SIGTERM waits for replicas


def failover_seconds(fleet, killed_port, t0):
    """Waits for the Sentinels to name a new primary that accepts a write;
    returns the seconds since T0 (printed by the tests, never asserted)."""
    def promoted():
        for s in fleet.sentinels:
            m = s.master()
            if m and m[1] != killed_port:
                for srv in fleet.servers:
                    if srv.port == m[1]:
                        try:
                            srv.client().set("revoca-test:failover", "1")
                            return srv
                        except Exception:
                            return None
        return None
    new = wait_for(promoted, 90, 0.05, what="a new primary")
    return new, time.monotonic() - t0
