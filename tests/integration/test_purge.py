"""The CDN purge hook (docs/purge.md): for every committed change of a
certificate's answer the signer records a purge job in the same
transaction, and its purger thread runs the operator's hook with the
certificate's GET URLs (both CertID hashes, every ocsp_urls base),
retrying failures with a backoff, killing a hook past its timeout, giving
up after purge.attempts with an error line, never running a job twice in
normal operation with several signers, and losing none when the signer is
SIGKILLed after the commit and before the hook ran.  Real redis-server and
revoca-signer; the hook is a script written here that records its
arguments; the URLs are checked against Python cryptography's own
OCSPRequestBuilder and decoded with its ocsp module."""
import base64
import glob
import json
import os
import re
import signal
import time
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from revoca_fixtures import Stack, cert, wait_for

BASES = ["http://ocsp.example.com/ocsp", "http://cdn.example.net/"]

HOOK = r'''#!/usr/bin/python3
# Test hook: records each run (its arguments) as one JSON file in runs/;
# the files beside it say how to behave.
import fcntl, json, os, subprocess, sys, time, uuid
d = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(d, "lock"), "a+") as lk:
    fcntl.flock(lk, fcntl.LOCK_EX)
    try:
        n = int(open(os.path.join(d, "count")).read())
    except FileNotFoundError:
        n = 0
    n += 1
    open(os.path.join(d, "count"), "w").write(str(n))
def record(kind):
    name = os.path.join(d, "runs", "%s-%s.json" % (kind, uuid.uuid4().hex))
    with open(name + ".tmp", "w") as f:
        json.dump({"run": n, "argv": sys.argv[1:], "pid": os.getpid(),
                   "stdin": sys.stdin.read(),
                   "env": {k: os.environ.get(k) for k in
                           ("REVOCA_TEST_PIN", "REVOCA_TEST_OTHER")}}, f)
    os.rename(name + ".tmp", name)
fail_first = int(open(os.path.join(d, "fail_first")).read()) \
    if os.path.exists(os.path.join(d, "fail_first")) else 0
if os.path.exists(os.path.join(d, "hang")):
    record("hung")
    deadline = time.monotonic() + 60
    while os.path.exists(os.path.join(d, "hang")) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(1)
if os.path.exists(os.path.join(d, "sleep")):
    child = subprocess.Popen(["sleep", "300"])
    open(os.path.join(d, "child.pid"), "w").write(str(child.pid))
    child.wait()
    sys.exit(0)
if n <= fail_first:
    record("fail")
    print("CDN said no, run %d" % n)
    sys.exit(3)
record("ok")
'''


class Hook:
    def __init__(self, tmp):
        self.dir = os.path.join(str(tmp), "hook")
        os.makedirs(os.path.join(self.dir, "runs"))
        self.path = os.path.join(self.dir, "purge-hook")
        with open(self.path, "w") as f:
            f.write(HOOK)
        os.chmod(self.path, 0o755)

    def set(self, name, value="1"):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(str(value))

    def clear(self, name):
        os.unlink(os.path.join(self.dir, name))

    def runs(self, kind="ok"):
        out = []
        for p in glob.glob(os.path.join(self.dir, "runs", kind + "-*.json")):
            with open(p) as f:
                out.append(json.load(f))
        return sorted(out, key=lambda r: r["run"])


def purge_conf(h, **kw):
    settings = {"hook": '"%s"' % h.path, "timeout": '"5s"',
                "attempts": 5, "backoff": '"1s"', "claim_idle": '"10s"',
                "ocsp_urls": "(%s)" % ", ".join('"%s"' % b for b in BASES)}
    settings.update(kw)
    return "purge = { %s };\n" % " ".join(
        "%s = %s;" % (k, v) for k, v in settings.items())


def make_stack(tmp_path, pki_dir, hook, consumer="s1", **kw):
    return Stack(tmp_path, pki_dir, extra=purge_conf(hook, **kw),
                 signer='consumer = "%s"; stats_interval = "1s";' % consumer)


def expected_urls(stack, leaf, bases=BASES):
    """The GET URLs of LEAF as an RFC 5019 client builds them: Python
    cryptography's own request (one CertID, no extensions), base64, '+',
    '/' and '=' percent-encoded; per base, SHA-1 then SHA-256."""
    issuer = cert(stack.path("issuer.pem"))
    c = cert(leaf)
    out = []
    for b in bases:
        for h in (hashes.SHA1(), hashes.SHA256()):
            der = ocsp.OCSPRequestBuilder().add_certificate(c, issuer, h) \
                .build().public_bytes(serialization.Encoding.DER)
            out.append(b + ("" if b.endswith("/") else "/") +
                       quote(base64.b64encode(der).decode(), safe=""))
    return out


def decode_url(url, bases=BASES):
    """The OCSPRequest a GET URL names (cryptography's decoder)."""
    for b in bases:
        prefix = b if b.endswith("/") else b + "/"
        if url.startswith(prefix):
            path = url[len(prefix):]
            assert re.fullmatch(r"[A-Za-z0-9%]+", path), url
            return ocsp.load_der_ocsp_request(base64.b64decode(unquote(path)))
    raise AssertionError("URL under no base: " + url)


def run_serials(run):
    """The serial of each job of RUN: every job gives 2 URLs per base."""
    urls = ["%x" % decode_url(u).serial_number for u in run["argv"]]
    per_job = 2 * len(BASES)
    assert len(urls) % per_job == 0
    return sorted(urls)[::per_job]


def purge_idle(r):
    return (r.xpending("revoca:purge", "purger")["pending"] == 0 and
            r.xlen("revoca:purge") == 0)


def events_settled(r):
    return (r.xpending("revoca:events", "signer")["pending"] == 0 and
            r.xinfo_groups("revoca:events")[0]["last-delivered-id"] ==
            r.xinfo_stream("revoca:events")["last-generated-id"])


def test_urls_retries_and_only_changes(tmp_path, pki_dir):
    hook = Hook(tmp_path)
    hook.set("fail_first", 2)
    stack = make_stack(tmp_path, pki_dir, hook)
    try:
        r = stack.r()
        sig = stack.start_signer()
        leaf = stack.path("good.pem")
        serial = stack.serial_of(leaf)
        want = expected_urls(stack, leaf)
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        ok = wait_for(lambda: hook.runs("ok"), 30, what="a good run")
        # two failed runs first, then one good one: acknowledged, deleted
        assert len(hook.runs("fail")) == 2
        assert [run["argv"] for run in ok] == [want]
        wait_for(lambda: purge_idle(r), what="the job acknowledged")
        for u, h in zip(want, ["SHA1", "SHA256"] * len(BASES)):
            req = decode_url(u)
            assert req.serial_number == cert(leaf).serial_number
            assert req.hash_algorithm.name.upper() == h
            assert list(req.extensions) == []
        out = sig.output()
        assert re.search(r"warn signer purge failed id=\S+ cert=demo:%s "
                         r"attempt=1/5 why=\"exit status 3\" "
                         r"output=\"CDN said no, run 1\|\" "
                         r"action=\"retry in 1s\"" % serial, out), out
        assert "attempt=2/5" in out and "action=\"retry in 2s\"" in out
        assert re.search(r"info signer purge done id=\S+ cert=demo:%s "
                         r"attempts=3" % serial, out), out

        # no purge for what does not change the answer: a re-sign, the
        # same issue again; then a revocation purges the same URLs again
        before = r.get("revoca:ocsp:demo:" + serial)
        r.zadd("revoca:due:demo", {serial: 0})
        wait_for(lambda: r.get("revoca:ocsp:demo:" + serial) != before,
                 what="the re-sign")
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        wait_for(lambda: events_settled(r), what="the events")
        stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
        wait_for(lambda: len(hook.runs("ok")) == 2, 30, what="second run")
        wait_for(lambda: purge_idle(r), what="the job acknowledged")
        assert hook.runs("ok")[1]["argv"] == want
        wait_for(lambda: re.search(r"purge stats jobs=2 runs=4 succeeded=2 "
                                   r"failed=2 retries=2 gave_up=0 dropped=0",
                                   sig.output()), what="the stats line")
        assert sig.stop() == 0
        assert re.search(r"stopped .* invalidations=2 purge_jobs=2",
                         sig.output()), sig.output()[-500:]
        assert len(hook.runs("ok")) == 2
    finally:
        stack.close()


def test_gives_up_after_attempts(tmp_path, pki_dir):
    hook = Hook(tmp_path)
    hook.set("fail_first", 1000)
    stack = make_stack(tmp_path, pki_dir, hook, attempts=2)
    try:
        r = stack.r()
        sig = stack.start_signer()
        leaf = stack.path("revoked.pem")
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        wait_for(lambda: "purge gave up" in sig.output(), 30,
                 what="the purger to give up")
        wait_for(lambda: purge_idle(r), what="the job dropped")
        assert len(hook.runs("fail")) == 2
        lines = [l for l in sig.output().splitlines() if "purge gave up" in l]
        # one error line per URL, for the operator to purge by hand
        assert [re.search(r" url=(\S+) ", l).group(1) for l in lines] == \
            expected_urls(stack, leaf)
        assert all(" error signer " in l and "attempts=2" in l and
                   'why="exit status 3"' in l for l in lines), lines
        assert sig.stop() == 0
        assert re.search(r"purger stopped held=0 jobs=1 runs=2 succeeded=0 "
                         r"failed=2 retries=1 gave_up=1 dropped=0",
                         sig.output()), sig.output()[-500:]
    finally:
        stack.close()


def test_timeout_kills_the_hook_and_its_children(tmp_path, pki_dir):
    hook = Hook(tmp_path)
    hook.set("sleep")
    stack = make_stack(tmp_path, pki_dir, hook, timeout='"1s"', attempts=1,
                       claim_idle='"2s"')
    try:
        sig = stack.start_signer()
        stack.cli("issue", "--issuer", "demo", "--cert",
                  stack.path("good.pem"))
        wait_for(lambda: "purge gave up" in sig.output(), 30,
                 what="the timeout")
        assert 'why="timed out after 1000 ms (killed)"' in sig.output()
        with open(os.path.join(hook.dir, "child.pid")) as f:
            child = int(f.read())
        # its process group went with it (reaped by init once orphaned)
        wait_for(lambda: not os.path.exists("/proc/%d" % child) or
                 " Z " in open("/proc/%d/stat" % child).read(),
                 what="the hook's child killed")
        assert sig.stop() == 0
    finally:
        stack.close()


def test_sigkill_after_commit_loses_no_purge(tmp_path, pki_dir):
    hook = Hook(tmp_path)
    hook.set("hang")
    stack = make_stack(tmp_path, pki_dir, hook)
    try:
        r = stack.r()
        sig = stack.start_signer()
        leaf = stack.path("revoked.pem")
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        # committed, the hook started and not done: kill the signer
        wait_for(lambda: hook.runs("hung"), 30, what="the hook to start")
        sig.stop(signal.SIGKILL)
        assert r.xpending("revoca:purge", "purger")["pending"] == 1
        assert r.xlen("revoca:purge") == 1
        hook.clear("hang")
        assert hook.runs("ok") == []
        # the same consumer again: its pending job runs
        sig2 = stack.start_signer()
        ok = wait_for(lambda: hook.runs("ok"), 30, what="the job run again")
        assert ok[0]["argv"] == expected_urls(stack, leaf)
        wait_for(lambda: purge_idle(r), what="the job acknowledged")
        assert sig2.stop() == 0
        assert len(hook.runs("ok")) == 1
    finally:
        stack.close()


def test_two_signers_run_each_job_once(tmp_path, pki_dir):
    hook = Hook(tmp_path)
    stack = make_stack(tmp_path, pki_dir, hook, consumer="s-a", batch=4)
    try:
        r = stack.r()
        other = os.path.join(stack.tmp, "b.conf")
        with open(stack.conf) as f:
            text = f.read()
        with open(other, "w") as f:
            f.write(text.replace('consumer = "s-a"', 'consumer = "s-b"'))
        a = stack.start_signer()
        b = stack.start_signer(conf=other)
        serials = ["%x" % (0x70000 + i) for i in range(60)]
        for s in serials:
            stack.cli("issue", "--issuer", "demo", "--serial", s,
                      "--not-after", "2030-01-01", "--no-wait")
        for s in serials[::2]:
            stack.cli("revoke", "--issuer", "demo", "--serial", s)
        wait_for(lambda: events_settled(r), 60, what="the events")
        wait_for(lambda: purge_idle(r), 60, what="every purge")
        runs = hook.runs("ok")
        # each certificate purged once per committed change: once for the
        # issue and once for the revocation of every other one (or once
        # when both landed in one batch), never twice for one job
        assert a.stop() == 0 and b.stop() == 0
        jobs = sum(int(re.findall(r"stopped .* purge_jobs=(\d+)",
                                  d.output())[-1]) for d in (a, b))
        per_run = [run_serials(run) for run in runs]
        flat = [s for ss in per_run for s in ss]
        assert len(flat) == jobs, (len(flat), jobs)
        assert sorted(set(flat)) == sorted(serials)
        for s in serials:
            assert flat.count(s) <= (2 if int(s, 16) % 2 == 0 else 1), s
        # both signers' purgers took part
        assert all("purger started consumer=" in d.output() for d in (a, b))
    finally:
        stack.close()


def test_check_prints_and_refuses(tmp_path, pki_dir):
    import subprocess
    from revoca_fixtures import SIGNER
    hook = Hook(tmp_path)
    stack = make_stack(tmp_path, pki_dir, hook)
    try:
        def check(extra):
            stack.write_conf([{"name": "demo"}], extra)
            return subprocess.run([SIGNER, "-c", stack.conf, "--check"],
                                  capture_output=True, text=True)
        p = check(purge_conf(hook))
        assert p.returncode == 0, p.stderr
        plain = os.path.join(hook.dir, "plain")
        with open(plain, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(plain, 0o644)
        assert ("purge hook=%s timeout=5s attempts=5 backoff=1s "
                "backoff_max=300s batch=1 claim_idle=10s stream_max=1000000"
                % hook.path) in p.stdout.splitlines()
        assert ["issuer demo ocsp_url=" + b for b in BASES] == \
            [l for l in p.stdout.splitlines() if " ocsp_url=" in l]
        for extra, why in (
                (purge_conf(hook, hook='"%s"' % plain), "not executable"),
                (purge_conf(hook, timeout='"6s"'),
                 "claim_idle must be at least twice the timeout"),
                (purge_conf(hook, ocsp_urls='("http://x/ocsp?a=b")'),
                 "ocsp_urls: element 0 of issuer demo is not a valid"),
                (purge_conf(hook, ocsp_urls="()"), "ocsp_urls: 1..4 URLs"),
                (purge_conf(hook, batch=17), "batch"),
                (purge_conf(hook, colour='"blue"'), "unknown key")):
            p = check(extra)
            assert p.returncode == 1 and why in p.stderr, (extra, p.stderr)
        # without a hook: nothing is purged, nothing is refused
        p = check('purge = { ocsp_urls = ("http://x/ocsp"); };')
        assert p.returncode == 0 and "purge off" in p.stdout, p.stderr
    finally:
        stack.close()


def test_under_the_documented_signer_acl(tmp_path, pki_dir):
    """The signer, its invalidations and its purger under the revoca-signer
    user of docs/redis.md: nothing refused (ACL LOG empty), and the user
    still cannot append or delete events."""
    import redis
    from test_redis_tls import documented_acls
    hook = Hook(tmp_path)
    stack = make_stack(tmp_path, pki_dir, hook)
    try:
        admin = stack.r()
        admin.execute_command("ACL", "SETUSER", "revoca-signer", ">pw",
                              *documented_acls()["revoca-signer"])
        conf = os.path.join(stack.tmp, "acl.conf")
        with open(stack.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("redis = { ", 'redis = { user = '
                                 '"revoca-signer"; password = "pw"; ', 1))
        sub = admin.pubsub(ignore_subscribe_messages=True)
        sub.subscribe("revoca:invalidate")
        stack.start_signer(conf=conf)
        leaf = stack.path("good.pem")
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        wait_for(lambda: hook.runs("ok"), 30, what="the purge")
        wait_for(lambda: purge_idle(admin), what="the job acknowledged")
        m = wait_for(lambda: sub.get_message(timeout=0.2), what="message")
        assert m["data"] == ("demo:" + stack.serial_of(leaf)).encode()
        assert admin.execute_command("ACL", "LOG") == []
        u = redis.Redis(host="127.0.0.1", port=stack.redis.port,
                        username="revoca-signer", password="pw")
        for cmd in (("XADD", "revoca:events", "*", "e", "x"),
                    ("XDEL", "revoca:events", "1-1"),
                    ("XTRIM", "revoca:events", "MAXLEN", "0")):
            try:
                u.execute_command(*cmd)
                raise AssertionError("allowed: %s" % (cmd,))
            except redis.exceptions.NoPermissionError:
                pass
        sub.close()
    finally:
        stack.close()


def test_hook_environment_leaves_the_pin_out(tmp_path, pki_dir, monkeypatch):
    """The hook runs with the signer's environment but the variable
    pkcs11.pin_env names, and nothing on stdin."""
    monkeypatch.setenv("REVOCA_TEST_PIN", "1234")
    monkeypatch.setenv("REVOCA_TEST_OTHER", "kept")
    hook = Hook(tmp_path)
    stack = Stack(tmp_path, pki_dir, extra=purge_conf(hook) +
                  'pkcs11 = { pin_env = "REVOCA_TEST_PIN"; };\n')
    try:
        sig = stack.start_signer()
        stack.cli("issue", "--issuer", "demo", "--cert",
                  stack.path("good.pem"))
        run = wait_for(lambda: hook.runs("ok"), 30, what="the run")[0]
        assert run["env"] == {"REVOCA_TEST_PIN": None,
                              "REVOCA_TEST_OTHER": "kept"}
        assert run["stdin"] == ""
        assert sig.stop() == 0
    finally:
        stack.close()


def test_reload_in_place_keeps_the_jobs_in_hand(tmp_path, pki_dir):
    """SIGHUP restarts the signer in place (same pid, daemon.h): the purger
    stops after the run in hand (here killed at its timeout), and the job
    it had, still pending, is run by the purger after the restart."""
    hook = Hook(tmp_path)
    hook.set("hang")
    stack = make_stack(tmp_path, pki_dir, hook, timeout='"2s"')
    try:
        r = stack.r()
        sig = stack.start_signer()
        pid = sig.proc.pid
        leaf = stack.path("good.pem")
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        wait_for(lambda: hook.runs("hung"), 30, what="the hook to start")
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: sig.output().count("purger started") == 2, 60,
                 what="the restart in place")
        assert sig.alive() and sig.proc.pid == pid
        assert "timed out after 2000 ms" in sig.output()
        hook.clear("hang")
        ok = wait_for(lambda: hook.runs("ok"), 30, what="the job run again")
        assert ok[0]["argv"] == expected_urls(stack, leaf)
        wait_for(lambda: purge_idle(r), what="the job acknowledged")
        assert sig.stop() == 0
        assert len(hook.runs("ok")) == 1
    finally:
        stack.close()
