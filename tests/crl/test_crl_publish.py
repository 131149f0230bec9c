"""Publication: atomic under SIGKILL, the pre-publish check, the
post-publish hook, metrics."""
import datetime
import glob
import os
import subprocess
import time

from conftest import CRLGEN, CrlStack, cert, py_verify, wait_for


def metric(s, name, file):
    with open(s.pub + ".prom") as f:
        for line in f:
            if line.startswith(name + "{") and 'file="%s"' % file in line:
                return float(line.rsplit(" ", 1)[1])
    return None


def test_sigkill_during_publication_keeps_previous_crl(crlstack):
    s = crlstack
    first = s.issue_revoke("revoked")
    s.once()
    with open(s.file("demo.crl"), "rb") as f:
        before = f.read()

    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
    s.cli("revoke", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
    env = dict(os.environ, REVOCA_CRLGEN_TEST_STALL_MS="20000")
    p = subprocess.Popen([CRLGEN, "-c", s.conf, "--once"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # the new CRL is complete in its temporary file, not yet renamed
        # (after the shard list, published first and stalled as well)
        wait_for(lambda: glob.glob(os.path.join(s.pub, ".demo.crl.tmp-*")),
                 timeout=60, what="temporary file")
        p.kill()
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    with open(s.file("demo.crl"), "rb") as f:
        assert f.read() == before
    assert s.serials("demo.crl") == [first]

    # the next run cleans up and publishes (after the dead run's lease)
    s.once()
    assert not glob.glob(os.path.join(s.pub, ".*tmp-*"))
    good = cert(s.path("good.pem")).serial_number
    assert s.serials("demo.crl") == sorted([first, good])


def test_refuses_to_drop_a_revoked_serial(crlstack):
    s = crlstack
    serial = s.issue_revoke("revoked")
    s.once()
    with open(s.file("demo.crl"), "rb") as f:
        before = f.read()
    # lose the entry in Redis: the CRL must not silently un-revoke it.  (A
    # rebuild from the local snapshot would still list it; a rescan of
    # Redis, forced here by removing the snapshot, is what can lose it.)
    assert s.r().hdel("revoca:revoked:demo:0", "%x" % serial) == 1
    snap = os.path.join(s.pub + ".state", "demo.snap")
    os.remove(snap)
    p = s.once(check=False)
    assert p.returncode != 0
    assert "serial %x is on the published CRL" % serial in p.stderr, p.stderr
    with open(s.file("demo.crl"), "rb") as f:
        assert f.read() == before
    # the refused CRL (written to a temporary file while it was checked)
    # and its entry snapshot (written meanwhile) are gone
    assert not glob.glob(os.path.join(s.pub, ".*tmp-*"))
    assert not glob.glob(os.path.join(s.pub + ".state", "*tmp-*"))
    assert not os.path.exists(snap)
    assert metric(s, "revoca_crl_publish_failures_total", "demo.crl") == 1


def test_post_publish_hook_and_metrics(tmp_path, pki_dir):
    hook = tmp_path / "hook.sh"
    log = tmp_path / "hook.log"
    hook.write_text('#!/bin/sh\necho "$REVOCA_CRL_ISSUER $REVOCA_CRL_KIND '
                    '$REVOCA_CRL_NUMBER $1 $REVOCA_CRL_FILE" >> %s\n' % log)
    hook.chmod(0o755)
    s = CrlStack(tmp_path, pki_dir,
                 crl={"post_publish": '"%s \\"$1\\""' % hook})
    try:
        s.start_signer()
        s.once()
        lines = log.read_text().splitlines()
        kinds = [l.split()[1] for l in lines]
        # the round's shard list first, the full CRL last, then the delta
        assert kinds == ["shards", "full", "delta"]
        for l in lines:
            issuer, kind, number, arg, env_file = l.split()
            assert issuer == "demo" and arg == env_file
            assert os.path.exists(arg)
            if kind == "shards":
                assert arg.endswith("demo-shards.json")
            else:
                assert int(number) == s.number(os.path.basename(arg))
        assert metric(s, "revoca_crl_size_bytes", "demo.crl") == \
            os.path.getsize(s.file("demo.crl"))
        assert metric(s, "revoca_crl_number", "demo-delta.crl") == \
            s.number("demo-delta.crl")
        nu = metric(s, "revoca_crl_next_update_seconds", "demo.crl")
        assert nu > time.time() + 6 * 86400
        # the CA certificate's time left, one line for the issuer
        with open(s.pub + ".prom") as f:
            ca = [l for l in f
                  if l.startswith("revoca_crl_ca_cert_expiry_seconds{")]
        assert len(ca) == 1 and 'issuer="demo"' in ca[0], ca
        left = cert(s.path("issuer.pem")).not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp() - time.time()
        assert abs(float(ca[0].rsplit(" ", 1)[1]) - left) < 600
        py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
    finally:
        s.close()


def test_unreadable_published_crl_is_replaced_with_a_warning(crlstack):
    # a published file that does not parse cannot be compared with: the
    # generator says so and replaces it with a CRL that verifies
    s = crlstack
    s.once()
    with open(s.file("demo.crl"), "wb") as f:
        f.write(b"not a CRL")
    p = s.once("-v")
    assert "published CRL unreadable" in p.stderr, p.stderr
    py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
