"""revoca CLI + revoca-signer against a real redis-server: every reported
certificate gets a correct pre-signed response, checked by openssl and
Python cryptography."""
import datetime
import os
import re
import signal
import subprocess
import time

import pytest
from cryptography.x509 import ocsp, ReasonFlags

from revoca_fixtures import (REVOCA, Stack, openssl_ocsp_status, py_ocsp,
                             render_conf, wait_for, demo_pki, cert,
                             stored_decode)


def utc(ts):
    return datetime.datetime.utcfromtimestamp(ts)


def test_issue_answers_good_before_hook_returns(stack):
    stack.start_signer()
    good = stack.path("good.pem")
    t0 = int(time.time())
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    serial = stack.serial_of(good)
    # No waiting here: issue returned only once the responses were stored.
    der1 = stack.response(serial, "sha1")
    der256 = stack.response(serial, "sha256")
    assert der1 and der256
    status, _ = openssl_ocsp_status(der1, stack.pki, good, "sha1")
    assert status == "good"
    status, _ = openssl_ocsp_status(der256, stack.pki, good, "sha256")
    assert status == "good"
    for der, alg in ((der1, "SHA1"), (der256, "SHA256")):
        r = py_ocsp(der, stack.pki)
        assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert r.serial_number == cert(good).serial_number
        assert r.hash_algorithm.name.upper() == alg
        # thisUpdate backdated by the default hour; validity as configured.
        assert abs((r.this_update - utc(t0 - 3600)).total_seconds()) <= 5
        assert (r.next_update - r.this_update).total_seconds() == 86400
        assert r.responder_key_hash is not None
    st = stack.stored(serial)
    assert st["status"] == "good"
    assert st["next_update"] - st["this_update"] == 86400
    # stored without certs, the SHA-256 response as its signature alone
    # (responder/stored.h); the fixture rebuilds them as the module does
    assert ocsp.load_der_ocsp_response(st["sha1"]).certificates == []
    assert len(stack.r().get("revoca:ocsp:demo:" + serial)) < \
        len(der1) + len(der256) - 2 * 400


def test_revoke_with_reason_and_time(stack):
    stack.start_signer()
    leaf = stack.path("revoked.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--reason",
              "keyCompromise", "--time", "2026-01-02T03:04:05Z",
              "--invalidity-date", "2026-01-01", "--wait")
    serial = stack.serial_of(leaf)
    der = stack.response(serial)
    status, out = openssl_ocsp_status(der, stack.pki, leaf)
    assert status == "revoked"
    assert "Reason: keyCompromise" in out
    assert "Revocation Time: Jan  2 03:04:05 2026 GMT" in out
    r = py_ocsp(stack.response(serial, "sha256"), stack.pki)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason == ReasonFlags.key_compromise
    assert r.revocation_time == datetime.datetime(2026, 1, 2, 3, 4, 5)
    # The CRL generator's inputs are kept with the record.
    assert stack.r().hexists("revoca:revoked:demo:0", serial)
    assert stack.r().zscore("revoca:changes:demo", serial) is not None


def test_revoke_unspecified_leaves_reason_out(stack):
    stack.start_signer()
    leaf = stack.path("revoked.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
    r = py_ocsp(stack.response(stack.serial_of(leaf)), stack.pki)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason is None  # RFC 5280 5.3.1


def test_revoked_is_final(stack):
    stack.start_signer()
    leaf = stack.path("revoked.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--reason",
              "superseded", "--wait")
    stack.cli("release", "--issuer", "demo", "--cert", leaf, "--wait")
    stack.cli("hold", "--issuer", "demo", "--cert", leaf)
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    # every event applied before the answer is looked at
    wait_for(lambda: settled(stack.r()), what="signer to consume the events")
    r = py_ocsp(stack.response(stack.serial_of(leaf)), stack.pki)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason == ReasonFlags.superseded


def test_hold_then_release(stack):
    stack.start_signer()
    leaf = stack.path("good.pem")
    serial = stack.serial_of(leaf)
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    stack.cli("hold", "--issuer", "demo", "--cert", leaf, "--wait")
    status, out = openssl_ocsp_status(stack.response(serial), stack.pki, leaf)
    assert status == "revoked"
    assert "certificateHold" in out
    assert stack.r().hexists("revoca:revoked:demo:0", serial)
    stack.cli("release", "--issuer", "demo", "--cert", leaf, "--wait")
    status, _ = openssl_ocsp_status(stack.response(serial), stack.pki, leaf)
    assert status == "good"
    assert not stack.r().hexists("revoca:revoked:demo:0", serial)
    assert stack.r().zscore("revoca:changes:demo", serial) is not None


def test_never_issued_is_never_good(stack):
    stack.start_signer()
    leaf = stack.path("unissued.pem")
    serial = stack.serial_of(leaf)
    # Nothing reported: nothing stored, so nothing can say "good".
    assert stack.response(serial) is None
    p = stack.cli("status", "--issuer", "demo", "--serial", serial)
    assert "never reported" in p.stdout
    # A hold and release of a serial never issued leaves it unknown.
    stack.cli("hold", "--issuer", "demo", "--serial", serial, "--time",
              "2026-01-01", "--wait")
    stack.cli("release", "--issuer", "demo", "--serial", serial, "--time",
              "2026-01-02", "--wait")
    status, _ = openssl_ocsp_status(stack.response(serial), stack.pki, leaf)
    assert status == "unknown"
    # Revoking a serial never issued answers revoked.
    stack.cli("revoke", "--issuer", "demo", "--serial", serial, "--wait")
    status, _ = openssl_ocsp_status(stack.response(serial), stack.pki, leaf)
    assert status == "revoked"


@pytest.mark.parametrize("policy", ["revoked", "unauthorized"])
def test_unissued_policies(tmp_path, pki_dir, policy):
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "unissued": policy}])
    try:
        s.start_signer()
        leaf = s.path("unissued.pem")
        serial = s.serial_of(leaf)
        s.cli("hold", "--issuer", "demo", "--serial", serial, "--time",
              "2026-01-01", "--wait")
        s.cli("release", "--issuer", "demo", "--serial", serial, "--time",
              "2026-01-02", "--wait")
        der = s.response(serial)
        if policy == "unauthorized":
            assert der is None
            return
        r = py_ocsp(der, s.pki)
        # RFC 6960 2.2: revoked, certificateHold, at the epoch.
        assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert r.revocation_reason == ReasonFlags.certificate_hold
        assert r.revocation_time == datetime.datetime(1970, 1, 1)
    finally:
        s.close()


def test_events_duplicated_and_reordered(stack):
    stack.start_signer()
    leaf = stack.path("good.pem")
    serial = stack.serial_of(leaf)
    r = stack.r()
    # Out of order: the release (later in time) arrives before its hold.
    stack.cli("release", "--issuer", "demo", "--serial", serial, "--time",
              "2026-03-02")
    stack.cli("hold", "--issuer", "demo", "--serial", serial, "--time",
              "2026-03-01")
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    status, _ = openssl_ocsp_status(stack.response(serial), stack.pki, leaf)
    assert status == "good"
    # Every event delivered again, verbatim, in reverse: nothing changes.
    before = r.get("revoca:cert:demo:" + serial)
    entries = r.xrange("revoca:events")
    for _, fields in reversed(entries):
        r.xadd("revoca:events", {"e": fields[b"e"]})
    wait_for(lambda: settled(r), what="signer to consume the replay")
    after = r.get("revoca:cert:demo:" + serial)
    assert after == before
    status, _ = openssl_ocsp_status(stack.response(serial), stack.pki, leaf)
    assert status == "good"
    # Two revocations in either order end alike: keyCompromise wins.
    stack.cli("revoke", "--issuer", "demo", "--serial", serial, "--reason",
              "superseded", "--time", "2026-04-01")
    stack.cli("revoke", "--issuer", "demo", "--serial", serial, "--reason",
              "keyCompromise", "--time", "2026-05-01", "--wait")
    stack.cli("revoke", "--issuer", "demo", "--serial", serial, "--reason",
              "affiliationChanged", "--time", "2026-03-15", "--wait")
    resp = py_ocsp(stack.response(serial), stack.pki)
    assert resp.revocation_reason == ReasonFlags.key_compromise
    assert resp.revocation_time == datetime.datetime(2026, 5, 1)


def test_sha256_certid_and_rsa(tmp_path, pki_rsa_dir):
    s = Stack(tmp_path, pki_rsa_dir)
    try:
        s.start_signer()
        leaf = s.path("good.pem")
        s.cli("issue", "--issuer", "demo", "--cert", leaf)
        der = s.response(s.serial_of(leaf), "sha256")
        status, out = openssl_ocsp_status(der, s.pki, leaf, "sha256")
        assert status == "good"
        assert "sha256WithRSAEncryption" in out
        r = py_ocsp(der, s.pki)
        assert r.hash_algorithm.name == "sha256"
    finally:
        s.close()


def make_index(path, n, revoked_every=10, serial_base=0x1000):
    """An openssl ca index.txt: N rows, every REVOKED_EVERY-th revoked."""
    serials = []
    with open(path, "w") as f:
        for i in range(n):
            serial = "%X" % (serial_base + i)
            serials.append(("%x" % (serial_base + i)))
            if revoked_every and i % revoked_every == 0:
                f.write("R\t301231235959Z\t260102030405Z,keyCompromise\t%s\tunknown\t/CN=c%d\n" % (serial, i))
            else:
                f.write("V\t301231235959Z\t\t%s\tunknown\t/CN=c%d\n" % (serial, i))
    return serials


def all_answered(r, serials):
    pipe = r.pipeline(transaction=False)
    for s in serials:
        pipe.exists("revoca:ocsp:demo:" + s)
    return all(pipe.execute())


def check_statuses(r, serials, revoked_every=10):
    pipe = r.pipeline(transaction=False)
    for s in serials:
        pipe.get("revoca:ocsp:demo:" + s)
    got = pipe.execute()
    for i, v in enumerate(got):
        want = "revoked" if revoked_every and i % revoked_every == 0 \
            else "good"
        assert v is not None and stored_decode(v)["status"] == want, \
            (serials[i], v)


def pending(r):
    try:
        return r.xpending("revoca:events", "signer")["pending"]
    except Exception:  # the group does not exist yet
        return 0


def test_import_openssl_index(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    serials = make_index(idx, 500)
    stack.start_signer()
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    assert "events=550" in p.stdout
    r = stack.r()
    wait_for(lambda: all_answered(r, serials), 60, what="import signed")
    check_statuses(r, serials)
    # Idempotent: importing again changes no status.
    stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    wait_for(lambda: r.xpending("revoca:events", "signer")["pending"] == 0
             and r.xinfo_groups("revoca:events")[0]["lag"] == 0,
             60, what="re-import consumed")
    check_statuses(r, serials)


def test_import_certs_directory(stack):
    d = os.path.join(stack.tmp, "certs")
    os.mkdir(d)
    issuer, issuer_key = demo_pki.load(stack.pki, "issuer")
    serials = []
    for i in range(5):
        c, _ = demo_pki.make_leaf(issuer, issuer_key, "h%d.test" % i)
        demo_pki.save(d, "leaf%d" % i, c)
        serials.append("%x" % c.serial_number)
    stack.start_signer()
    stack.cli("import", "--issuer", "demo", "--certs", d,
              stack.path("good.pem"))
    serials.append(stack.serial_of(stack.path("good.pem")))
    wait_for(lambda: all_answered(stack.r(), serials), what="certs import")


@pytest.mark.parametrize("consumer", ["", 'consumer = "signer-a";'])
def test_signer_killed_mid_batch_loses_nothing(tmp_path, pki_dir, consumer):
    """Restarted under a new name, the dead consumer's entries are claimed
    (XAUTOCLAIM); under the same name, it re-reads its own pending ones."""
    stack = Stack(tmp_path, pki_dir, signer=consumer)
    try:
        killed_mid_batch(stack)
    finally:
        stack.close()


def killed_mid_batch(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    serials = make_index(idx, 3000)
    stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    r = stack.r()
    first = stack.start_signer()

    def settled_pending():
        # a transaction sent just before the freeze still lands in Redis
        before = pending(r)
        while True:
            time.sleep(0.3)
            now = pending(r)
            if now == before:
                return now
            before = now

    def frozen_holding_entries():
        # Freeze the signer while it holds delivered, unacknowledged entries.
        if not pending(r):
            return False
        first.proc.send_signal(signal.SIGSTOP)
        if settled_pending():
            return True
        first.proc.send_signal(signal.SIGCONT)
        return False

    wait_for(frozen_holding_entries, what="signer mid-batch")
    held = pending(r)
    first.stop(signal.SIGKILL)
    assert held > 0 and pending(r) == held
    stack.start_signer()  # a new consumer: takes the dead one's pending
    wait_for(lambda: all_answered(r, serials), 120, what="recovery")
    wait_for(lambda: r.xpending("revoca:events", "signer")["pending"] == 0,
             what="all acknowledged")
    check_statuses(r, serials)


def test_two_signers_share_without_double_signing(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    serials = make_index(idx, 2000, revoked_every=0)  # issued only
    a = stack.start_signer()
    b = stack.start_signer()
    stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    r = stack.r()
    wait_for(lambda: all_answered(r, serials), 120, what="both signers")
    wait_for(lambda: r.xpending("revoca:events", "signer")["pending"] == 0,
             what="all acknowledged")
    assert a.stop() == 0 and b.stop() == 0
    signed = 0
    computed = 0
    consumers = 0
    for d in (a, b):
        line = [l for l in d.output().splitlines() if " stopped " in l][-1]
        n = int(line.split("signed=")[1].split()[0])
        consumers += n > 0
        signed += n
        computed += int(line.split(" computed=")[1].split()[0])
    # Each certificate was signed once, in both CertID forms: no double work,
    # not even in a transaction that was not committed.
    assert signed == 2 * len(serials)
    assert computed == signed
    check_statuses(r, serials, revoked_every=0)


def test_resigns_before_responses_age(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "validity": '"60s"',
                                   "resign_after": '"3s"', "backdate": '"1s"'}])
    try:
        s.start_signer()
        leaf = s.path("good.pem")
        serial = s.serial_of(leaf)
        s.cli("issue", "--issuer", "demo", "--cert", leaf)
        r = s.r()
        first = s.stored(serial)["this_update"]
        due = r.zscore("revoca:due:demo", serial)
        assert due == first + 3
        wait_for(lambda: s.stored(serial)["this_update"] > first,
                 30, what="re-signing")
        status, _ = openssl_ocsp_status(s.response(serial), s.pki, leaf)
        assert status == "good"
        assert r.zscore("revoca:due:demo", serial) > due
    finally:
        s.close()


def test_expired_records_are_dropped(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir, [{"name": "demo",
                                   "expired_retention": '"1s"'}])
    try:
        s.start_signer()
        na = int(time.time()) + 2
        s.cli("issue", "--issuer", "demo", "--serial", "abc", "--not-after",
              str(na))
        r = s.r()
        assert r.exists("revoca:cert:demo:abc")
        # its history goes with it (responder/history.h)
        assert r.llen("revoca:history:demo:abc") == 1
        wait_for(lambda: not r.exists("revoca:cert:demo:abc")
                 and not r.exists("revoca:ocsp:demo:abc"), 30,
                 what="expired record dropped")
        assert r.zscore("revoca:due:demo", "abc") is None
        assert not r.exists("revoca:history:demo:abc")
    finally:
        s.close()


def test_signer_survives_redis_restart(stack):
    sig = stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    stack.redis.kill()
    time.sleep(1.5)
    assert sig.alive()
    stack.redis.start()  # same port, AOF keeps the data
    leaf = stack.path("revoked.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    assert stack.response(stack.serial_of(leaf))
    assert stack.response(stack.serial_of(stack.path("good.pem")))
    assert sig.stop() == 0
    assert "redis lost" in sig.output()


def test_issue_times_out_without_signer(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir, extra="")
    try:
        with open(s.conf) as f:
            text = f.read().replace('issue_wait = "20s"', 'issue_wait = "1s"')
        with open(s.conf, "w") as f:
            f.write(text)
        p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
                  check=False)
        assert p.returncode == 3
        assert "no response in Redis" in p.stderr
    finally:
        s.close()


def test_sigterm_exits_cleanly(stack):
    sig = stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"))
    assert sig.stop(signal.SIGTERM) == 0
    assert " stopped events=1 " in sig.output()


def settled(r):
    return (r.xpending("revoca:events", "signer")["pending"] == 0 and
            r.xinfo_groups("revoca:events")[0]["last-delivered-id"] ==
            r.xinfo_stream("revoca:events")["last-generated-id"])


def test_bad_record_holds_back_only_its_own_events(tmp_path, pki_dir):
    # a stored record this code could not have written (status 5) is left
    # alone, its event stays pending, and other certificates go ahead
    stack = Stack(tmp_path, pki_dir, signer='consumer = "signer-a";')
    try:
        bad_record_held_back(stack)
    finally:
        stack.close()


def bad_record_held_back(stack):
    r = stack.r()
    bad = stack.serial_of(stack.path("revoked.pem"))
    raw = b"\x0a" + bytes([len(bad)]) + bad.encode() + b"\x10\x05"
    r.set("revoca:cert:demo:" + bad, raw)
    sig = stack.start_signer()
    stack.cli("hold", "--issuer", "demo", "--serial", bad)
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    assert stack.response(stack.serial_of(good))
    wait_for(lambda: "record invalid key=revoca:cert:demo:" + bad in sig.output(),
             what="the log line")
    assert r.get("revoca:cert:demo:" + bad) == raw
    assert stack.response(bad) is None
    assert r.xpending("revoca:events", "signer")["pending"] == 1
    # restarted under the same name, the signer re-reads its own pending
    # entry, leaves it pending again, and goes on to new events (the issue
    # below would time out)
    assert sig.stop(signal.SIGTERM) == 0
    sig = stack.start_signer()
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("unissued.pem"))
    assert stack.response(stack.serial_of(stack.path("unissued.pem")))
    assert r.xpending("revoca:events", "signer")["pending"] == 1


def test_cabf_profile_enforced_at_the_signer(tmp_path, pki_dir):
    # an event the cabf profile forbids, written by another writer (here a
    # CLI with a private-profile config), is rejected by the signer
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "profile": "cabf"}])
    try:
        sig = s.start_signer()
        leaf = s.path("good.pem")
        serial = s.serial_of(leaf)
        s.cli("issue", "--issuer", "demo", "--cert", leaf)
        private = os.path.join(s.tmp, "private.conf")
        with open(private, "w") as f:
            f.write(render_conf(s.redis.port, [{"name": "demo"}]))
        for args in (["hold"], ["revoke", "--reason", "cACompromise"]):
            subprocess.run([REVOCA, "-c", private] + args +
                           ["--issuer", "demo", "--serial", serial],
                           check=True, capture_output=True)
        wait_for(lambda: settled(s.r()), what="signer to consume the events")
        status, _ = openssl_ocsp_status(s.response(serial), s.pki, leaf)
        assert status == "good"
        assert sig.output().count("not allowed by the issuer's profile") == 2
    finally:
        s.close()


def test_repeated_batch_writes_only_what_it_applies(tmp_path, pki_dir):
    """A full batch cannot take the events of the batch after about its
    certificates, so that batch is read before the full one commits, meets
    a WATCH conflict and is repeated.  Here: the revocation closes a full
    batch, the hold opens the next.  On the repeat the hold no longer
    applies (revoked is final), and nothing its first try computed may be
    written."""
    stack = Stack(tmp_path, pki_dir, signer="batch = 4096;")
    try:
        leaf = stack.path("revoked.pem")
        serial = stack.serial_of(leaf)
        idx = os.path.join(stack.tmp, "index.txt")
        make_index(idx, 4094, revoked_every=0)
        # in the stream before the signer starts: batch one is the issue,
        # 4,094 others and the revocation; batch two the hold
        stack.cli("issue", "--issuer", "demo", "--cert", leaf, "--no-wait")
        stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
        stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--reason",
                  "keyCompromise")
        stack.cli("hold", "--issuer", "demo", "--cert", leaf)
        sig = stack.start_signer()
        wait_for(lambda: " batch " in sig.output() and settled(stack.r()),
                 60, what="signer to consume the events")
        assert sig.stop(signal.SIGTERM) == 0
        assert " conflicts=1" in sig.output(), sig.output()[-300:]
        # the repeat signs again only the certificate whose record the
        # batch before changed: the others' responses are kept
        line = [l for l in sig.output().splitlines() if " stopped " in l][-1]
        signed = int(line.split(" signed=")[1].split()[0])
        computed = int(line.split(" computed=")[1].split()[0])
        assert computed == signed + 2, line
        out = stack.cli("status", "--issuer", "demo", "--serial", serial).stdout
        assert re.search(r"^record +revoked$", out, re.M), out
        assert re.search(r"^reason +keyCompromise$", out, re.M), out
        r = py_ocsp(stack.response(serial), stack.pki)
        assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert r.revocation_reason == ReasonFlags.key_compromise
    finally:
        stack.close()


def test_certificate_split_across_batches_is_signed_once(tmp_path, pki_dir):
    """An import writes a revoked certificate's issue and revocation one
    after the other; with small batches many pairs fall on a boundary.  The
    later event joins the batch before (events commute), so no batch meets
    a WATCH conflict and is signed twice."""
    stack = Stack(tmp_path, pki_dir, signer="batch = 5;")
    try:
        idx = os.path.join(stack.tmp, "index.txt")
        serials = make_index(idx, 300, revoked_every=2)
        stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
        sig = stack.start_signer()
        wait_for(lambda: " batch " in sig.output() and settled(stack.r()),
                 60, what="signer to consume the import")
        assert sig.stop(signal.SIGTERM) == 0
        assert " events=450 signed=600 conflicts=0" in sig.output(), \
            sig.output()[-300:]
        check_statuses(stack.r(), serials, revoked_every=2)
    finally:
        stack.close()


def test_signer_help():
    from revoca_fixtures import SIGNER
    p = subprocess.run([SIGNER, "--help"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: revoca-signer")
    assert "--check" in p.stdout and "--config" in p.stdout
    p = subprocess.run([SIGNER, "-h"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage: revoca-signer" in p.stdout
    p = subprocess.run([SIGNER, "--no-such-option"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "usage: revoca-signer" in p.stderr


def test_signer_check_prints_what_it_would_run(stack):
    from revoca_fixtures import SIGNER
    p = subprocess.run([SIGNER, "-c", stack.conf, "--check"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "revoca-signer: %s: ok" % stack.conf
    assert "redis host=127.0.0.1 port=%d db=0 auth=no" % stack.redis.port \
        in lines
    assert any(l.startswith("signer prefix=revoca consumer=") and
               " batch=64 claim_idle=2s lease=5s" in l for l in lines), lines
    assert any(l.startswith("issuer demo profile=private validity=86400s ")
               and " responder=delegated " in l and "OCSP responder" in l
               for l in lines), lines
    # a check only: nothing was run against Redis
    assert not stack.r().exists("revoca:events")


def test_signer_check_names_file_and_line(stack):
    from revoca_fixtures import SIGNER
    with open(stack.conf) as f:
        good = f.read()

    def check(text):
        with open(stack.conf, "w") as f:
            f.write(text)
        return subprocess.run([SIGNER, "-c", stack.conf, "--check"],
                              capture_output=True, text=True, timeout=30)

    def line_of(text, needle):
        return [i + 1 for i, l in enumerate(text.splitlines())
                if needle in l][0]

    bad = good.replace("batch = 64;", "batchh = 64;")
    p = check(bad)
    assert p.returncode == 1 and p.stdout == ""
    assert "%s:%d: unknown key \"batchh\"" % (
        stack.conf, line_of(bad, "batchh")) in p.stderr, p.stderr

    # A key that does not match its certificate: the issuer's settings
    # (the group opens on the line after "issuers = (").
    bad = good.replace('responder_key = "pki/responder.key"',
                       'responder_key = "pki/issuer.key"')
    assert bad != good
    p = check(bad)
    assert p.returncode == 1
    assert "%s:%d: issuer demo: responder key: " % (
        stack.conf, line_of(bad, "issuers = (") + 1) in p.stderr, p.stderr
    assert "the key does not match its certificate" in p.stderr, p.stderr
    check(good)


def test_failed_write_leaves_only_its_events_pending(stack):
    """A command can fail inside a committed transaction on its own (a key
    of another type: WRONGTYPE), and Redis does not roll the others back.
    The entries whose commands failed stay pending (XACK only after EXEC,
    of the entries all of whose commands succeeded), are claimed again
    after claim_idle, and once the key is repaired, written in full: the
    record already reflects them, their responses are signed anyway.  The
    stored responses are written with SET, which replaces a key of any
    type, so the command that can fail is the CRL inputs' HSET into the
    shard's revoked hash: every revocation fails, the good certificates go
    ahead.  A record key of another type (MGET reads it as nil) is left
    alone like an undecodable record."""
    r = stack.r()
    idx = os.path.join(stack.tmp, "index.txt")
    serials = make_index(idx, 40)  # every 10th revoked: two events
    revoked = serials[::10]
    bad_rec = serials[3]
    revoked_key = "revoca:revoked:demo:0"
    rec_key = "revoca:cert:demo:" + bad_rec
    r.rpush(revoked_key, "not a hash")
    r.rpush(rec_key, "not a record")
    sig = stack.start_signer()
    stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    goods = [s for s in serials if s not in revoked and s != bad_rec]
    wait_for(lambda: all_answered(r, goods), 60, what="the good ones")
    failed = ("command failed in transaction key=%s " % revoked_key)
    # claimed again and failed again: the retry happens, and logs
    wait_for(lambda: sig.output().count(failed) >= 2, 30,
             what="a failed write retried")
    assert ("record invalid key=%s why=\"not a string: list\"" % rec_key
            in sig.output())
    wait_for(lambda: r.xinfo_groups("revoca:events")[0]["lag"] == 0,
             what="everything read")
    # pending: each revocation's entry (and its issue's, when both were in
    # one batch), and the issue of the certificate whose record key is a
    # list; nothing of the good certificates
    n = pending(r)
    assert len(revoked) + 1 <= n <= 2 * len(revoked) + 1, n
    got = r.xpending_range("revoca:events", "signer", "-", "+", 100)
    assert len(got) == n
    assert r.type(revoked_key) == b"list" and r.type(rec_key) == b"list"
    for s in goods:
        resp = py_ocsp(stack.response(s, "sha1"), stack.pki)
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD

    r.delete(revoked_key, rec_key)
    wait_for(lambda: pending(r) == 0 and all_answered(r, serials), 30,
             what="the repaired certificates")
    check_statuses(r, serials)
    for serial, want in [(s, ocsp.OCSPCertStatus.REVOKED) for s in revoked] + \
            [(bad_rec, ocsp.OCSPCertStatus.GOOD)]:
        for field in ("sha1", "sha256"):
            resp = py_ocsp(stack.response(serial, field), stack.pki)
            assert resp.certificate_status == want
            assert resp.serial_number == int(serial, 16)
    # the revocations reached the CRL generator's inputs
    for s in revoked:
        assert r.hexists(revoked_key, s)
        assert r.zscore("revoca:due:demo", s) is not None
    assert sig.stop() == 0
