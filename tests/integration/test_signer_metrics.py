"""revoca-signer's Prometheus metrics file (signer.metrics_file,
--metrics-file) against a real redis-server: counters move with the work
done, the gauges from Redis (stream lag and pending, overdue re-signs)
follow what the stream and the due sets hold, and promtool accepts the
file."""
import os
import re
import shutil
import subprocess
import time

import pytest

from revoca_fixtures import SIGNER, Daemon, Stack, wait_for

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): float} of a Prometheus text file; every
    sample line must parse and carry a TYPE declared before it."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "unparsable line %r" % line
        assert m.group(1) in types, "no TYPE for %s" % m.group(1)
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


class Metrics:
    def __init__(self, path):
        self.path = path

    def read(self):
        with open(self.path) as f:
            return parse(f.read())

    def get(self, name, **labels):
        return self.read().get((name, frozenset(labels.items())))

    def wait(self, pred, what):
        """PRED(metrics) true on a file written after now."""
        t0 = time.time()

        def ok():
            try:
                m = self.read()
            except FileNotFoundError:
                return False
            w = m.get(("revoca_signer_metrics_written_seconds", frozenset()))
            return w is not None and w >= int(t0) and pred(m)
        wait_for(ok, timeout=30, interval=0.2, what=what)
        return self.read()


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def acl_stack(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir, signer='metrics_interval = "1s"; ',
              redis_conf='user = "signer"; password = "pw-signer"; ')
    s.r().execute_command("ACL", "SETUSER", "signer", "on", ">pw-signer",
                          "~*", "&*", "+@all")
    yield s
    s.close()


def start(stack, path):
    d = Daemon([SIGNER, "-c", stack.conf, "-v", "--metrics-file", path],
               os.path.join(stack.tmp, "signer-m.log")).start()
    stack.signers.append(d)
    return d


def test_metrics_follow_the_work(acl_stack):
    stack = acl_stack
    r = stack.r()
    path = os.path.join(stack.tmp, "signer.prom")
    sig = start(stack, path)
    m = Metrics(path)
    first = m.wait(lambda x: val(x, "revoca_signer_metrics_redis_up") == 1
                   and val(x, "revoca_signer_redis_connects_total") >= 3,
                   "the first metrics file")
    assert val(first, "revoca_signer_stream_lag_entries") == 0
    exp = val(first, "revoca_signer_responder_cert_expiry_seconds",
              issuer="demo")
    assert exp > 86400
    if shutil.which("promtool"):
        with open(path) as f:
            p = subprocess.run(["promtool", "check", "metrics"], stdin=f,
                               capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr

    good = stack.path("good.pem")
    leaf = stack.path("revoked.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
    after = m.wait(lambda x: val(x, "revoca_signer_events_total",
                                 issuer="demo", kind="revoked") == 1,
                   "the revocation counted")
    assert val(after, "revoca_signer_events_total", issuer="demo",
               kind="issued") == 2
    assert val(after, "revoca_signer_events_total", issuer="demo",
               kind="hold") == 0
    assert val(after, "revoca_signer_signatures_total") >= 6
    assert val(after, "revoca_signer_batches_total") >= 1
    assert val(after, "revoca_signer_signatures_computed_total") >= \
        val(after, "revoca_signer_signatures_total")
    assert val(after, "revoca_signer_sign_seconds_total") > 0
    assert val(after, "revoca_signer_invalidations_total") >= 3
    assert val(after, "revoca_signer_due_entries", issuer="demo") == 2
    assert val(after, "revoca_signer_oldest_response_age_seconds",
               issuer="demo") > 0

    # The signer can no longer read the stream: its reads fail (Redis
    # errors), events pile up (lag), and the metrics thread, reading
    # only, still reports.
    errors = val(after, "revoca_signer_redis_errors_total")
    r.execute_command("ACL", "SETUSER", "signer", "-xreadgroup")
    for _ in range(3):
        stack.cli("issue", "--issuer", "demo", "--cert", good, "--no-wait")
    serial = stack.serial_of(good)
    r.zadd("revoca:due:demo", {serial: int(time.time()) - 7200})
    # (an entry may have been delivered before the refusal: pending)
    late = m.wait(lambda x: val(x, "revoca_signer_stream_lag_entries") +
                  val(x, "revoca_signer_stream_pending_entries") >= 3
                  and val(x, "revoca_signer_redis_errors_total") > errors,
                  "the lag to grow")
    assert val(late, "revoca_signer_resign_overdue_seconds",
               issuer="demo") >= 7200
    assert val(late, "revoca_signer_metrics_redis_up") == 1

    # Readable again: the signer catches up, re-signs, the gauges fall.
    r.execute_command("ACL", "SETUSER", "signer", "+xreadgroup")
    caught = m.wait(lambda x: val(x, "revoca_signer_stream_lag_entries") == 0
                    and val(x, "revoca_signer_stream_pending_entries") == 0
                    and val(x, "revoca_signer_events_total", issuer="demo",
                            kind="issued") == 5
                    and val(x, "revoca_signer_resign_overdue_seconds",
                            issuer="demo") == 0,
                    "the signer to catch up")
    assert val(caught, "revoca_signer_redis_connects_total") > 3

    # An event the signer cannot apply (a record it could not have
    # written) stays pending.
    bad = "7e57"
    r.set("revoca:cert:demo:" + bad,
          b"\x0a" + bytes([len(bad)]) + bad.encode() + b"\x10\x05")
    stack.cli("hold", "--issuer", "demo", "--serial", bad)
    m.wait(lambda x: val(x, "revoca_signer_stream_pending_entries") == 1,
           "the pending entry")

    # At stop the file is written a last time.
    os.unlink(path)
    assert sig.stop() == 0
    final = Metrics(path).read()
    assert val(final, "revoca_signer_events_total", issuer="demo",
               kind="revoked") == 1


def test_metrics_off_by_default_and_from_the_config(tmp_path, pki_dir):
    path = os.path.join(str(tmp_path), "from-conf.prom")
    stack = Stack(tmp_path, pki_dir,
                  signer='metrics_file = "%s"; metrics_interval = "1s"; '
                  % path)
    try:
        p = subprocess.run([SIGNER, "-c", stack.conf, "--check"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert "metrics file=%s interval=1s" % path in p.stdout
        stack.start_signer()
        Metrics(path).wait(lambda x: True, "the file named in the config")
    finally:
        stack.close()
    stack = Stack(tmp_path / "off", pki_dir,
                  signer='metrics_interval = "0s"; ')
    try:
        p = subprocess.run([SIGNER, "-c", stack.conf, "--check"],
                           capture_output=True, text=True)
        assert p.returncode == 1 and "metrics_interval" in p.stderr
    finally:
        stack.close()
