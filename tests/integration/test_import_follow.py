"""revoca import --openssl-index --follow, and import --wait.

A real Easy-RSA CA (Debian's easy-rsa, itself driving `openssl ca`) issues,
revokes, renews and makes CRLs while the follower runs with the real signer;
after every step each row of the CA's index.txt, and each entry of its CRL,
is checked against the response Revoca signed (read back with `openssl
ocsp`).  The follower is stopped (SIGTERM) and killed (SIGKILL) between
steps and must send, once restarted, exactly what changed meanwhile.
"""
import datetime
import hashlib
import os
import shutil
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from revoca_fixtures import (BUILD, REVOCA, Daemon, Stack,  # noqa: E402
                             wait_for)
from test_cli import stream_len  # noqa: E402

from cryptography import x509  # noqa: E402

EASYRSA = "/usr/share/easy-rsa/easyrsa"
CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")

# openssl ca's reason names, as `openssl ocsp -resp_text` prints them
REASONS = {"keyCompromise": "keyCompromise", "superseded": "superseded",
           "cessationOfOperation": "cessationOfOperation",
           "unspecified": "unspecified"}


def index_rows(path):
    """The CA's index: {serial (canonical hex): (status, revocation)}."""
    rows = {}
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                continue
            fld = line.rstrip("\n").split("\t")
            rows["%x" % int(fld[3], 16)] = (fld[0], fld[2])
    return rows


def index_time(s):
    fmt = "%y%m%d%H%M%SZ" if len(s) == 13 else "%Y%m%d%H%M%SZ"
    return datetime.datetime.strptime(s, fmt)


def ocsp_says(s, issuer, ca, serial):
    """What `openssl ocsp` reads in Revoca's signed response for SERIAL:
    (status, revocation time, reason) or None when there is none yet."""
    der = s.response(serial, issuer=issuer)
    if der is None:
        return None
    f = os.path.join(s.tmp, "resp.der")
    with open(f, "wb") as g:
        g.write(der)
    p = subprocess.run(["openssl", "ocsp", "-respin", f, "-issuer", ca,
                        "-serial", "0x" + serial, "-CAfile", ca,
                        "-resp_text"], capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    status = [l for l in out.splitlines() if l.startswith("0x")][0]
    status = status.split(":", 1)[1].strip()
    when = reason = None
    for l in out.splitlines():
        l = l.strip()
        if l.startswith("Revocation Time:"):
            when = datetime.datetime.strptime(l.split(":", 1)[1].strip(),
                                              "%b %d %H:%M:%S %Y GMT")
        if l.startswith("Reason:"):
            reason = l.split(":", 1)[1].strip()
    return status, when, reason


def expected(row):
    status, rev = row
    if status in ("V", "E"):
        return ("good", None, None)
    parts = rev.split(",")
    return ("revoked", index_time(parts[0]),
            REASONS.get(parts[1]) if len(parts) > 1 else None)


def mismatches(s, issuer, ca, index):
    bad = []
    for serial, row in index_rows(index).items():
        got = ocsp_says(s, issuer, ca, serial)
        want = expected(row)
        if got is None or got[0] != want[0] or got[1] != want[1] or \
                (want[2] is not None and got[2] != want[2]):
            bad.append((serial, row, got, want))
    return bad


def agree(s, issuer, ca, index, what):
    """Waits until every row of the CA's index is what Revoca answers."""
    wait_for(lambda: not mismatches(s, issuer, ca, index), timeout=30,
             what=what)
    assert not mismatches(s, issuer, ca, index)


def changes(follower):
    return [l for l in follower.output().splitlines()
            if l.startswith("index issuer=") and " change=" in l]


@pytest.fixture
def easy(tmp_path, pki_dir):
    pki = os.path.join(str(tmp_path), "easyrsa")
    env = dict(os.environ, EASYRSA_PKI=pki, EASYRSA_BATCH="1",
               EASYRSA_ALGO="ec", EASYRSA_CURVE="prime256v1",
               EASYRSA_CERT_RENEW="3650")

    def easyrsa(*args):
        p = subprocess.run([EASYRSA] + list(args), env=env, cwd=str(tmp_path),
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    easyrsa("init-pki")
    easyrsa("--req-cn=Easy-RSA follow CA", "build-ca", "nopass")
    pub = os.path.join(str(tmp_path), "pub")
    os.makedirs(pub)
    # revoca-crlgen publishes the issuer's CRL into pub/ (easy.crl)
    s = Stack(tmp_path, pki_dir, [{
        "name": "easy", "cert": os.path.join(pki, "ca.crt"),
        "key": os.path.join(pki, "private", "ca.key"),
        "responder_cert": os.path.join(pki, "ca.crt"),
        "responder_key": os.path.join(pki, "private", "ca.key"),
        "crl": '{ update_interval = "1s"; }'}],
        'crl = { publish_dir = "%s"; base_url = "http://127.0.0.1:8080/crl/";'
        ' lease_ttl = "3s"; claim_idle = "2s"; };' % pub)
    s.pub = pub
    yield s, pki, easyrsa
    s.close()
    shutil.rmtree(pki, ignore_errors=True)


def crl_says(s, path, fmt="DER"):
    """The entries of the CRL at PATH, checked against the CA's key:
    {serial: (revocation date, reason or None)}."""
    data = open(path, "rb").read()
    crl = (x509.load_der_x509_crl(data) if fmt == "DER"
           else x509.load_pem_x509_crl(data))
    out = {}
    for e in crl:
        try:
            reason = e.extensions.get_extension_for_class(
                x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            reason = None
        out["%x" % e.serial_number] = (e.revocation_date, reason)
    return crl, out


def revoca_crl(s, ca):
    """The CRL revoca-crlgen publishes now (--once), its signature checked
    with `openssl crl -verify` against the CA certificate."""
    p = subprocess.run([CRLGEN, "-c", s.conf, "--once"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    path = os.path.join(s.pub, "easy.crl")
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path,
                        "-CAfile", ca, "-noout"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and "verify OK" in p.stderr + p.stdout, \
        p.stdout + p.stderr
    return crl_says(s, path)[1]


def follow(s, index, n, issuer="easy", *extra):
    return Daemon([REVOCA, "-c", s.conf, "import", "--issuer", issuer,
                   "--openssl-index", index, "--follow", "--interval", "1"] +
                  list(extra),
                  os.path.join(s.tmp, "follow%d.log" % n)).start()


@pytest.mark.skipif(not os.path.exists(EASYRSA), reason="easy-rsa not installed")
def test_follow_easy_rsa(easy):
    s, pki, easyrsa = easy
    index = os.path.join(pki, "index.txt")
    ca = os.path.join(pki, "ca.crt")
    s.start_signer()
    f = follow(s, index, 1)
    followers = [f]
    try:
        wait_for(lambda: "following" in f.output(), what="follower started")
        easyrsa("build-client-full", "alice", "nopass")
        easyrsa("build-client-full", "bob", "nopass")
        agree(s, "easy", ca, index, "alice and bob issued")
        wait_for(lambda: len(changes(f)) == 2, what="two changes reported")
        assert all("change=issued" in l for l in changes(f)), changes(f)
        assert "line=1 " in changes(f)[0] and "line=2 " in changes(f)[1]
        assert stream_len(s) == 2

        easyrsa("revoke", "alice", "keyCompromise")
        agree(s, "easy", ca, index, "alice revoked")
        wait_for(lambda: len(changes(f)) == 3, what="revocation reported")
        assert "line=1 " in changes(f)[2] and "change=revoked" in changes(f)[2]
        assert stream_len(s) == 4  # issued again (idempotent) + revoked

        # renewal: a new certificate, then the old one revoked as superseded
        easyrsa("renew", "bob", "nopass")
        agree(s, "easy", ca, index, "bob renewed")
        easyrsa("revoke-renewed", "bob", "superseded")
        agree(s, "easy", ca, index, "old bob revoked")
        assert stream_len(s) == 7

        # the CA's CRL says what Revoca says
        easyrsa("gen-crl")
        crl, theirs = crl_says(s, os.path.join(pki, "crl.pem"), "PEM")
        assert len(crl) == 2
        for entry in crl:
            got = ocsp_says(s, "easy", ca, "%x" % entry.serial_number)
            assert got[0] == "revoked" and got[1] == entry.revocation_date
        # and Revoca's own CRL has exactly the CA's entries: serial,
        # revocation date, reason
        assert revoca_crl(s, ca) == theirs
        agree(s, "easy", ca, index, "after gen-crl")
        n_changes = len(changes(f))
        assert n_changes == 5, changes(f)

        # SIGTERM: stops cleanly; the CA works on meanwhile
        assert f.stop(signal.SIGTERM) == 0
        assert "follow stopped" in f.output()
        before = stream_len(s)
        easyrsa("build-client-full", "carol", "nopass")
        easyrsa("revoke", "carol", "cessationOfOperation")
        f = follow(s, index, 2)
        followers.append(f)
        agree(s, "easy", ca, index, "carol, while the follower was stopped")
        easyrsa("gen-crl")
        assert revoca_crl(s, ca) == crl_says(
            s, os.path.join(pki, "crl.pem"), "PEM")[1]
        wait_for(lambda: len(changes(f)) == 1, what="carol reported")
        # only carol's row: issued and revoked, nothing else sent again
        assert "line=4 " in changes(f)[0], changes(f)
        assert stream_len(s) == before + 2

        # SIGKILL: nothing recorded is sent again, nothing missed
        f.stop(signal.SIGKILL)
        before = stream_len(s)
        easyrsa("build-client-full", "dave", "nopass")
        f = follow(s, index, 3)
        followers.append(f)
        agree(s, "easy", ca, index, "dave, after a SIGKILL")
        wait_for(lambda: len(changes(f)) == 1, what="dave reported")
        assert "line=5 " in changes(f)[0] and "change=issued" in changes(f)[0]
        assert stream_len(s) == before + 1
        assert f.stop(signal.SIGTERM) == 0
    finally:
        for d in followers:
            if d.alive():
                d.stop()


def rows(*specs):
    return "".join("%s\t301231235959Z\t%s\t%s\tunknown\t/CN=%s\n" %
                   (st, rev, serial, serial) for st, rev, serial in specs)


def test_follow_rewrite_truncate_partial_rename(stack):
    stack.start_signer()
    idx = os.path.join(stack.tmp, "index.txt")
    with open(idx, "w") as f:
        f.write(rows(("V", "", "0A"), ("V", "", "0B")))
    d = follow(stack, idx, 1, "demo")
    try:
        wait_for(lambda: len(changes(d)) == 2, what="two rows")
        assert stream_len(stack) == 2
        # truncated and written again in place, the last row half written
        with open(idx, "w") as f:
            f.write(rows(("R", "260101000000Z,keyCompromise", "0A"),
                         ("V", "", "0B")))
            f.write("V\t301231235959Z\t\t0C\tunknown")
        wait_for(lambda: len(changes(d)) == 3, what="0a revoked")
        assert "serial=a change=revoked" in changes(d)[2]
        assert stream_len(stack) == 4
        # the half row completed: read now, once
        with open(idx, "a") as f:
            f.write("\t/CN=0C\n")
        wait_for(lambda: len(changes(d)) == 4, what="0c issued")
        assert "line=3 serial=c change=issued" in changes(d)[3]
        assert stream_len(stack) == 5
        # replaced by rename, as openssl ca does: 0b on hold
        new = idx + ".new"
        with open(new, "w") as f:
            f.write(rows(("R", "260101000000Z,keyCompromise", "0A"),
                         ("R", "260102000000Z,certificateHold", "0B"),
                         ("V", "", "0C")))
            f.write("X\tbroken row\n")
        os.rename(new, idx)
        wait_for(lambda: len(changes(d)) == 5, what="0b held")
        assert "serial=b change=held" in changes(d)[4]
        assert stream_len(stack) == 7
        assert "index.txt:4: expected tab-separated status, expiry, " \
            "revocation, serial (skipped)" in d.output(), d.output()
        # the hold lifted (removeFromCRL, as openssl ca -revoke writes it)
        with open(new, "w") as f:
            f.write(rows(("R", "260101000000Z,keyCompromise", "0A"),
                         ("R", "260103000000Z,removeFromCRL", "0B"),
                         ("V", "", "0C")))
        os.rename(new, idx)
        wait_for(lambda: len(changes(d)) == 6, what="0b released")
        assert "serial=b change=released" in changes(d)[5]
        assert stream_len(stack) == 9  # issued, release
        wait_for(lambda: stack.stored("b") is not None and
                 stack.stored("b")["status"] == "good", what="0b good")
        assert d.stop(signal.SIGTERM) == 0
        # the state records the index as sent: its size and SHA-256
        data = open(idx, "rb").read()
        keys = stack.r().keys("revoca:import:demo:index:*")
        assert len(keys) == 1
        assert stack.r().hget(keys[0], "@file") == (
            "%d %s" % (len(data), hashlib.sha256(data).hexdigest())).encode()
        assert stack.r().hget(keys[0], "b") is not None
        # restarted on the same index: nothing compared row by row or sent
        n = stream_len(stack)
        d = follow(stack, idx, 2, "demo")
        wait_for(lambda: "index issuer=demo unchanged rows=3" in d.output(),
                 what="unchanged index said")
        assert changes(d) == [] and stream_len(stack) == n
        assert d.stop(signal.SIGTERM) == 0
    finally:
        if d.alive():
            d.stop()


def write_many(path, n):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write("V\t301231235959Z\t\t%X\tunknown\t/CN=v%d\n" % (i, i))


def test_wait_returns_once_signed(stack):
    stack.start_signer()
    idx = os.path.join(stack.tmp, "index.txt")
    write_many(idx, 300)
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  "--wait", "--progress", "0")
    assert "events=300" in p.stdout and "signed=300" in p.stdout, p.stdout
    # every response is there when it returns
    r = stack.r()
    pipe = r.pipeline()
    for i in range(1, 301):
        pipe.exists("revoca:ocsp:demo:%x" % i)
    assert sum(pipe.execute()) == 300
    assert " signed=" in p.stderr  # progress lines say it too


def test_wait_fails_with_the_signer_stopped(stack):
    signer = stack.start_signer()
    wait_for(lambda: stack.r().exists("revoca:events") and
             stack.r().xinfo_groups("revoca:events"), what="signer group")
    assert signer.stop(signal.SIGTERM) == 0
    idx = os.path.join(stack.tmp, "index.txt")
    write_many(idx, 3)
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  "--wait", "--wait-timeout", "1", check=False)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "--wait: 0 of 3 events signed after 1s (is revoca-signer " \
        "running?)" in p.stderr, p.stderr
    assert stream_len(stack) == 3 + 0  # written: applied when a signer runs
    # a signer started now applies them; --wait then returns
    stack.start_signer()
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  "--wait")
    assert "signed=3" in p.stdout


def test_wait_options_refused(stack):
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", "/x",
                  "--wait-timeout", "5", check=False)
    assert p.returncode == 2 and "with --wait" in p.stderr
    p = stack.cli("import", "--issuer", "demo", "--certs", "/x", "--follow",
                  check=False)
    assert p.returncode == 2
