"""Figures for docs/audit.md: N synthetic entries (80 random bytes each) XADDed
to a fresh redis, then revoca-audit chains them (checkpoints every 1000)
and `revoca audit verify` checks them.  Not a test (no thresholds):
  cd tests/integration && REVOCA_BUILD=../../build /usr/bin/python3 bench_audit.py 100000
"""
import os, sys, time, tempfile, subprocess
sys.path.insert(0, ".")
os.environ.setdefault("REVOCA_BUILD", "/work/wt/audit/build")
from revoca_fixtures import Stack, make_pki_dir, Daemon, wait_for
N = int(sys.argv[1])
tmp = tempfile.mkdtemp()
st = Stack(tmp, make_pki_dir())
st.write_conf(st.issuers, extra='audit = { key = "%s"; cert = "%s"; };\n' % (st.path("responder.key"), st.path("responder.pem")))
r = st.r()
p = r.pipeline(transaction=False)
for i in range(N):
    p.xadd("revoca:events", {"e": os.urandom(80)})
    if i % 10000 == 9999:
        p.execute()
p.execute()
t0 = time.time()
d = Daemon([os.path.join(os.environ["REVOCA_BUILD"], "responder", "revoca-audit"), "-c", st.conf], tmp + "/a.log").start()
def chained():
    h = r.get("revoca:audit:head")
    return h and int(h.split()[0]) == N
wait_for(chained, timeout=600, interval=0.05)
t1 = time.time()
d.stop()
print("chain: %d events in %.2fs = %.0f ev/s (%.1f us/event), checkpoints=%d" % (N, t1 - t0, N / (t1 - t0), (t1 - t0) / N * 1e6, r.xlen("revoca:audit:checkpoints")))
t0 = time.time()
pr = st.cli("audit", "verify", check=False, timeout=600)
t1 = time.time()
print("verify rc=%d %.2fs: %s" % (pr.returncode, t1 - t0, pr.stdout.strip().replace("\n", " | ")))
st.close()
