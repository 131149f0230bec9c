"""The fleet's clients, run by fleet.py inside the clients' network
namespace (`ip netns exec NS python3 fleet_client.py MODE ...`):

  ca     the CA: issues certificates with `revoca issue` (several threads)
         and revokes some with `revoca revoke --wait`; after each
         acknowledged revocation, polls both responders until each answers
         revoked (the propagation time); a Redis write probe through the
         Sentinels (the Redis-level failover time)
  ocsp   OCSP clients querying both responders all the time, for issued,
         revoked and never-issued serials (learnt from the CA's journal)
  sweep  the final check: every acknowledged event in Redis (the primary
         the Sentinels name) and every certificate answered as it should be
         by both responders (bounded wait for convergence)

Every mode writes JSON lines to its journal; fleet.py judges them.  Every
OCSP answer is checked here: its signature against the delegated responder
certificate (Python cryptography), its CertID against the one asked for.
A worker stops on SIGTERM.
"""
import argparse
import base64
import calendar
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from revoca_fixtures import (CERTID_ALG, _tlv, cert,  # noqa: E402
                             issuer_hashes)

STOP = threading.Event()


def on_term(_sig, _frm):
    STOP.set()


class Journal:
    """JSON lines, one writer lock, flushed per line (read while written)."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, **kw):
        line = json.dumps(kw, separators=(",", ":"))
        with self.lock:
            self.f.write(line + "\n")


def tail(path, pos):
    """New complete lines of PATH from offset POS: (records, new pos)."""
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        return [], pos
    end = data.rfind(b"\n") + 1
    out = []
    for line in data[:end].splitlines():
        out.append(json.loads(line))
    return out, pos + end


# --- OCSP --------------------------------------------------------------


def der_int(n):
    return _tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


class Ocsp:
    """Requests for the issuer's serials, answers checked and summed up."""

    def __init__(self, pki, responders):
        from cryptography.hazmat.primitives.serialization import Encoding
        self.issuer = cert(os.path.join(pki, "issuer.pem"))
        self.responder = cert(os.path.join(pki, "responder.pem"))
        self.responder_der = self.responder.public_bytes(Encoding.DER)
        self.hashes = issuer_hashes(self.issuer)
        self.responders = responders  # ["10.77.0.21:80", ...]
        self.local = threading.local()

    def request(self, serial_hex, digest="sha1"):
        nh, kh = self.hashes[digest]
        cid = _tlv(0x30, CERTID_ALG[digest] + _tlv(0x04, nh) +
                   _tlv(0x04, kh) + der_int(int(serial_hex, 16)))
        return _tlv(0x30, _tlv(0x30, _tlv(0x30, _tlv(0x30, cid))))

    def _conn(self, r):
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        c = conns.get(r)
        if c is None:
            host, port = self.responders[r].rsplit(":", 1)
            c = conns[r] = http.client.HTTPConnection(host, int(port),
                                                      timeout=5)
        return c

    def _drop(self, r):
        c = self.local.conns.pop(r, None)
        if c is not None:
            c.close()

    def query(self, r, serial_hex, method="GET", digest="sha1"):
        """Asks responder R about SERIAL_HEX: (kind, producedAt) where kind
        is good|revoked|unknown, an OCSP error status (TRY_LATER, ...),
        httpNNN, neterr, badsig or wrongcert."""
        der = self.request(serial_hex, digest)
        for attempt in (0, 1):
            c = self._conn(r)
            try:
                if method == "GET":
                    path = "/ocsp/" + urllib.parse.quote(
                        base64.b64encode(der).decode(), safe="")
                    c.request("GET", path)
                else:
                    c.request("POST", "/ocsp", body=der, headers={
                        "Content-Type": "application/ocsp-request"})
                resp = c.getresponse()
                body = resp.read()
                status = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    self._drop(r)
                break
            except (OSError, http.client.HTTPException):
                self._drop(r)
                if attempt == 1 or STOP.is_set():
                    return "neterr", None
        if status != 200:
            return "http%d" % status, None
        return self.judge(body, serial_hex, digest)

    def judge(self, body, serial_hex, digest):
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.x509 import ocsp
        try:
            resp = ocsp.load_der_ocsp_response(body)
        except ValueError:
            return "garbage", None
        if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return resp.response_status.name, None
        try:
            if not resp.certificates or \
                    resp.certificates[0] != self.responder:
                return "badsig", None
            pub = self.responder.public_key()
            if isinstance(pub, ec.EllipticCurvePublicKey):
                pub.verify(resp.signature, resp.tbs_response_bytes,
                           ec.ECDSA(resp.signature_hash_algorithm))
            else:
                pub.verify(resp.signature, resp.tbs_response_bytes,
                           padding.PKCS1v15(), resp.signature_hash_algorithm)
        except Exception:
            return "badsig", None
        nh, kh = self.hashes[digest]
        if (resp.serial_number != int(serial_hex, 16) or
                resp.issuer_key_hash != kh or resp.issuer_name_hash != nh):
            return "wrongcert", None
        produced = calendar.timegm(resp.produced_at.utctimetuple())
        return resp.certificate_status.name.lower(), produced


# --- Redis, through the Sentinels ---------------------------------------


def primary(sentinels, name):
    """(host, port) of the primary the first answering Sentinel names."""
    import redis
    for s in sentinels:
        h, p = s.rsplit(":", 1)
        try:
            a = redis.Redis(host=h, port=int(p), socket_timeout=0.5,
                            socket_connect_timeout=0.3).execute_command(
                "SENTINEL", "get-master-addr-by-name", name)
        except Exception:
            continue
        if a:
            return a[0].decode(), int(a[1])
    return None


def redis_probe(args, journal):
    """A SET on the primary every 100 ms: when writes are accepted."""
    import redis
    last = None
    while not STOP.is_set():
        t = time.time()
        m = primary(args.sentinels, args.master_name)
        ok, err = False, None
        if m is not None:
            try:
                redis.Redis(host=m[0], port=m[1], socket_timeout=0.5,
                            socket_connect_timeout=0.3).set(
                    "fleet:probe", repr(t))
                ok = True
            except Exception as e:
                err = str(e)[:120]
        state = (ok, m)
        journal.write(op="probe", t=t, ok=ok, m=m and m[0], err=err,
                      change=state != last)
        last = state
        STOP.wait(0.1)


# --- the CA ------------------------------------------------------------


def new_serial():
    return "%x" % (random.getrandbits(126) | (1 << 126))


def run_cli(args, *argv):
    t0 = time.time()
    try:
        p = subprocess.run([args.revoca, "-c", args.conf] + list(argv),
                           capture_output=True, text=True,
                           timeout=args.cli_timeout)
        rc, err = p.returncode, p.stderr.strip()[-300:]
    except subprocess.TimeoutExpired:
        rc, err = -1, "timeout"
    return rc, err, t0, time.time()


class Ca:
    def __init__(self, args):
        self.args = args
        self.journal = Journal(args.journal)
        self.ocsp = Ocsp(args.pki, args.responders)
        self.lock = threading.Lock()
        self.revocable = []      # acknowledged issues, not yet revoked
        self.active = 0          # propagation probes running

    def issuer(self):
        a = self.args
        while not STOP.is_set():
            s = new_serial()
            not_after = int(time.time()) + 30 * 86400
            self.journal.write(op="issue-start", s=s, t=time.time())
            rc, err, t0, t1 = run_cli(a, "issue", "--issuer", "demo",
                                      "--serial", s, "--not-after",
                                      str(not_after))
            self.journal.write(op="issue", s=s, t0=t0, t1=t1, rc=rc,
                               err=err if rc else None)
            if rc == 0:
                with self.lock:
                    self.revocable.append(s)
            elif not STOP.is_set():
                STOP.wait(0.2)   # Redis away: do not spin
            STOP.wait(a.issue_pause)

    def revoker(self):
        a = self.args
        while not STOP.wait(a.revoke_every):
            with self.lock:
                if len(self.revocable) < 5:
                    continue
                s = self.revocable.pop(random.randrange(len(self.revocable)))
            self.journal.write(op="revoke-start", s=s, t=time.time())
            rc, err, t0, t1 = run_cli(a, "revoke", "--issuer", "demo",
                                      "--serial", s, "--reason",
                                      "keyCompromise", "--wait")
            self.journal.write(op="revoke", s=s, t0=t0, t1=t1, rc=rc,
                               err=err if rc else None)
            if rc == 0:
                with self.lock:
                    go = self.active < a.max_probes
                    self.active += go
                if go:
                    threading.Thread(target=self.propagation, args=(s, t1),
                                     daemon=True).start()
                else:
                    self.journal.write(op="prop", s=s, t1=t1, skipped=True)

    def propagation(self, s, t1):
        """Polls both responders (GET, as a CDN or a client would) until
        each answers revoked: the time from `revoke` returning."""
        try:
            seen = [None] * len(self.args.responders)
            deadline = t1 + self.args.prop_bound
            n = 0
            while None in seen and time.time() < deadline:
                for r in range(len(seen)):
                    if seen[r] is None:
                        kind, _ = self.ocsp.query(r, s)
                        if kind == "revoked":
                            seen[r] = time.time()
                n += 1
                el = time.time() - t1
                time.sleep(0.01 if el < 1.5 else 0.05 if el < 5 else 0.5)
            self.journal.write(op="prop", s=s, t1=t1, seen=seen, polls=n)
        finally:
            with self.lock:
                self.active -= 1

    def run(self):
        threads = [threading.Thread(target=self.issuer, daemon=True)
                   for _ in range(self.args.issue_threads)]
        threads.append(threading.Thread(target=self.revoker, daemon=True))
        threads.append(threading.Thread(target=redis_probe,
                                        args=(self.args, self.journal),
                                        daemon=True))
        for t in threads:
            t.start()
        while not STOP.wait(0.5):
            pass
        for t in threads:
            t.join(self.args.cli_timeout + 5)
        # the propagation probes in flight report what they saw
        deadline = time.time() + self.args.prop_bound
        while self.active and time.time() < deadline:
            time.sleep(0.1)


# --- OCSP load ----------------------------------------------------------


class Load:
    """Queries for acknowledged issued serials, revoked ones and
    never-issued ones, each answer journaled with its time."""

    def __init__(self, args):
        self.args = args
        self.journal = Journal(args.out)
        self.ocsp = Ocsp(args.pki, args.responders)
        self.issued, self.revoked = [], []
        self.never = [new_serial() for _ in range(200)]
        self.lock = threading.Lock()
        self.journal.write(op="never", serials=self.never)

    def follow(self):
        pos = 0
        while not STOP.wait(0.2):
            recs, pos = tail(self.args.ca_journal, pos)
            with self.lock:
                for r in recs:
                    if r["op"] == "issue" and r["rc"] == 0:
                        self.issued.append(r["s"])
                    elif r["op"] == "revoke" and r["rc"] == 0:
                        self.revoked.append(r["s"])

    def pick(self):
        x = random.random()
        with self.lock:
            if x < 0.6 and self.issued:
                return random.choice(self.issued[-2000:])
            if x < 0.8 and self.revoked:
                return random.choice(self.revoked[-2000:])
        return random.choice(self.never)

    def worker(self, r):
        pause = self.args.pause
        while not STOP.is_set():
            s = self.pick()
            method = "GET" if random.random() < 0.7 else "POST"
            digest = "sha1" if random.random() < 0.8 else "sha256"
            t0 = time.time()
            kind, produced = self.ocsp.query(r, s, method, digest)
            self.journal.write(t=t0, t1=time.time(), r=r, s=s, k=kind,
                               p=produced)
            if pause:
                STOP.wait(pause)

    def run(self):
        threads = [threading.Thread(target=self.follow, daemon=True)]
        for r in range(len(self.args.responders)):
            for _ in range(self.args.threads):
                threads.append(threading.Thread(target=self.worker,
                                                args=(r,), daemon=True))
        for t in threads:
            t.start()
        while not STOP.wait(0.5):
            pass
        for t in threads:
            t.join(10)


# --- the final sweep ----------------------------------------------------


def pb_fields(raw):
    """Top-level fields of a protobuf message: {number: value} (varints
    as int, length-delimited as bytes)."""
    out, o = {}, 0
    while o < len(raw):
        key, o = varint_at(raw, o)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, o = varint_at(raw, o)
        elif wt == 2:
            n, o = varint_at(raw, o)
            v, o = raw[o:o + n], o + n
        else:
            raise ValueError("wire type %d" % wt)
        out[num] = v
    return out


def varint_at(raw, o):
    v = shift = 0
    while True:
        b = raw[o]
        o += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v, o


def expected_states(ca_journal):
    """serial -> (expected answers, why): from the CA's journal."""
    recs, _ = tail(ca_journal, 0)
    issued, revoke_tried, revoked = set(), set(), set()
    for r in recs:
        if r["op"] == "issue" and r["rc"] == 0:
            issued.add(r["s"])
        elif r["op"] == "revoke-start":
            revoke_tried.add(r["s"])
        elif r["op"] == "revoke" and r["rc"] == 0:
            revoked.add(r["s"])
    want = {}
    for s in issued:
        if s in revoked:
            want[s] = {"revoked"}
        elif s in revoke_tried:
            want[s] = {"good", "revoked"}
        else:
            want[s] = {"good"}
    return want


def sweep(args):
    import redis
    journal = Journal(args.out)
    want = expected_states(args.ca_journal)
    ocsp_ = Ocsp(args.pki, args.responders)
    # 1. Redis: every acknowledged event applied, on the primary
    m = None
    deadline = time.time() + args.bound
    while m is None and time.time() < deadline:
        m = primary(args.sentinels, args.master_name)
        if m is None:
            time.sleep(0.5)
    lost = []
    if m is not None:
        r = redis.Redis(host=m[0], port=m[1], socket_timeout=10)
        serials = sorted(want)
        for i in range(0, len(serials), 500):
            chunk = serials[i:i + 500]
            vals = r.mget(["revoca:cert:demo:%s" % s for s in chunk])
            for s, v in zip(chunk, vals):
                if v is None:
                    lost.append((s, "no record"))
                    continue
                f = pb_fields(v)
                status = {0: "good", 1: "revoked", 2: "held"}.get(f.get(2))
                if 4 not in f:
                    lost.append((s, "record without notAfter (issue lost)"))
                elif status not in want[s]:
                    lost.append((s, "record %s, want %s" %
                                 (status, "|".join(sorted(want[s])))))
    journal.write(op="redis", primary=m and m[0], checked=len(want),
                  lost=lost[:50], nlost=len(lost))
    # 2. OCSP: both responders converge on the acknowledged state
    pending = {(s, r) for s in want for r in range(len(args.responders))}
    last = {}
    passes = 0
    while pending and time.time() < deadline:
        passes += 1
        for s, r in sorted(pending):
            kind, _ = ocsp_.query(r, s, "POST")
            last[(s, r)] = kind
            if kind in want[s]:
                pending.discard((s, r))
        if pending:
            time.sleep(1)
    wrong = [(s, r, last.get((s, r)), "|".join(sorted(want[s])))
             for s, r in sorted(pending)]
    # 3. never-issued serials are never good
    never_good = []
    for _ in range(100):
        s = new_serial()
        for r in range(len(args.responders)):
            kind, _ = ocsp_.query(r, s, "POST")
            if kind == "good":
                never_good.append((s, r))
    journal.write(op="ocsp", checked=len(want), passes=passes,
                  unconverged=wrong[:50], nunconverged=len(wrong),
                  never_good=never_good)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("ca", "ocsp", "sweep"))
    ap.add_argument("--pki", required=True)
    ap.add_argument("--responders", required=True, type=lambda v: v.split(","))
    ap.add_argument("--sentinels", default="", type=lambda v: v.split(","))
    ap.add_argument("--master-name", default="revoca")
    ap.add_argument("--conf")
    ap.add_argument("--revoca")
    ap.add_argument("--journal")
    ap.add_argument("--ca-journal")
    ap.add_argument("--out")
    ap.add_argument("--issue-threads", type=int, default=2)
    ap.add_argument("--issue-pause", type=float, default=0.0)
    ap.add_argument("--revoke-every", type=float, default=0.5)
    ap.add_argument("--max-probes", type=int, default=40)
    ap.add_argument("--prop-bound", type=float, default=150)
    ap.add_argument("--cli-timeout", type=float, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.01)
    ap.add_argument("--bound", type=float, default=150)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if args.mode == "ca":
        Ca(args).run()
    elif args.mode == "ocsp":
        Load(args).run()
    else:
        sweep(args)


if __name__ == "__main__":
    main()
