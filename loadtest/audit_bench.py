"""Figures for docs/audit.md (not a test, no thresholds): N synthetic
entries (80 random bytes each) XADDed to a fresh redis-server, then
  1. revoca-audit chains them (a signed checkpoint every 1000);
  2. restarted with audit.archive_dir (archive_after 0s, segments of
     10000 entries), it archives them all to signed segments and trims the
     stream;
  3. `revoca audit verify` over archive + stream (half of the entries
     archived, the other half added after and chained only).
Run by loadtest/audit_bench.sh N."""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from revoca_fixtures import Stack, make_pki_dir, Daemon, wait_for  # noqa

N = int(sys.argv[1])
BUILD = os.environ["REVOCA_BUILD"]
tmp = tempfile.mkdtemp()
st = Stack(tmp, make_pki_dir())
archive = os.path.join(tmp, "archive")
os.makedirs(archive)
keys = 'key = "%s"; cert = "%s"; ' % (st.path("responder.key"),
                                       st.path("responder.pem"))
st.write_conf(st.issuers, extra="audit = { %s};\n" % keys)
r = st.r()


def add(n):
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.xadd("revoca:events", {"e": os.urandom(80)})
        if i % 10000 == 9999:
            p.execute()
    p.execute()


def count(key):
    v = r.get(key)
    return int(v.split()[0]) if v else 0


def run(what, cond):
    d = Daemon([os.path.join(BUILD, "responder", "revoca-audit"), "-c",
                st.conf], os.path.join(tmp, what + ".log")).start()
    t0 = time.time()
    wait_for(cond, timeout=900, interval=0.05, what=what)
    t = time.time() - t0
    d.stop()
    return t


add(N)
t = run("chain", lambda: count("revoca:audit:head") == N)
print("chain:   %d entries in %.2fs = %.0f entries/s, checkpoints=%d"
      % (N, t, N / t, r.xlen("revoca:audit:checkpoints")))
st.write_conf(st.issuers, extra=(
    'audit = { %sarchive_dir = "%s"; archive_after = "0s"; '
    'archive_interval = "1s"; segment_events = 10000; };\n' % (keys, archive)))
t = run("archive", lambda: count("revoca:audit:archive") == N and
        r.xlen("revoca:events") == 0)
size = sum(os.path.getsize(os.path.join(archive, f))
           for f in os.listdir(archive))
print("archive: %d entries in %.2fs = %.0f entries/s (start-up and the first "
      "1 s interval included), %d segments, %.1f MB, stream left %d"
      % (N, t, N / t, len(os.listdir(archive)), size / 1e6,
         r.xlen("revoca:events")))
# the second half: in the stream, chained only
st.write_conf(st.issuers, extra="audit = { %s};\n" % keys)
add(N)
run("chain2", lambda: count("revoca:audit:head") == 2 * N)
t0 = time.time()
p = st.cli("audit", "verify", "--archive", archive, check=False, timeout=900)
t = time.time() - t0
print("verify:  rc=%d %d entries (%d archived + %d in the stream) in %.2fs "
      "= %.0f entries/s: %s" % (p.returncode, 2 * N, N, N, t, 2 * N / t,
                                p.stdout.strip().replace("\n", " | ")))
st.close()
