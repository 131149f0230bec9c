"""revoca rebuild (issue 14 section 4) and the certificate history (section
1): a workload imported with the CLI (an OpenSSL index, then issues,
revocations with reasons and invalidity dates, holds and releases) is applied
by the real signer; every answer is saved (the OCSP responses, read with
Python cryptography and `openssl ocsp`, and the entries of the CRL
revoca-crlgen publishes, read with `openssl crl`); the store is flushed but
for the stream; `revoca rebuild` must give back the same status, reason and
times for every certificate and the same CRL entries.  Refused over live data
and with a signer running unless --force; --force converges; the history that
`revoca status` prints names each event and who sent it, and is capped."""
import getpass
import json
import os
import re
import socket
import subprocess

from cryptography.x509 import ocsp

from conftest import CrlStack, crl_group, wait_for
from revoca_fixtures import BUILD, REVOCA, Daemon, py_ocsp

ISSUER = "demo"
HISTORY_MAX = 64  # responder/history.h
AUDIT = os.path.join(BUILD, "responder", "revoca-audit")


def write_index(path, n):
    """An OpenSSL CA index: serials 1..N, every 7th revoked
    (keyCompromise), the rest valid."""
    with open(path, "w") as f:
        for i in range(1, n + 1):
            if i % 7 == 0:
                f.write("R\t301231235959Z\t260101000000Z,keyCompromise\t%X\t"
                        "unknown\t/CN=r%d\n" % (i, i))
            else:
                f.write("V\t301231235959Z\t\t%X\tunknown\t/CN=v%d\n" % (i, i))


def stream_len(s):
    return s.r().xlen("revoca:events")


def applied(s):
    """Every stream entry delivered to the signer group and acknowledged."""
    groups = {g["name"].decode(): g for g in s.r().xinfo_groups("revoca:events")}
    g = groups.get("signer")
    return (g is not None and g["pending"] == 0 and
            g["last-delivered-id"] == s.r().xinfo_stream(
                "revoca:events")["last-generated-id"])


def signers_idle(s):
    """No member of the signer group read within the last 5 s (the window
    revoca rebuild takes for a running signer, responder/rebuild.c)."""
    try:
        cons = s.r().xinfo_consumers("revoca:events", "signer")
    except Exception:
        return True
    return all(c["idle"] > 5500 for c in cons)


def workload(s):
    """Events through the CLI; returns the serials (canonical hex)."""
    idx = os.path.join(s.tmp, "index.txt")
    write_index(idx, 40)
    s.cli("import", "--issuer", ISSUER, "--openssl-index", idx)
    serials = ["%x" % i for i in range(1, 41)]

    def cli(*a):
        s.cli(*a)

    # issued through the CLI
    for i in range(0x100, 0x110):
        cli("issue", "--issuer", ISSUER, "--serial", "%x" % i,
            "--not-after", "2030-01-01", "--not-before", "2025-01-01",
            "--no-wait")
        serials.append("%x" % i)
    # revocations: reasons, times, invalidity dates
    cli("revoke", "--issuer", ISSUER, "--serial", "100", "--reason",
        "keyCompromise", "--time", "2026-03-01T10:00:00Z",
        "--invalidity-date", "2026-02-20")
    cli("revoke", "--issuer", ISSUER, "--serial", "101", "--reason",
        "superseded", "--time", "2026-03-02T11:00:00Z")
    cli("revoke", "--issuer", ISSUER, "--serial", "102", "--reason",
        "cessationOfOperation", "--time", "2026-03-03")
    # a later revocation with keyCompromise outranks (record.h)
    cli("revoke", "--issuer", ISSUER, "--serial", "103", "--reason",
        "affiliationChanged", "--time", "2026-03-04")
    cli("revoke", "--issuer", ISSUER, "--serial", "103", "--reason",
        "keyCompromise", "--time", "2026-03-05")
    # the same revocation twice
    for _ in range(2):
        cli("revoke", "--issuer", ISSUER, "--serial", "104", "--reason",
            "privilegeWithdrawn", "--time", "2026-03-06")
    # holds, releases, a hold again, a hold then a revocation
    cli("hold", "--issuer", ISSUER, "--serial", "105", "--time", "2026-04-01")
    cli("hold", "--issuer", ISSUER, "--serial", "106", "--time", "2026-04-01")
    cli("release", "--issuer", ISSUER, "--serial", "106", "--time",
        "2026-04-02")
    cli("hold", "--issuer", ISSUER, "--serial", "107", "--time", "2026-04-01")
    cli("release", "--issuer", ISSUER, "--serial", "107", "--time",
        "2026-04-02")
    cli("hold", "--issuer", ISSUER, "--serial", "107", "--time", "2026-04-03")
    cli("hold", "--issuer", ISSUER, "--serial", "108", "--time", "2026-04-01")
    cli("revoke", "--issuer", ISSUER, "--serial", "108", "--reason",
        "keyCompromise", "--time", "2026-04-05")
    # an index row revoked again through the CLI, earlier: the earlier wins
    cli("revoke", "--issuer", ISSUER, "--serial", "e", "--reason",
        "keyCompromise", "--time", "2025-12-01")
    # a serial revoked that was never reported issued
    cli("revoke", "--issuer", ISSUER, "--serial", "200", "--reason",
        "keyCompromise", "--time", "2026-03-07", "--wait")
    serials.append("200")
    wait_for(lambda: applied(s), 60, what="the signer applying the workload")
    return serials


def answers(s, serials):
    """{serial: (OCSP status, revocation time, reason)} from the stored
    responses as a client gets them, signature checked (Python
    cryptography), plus the record `revoca status --json` reads."""
    out = {}
    for serial in serials:
        der = s.response(serial, "sha1")
        st = json.loads(s.cli("status", "--issuer", ISSUER, "--serial",
                              serial, "--json").stdout)
        rec = st["record"]
        rec_key = None if rec is None else (
            rec["status"], rec.get("revocation_time"), rec.get("reason"),
            rec.get("invalidity_date"), rec.get("not_after"))
        if der is None:
            out[serial] = (None, rec_key)
            continue
        r = py_ocsp(der, s.pki)
        assert "%x" % r.serial_number == serial
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            ans = ("revoked", r.revocation_time.isoformat(),
                   r.revocation_reason.name if r.revocation_reason else None)
        else:
            ans = (r.certificate_status.name, None, None)
        out[serial] = (ans, rec_key)
    return out


def openssl_ocsp_line(s, serial):
    """`openssl ocsp` reading SERIAL's SHA-1 response: verified, and its
    status lines (status, reason, revocation time)."""
    path = os.path.join(s.tmp, "resp-%s.der" % serial)
    with open(path, "wb") as f:
        f.write(s.response(serial, "sha1"))
    p = subprocess.run(["openssl", "ocsp", "-respin", path, "-CAfile",
                        os.path.join(s.pki, "ca.pem"), "-resp_text"],
                       capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    keep = ("Cert Status:", "Revocation Time:", "Revocation Reason:")
    return [l.strip() for l in out.splitlines()
            if l.strip().startswith(keep)]


def crl_entries(s):
    """A CRL published now by revoca-crlgen --once: its entries as
    `openssl crl -text` prints them (serial, date, extensions), sorted."""
    s.once()
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                        s.file("demo.crl"), "-noout", "-text"],
                       capture_output=True, text=True, check=True)
    text = p.stdout
    assert "Revoked Certificates:" in text, text
    body = text.split("Revoked Certificates:", 1)[1].split(
        "Signature Algorithm:", 1)[0]
    entries = re.split(r"\n\s*Serial Number: ", "\n" + body.strip())
    return sorted(" ".join(e.split()) for e in entries if e.strip())


def flush_but_stream(s):
    """FLUSHALL with the stream (and its consumer groups) put back."""
    r = s.r()
    dump = r.dump("revoca:events")
    r.flushall()
    r.restore("revoca:events", 0, dump)


def rebuild(s, *extra, check=True):
    return s.cli("rebuild", "--issuer", ISSUER, *extra, check=check,
                 timeout=300)


def test_rebuild_gives_back_every_answer_and_crl(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    try:
        s.start_signer()
        serials = workload(s)
        before = answers(s, serials)
        assert before["100"][0] == ("revoked", "2026-03-01T10:00:00",
                                    "key_compromise")
        assert before["103"][0][2] == "key_compromise"
        assert before["105"][0][2] == "certificate_hold"
        assert before["106"][0][0] == "GOOD"
        assert before["7"][0] == ("revoked", "2026-01-01T00:00:00",
                                  "key_compromise")
        assert before["e"][0][1] == "2025-12-01T00:00:00"
        lines_before = {x: openssl_ocsp_line(s, x)
                        for x in ("100", "105", "107", "108", "1")}
        crl_before = crl_entries(s)
        # the re-sign schedule: every certificate with a response, once
        due_before = sorted(m for m, _ in s.r().zrange(
            "revoca:due:demo", 0, -1, withscores=True))
        assert len(due_before) == len(serials)
        # 100-104 and 108, the index's 7, e, 15, 1c, 23, the holds 105 and
        # 107, and 200 (revoked, never reported issued)
        assert len(crl_before) == 14, crl_before
        # a signer consuming the stream: refused, nothing written
        p = rebuild(s, check=False)
        assert p.returncode == 2 and "signer" in p.stderr, p.stderr
        s.signers[0].stop()
        wait_for(lambda: signers_idle(s), 30, what="the signer group idle")
        # records exist: refused unless --force, with a clear message
        p = rebuild(s, check=False)
        assert p.returncode == 2, p.stderr
        assert "live data" in p.stderr and "--force" in p.stderr, p.stderr
        n = stream_len(s)

        flush_but_stream(s)
        assert s.r().dbsize() == 1
        p = rebuild(s)
        assert "rebuild done issuer=demo" in p.stdout, p.stdout
        m = re.search(r"entries=(\d+) events=(\d+) refused=0 ", p.stdout)
        assert m and int(m.group(1)) == n and int(m.group(2)) == n, p.stdout
        assert re.search(r" rate=\d+ ", p.stdout), p.stdout
        after = answers(s, serials)
        assert after == before
        assert {x: openssl_ocsp_line(s, x) for x in lines_before} == \
            lines_before
        assert crl_entries(s) == crl_before
        assert sorted(s.r().zrange("revoca:due:demo", 0, -1)) == due_before
        # the history of a certificate, rebuilt with its senders
        h = json.loads(s.cli("status", "--issuer", ISSUER, "--serial", "107",
                             "--json").stdout)["history"]
        assert [e["kind"] for e in h] == ["issued", "hold", "release", "hold"]
        assert all(e["origin"]["via"] == "cli" for e in h)

        # over what it wrote, forced: the same again, histories not doubled
        hist = s.r().lrange("revoca:history:demo:103", 0, -1)
        p = rebuild(s, "--force")
        assert "rebuild done" in p.stdout, p.stdout
        assert answers(s, serials) == before
        assert crl_entries(s) == crl_before
        assert s.r().lrange("revoca:history:demo:103", 0, -1) != []
        assert len(s.r().lrange("revoca:history:demo:103", 0, -1)) == \
            len(hist)
        # resumed from a point (--from needs --force)
        first = s.r().xrange("revoca:events", count=50)[-1][0].decode()
        p = rebuild(s, "--from", first, check=False)
        assert p.returncode == 2 and "--force" in p.stderr
        p = rebuild(s, "--force", "--from", first)
        assert "rebuild done" in p.stdout, p.stdout
        assert answers(s, serials) == before
        # from a partial, out-of-order state (the second half applied
        # first, as a crash and a resumed run could leave it), a forced
        # run from the start converges: events commute
        flush_but_stream(s)
        middle = s.r().xrange("revoca:events")[n // 2][0].decode()
        rebuild(s, "--force", "--from", middle)
        assert answers(s, serials) != before
        p = rebuild(s, "--force")
        assert answers(s, serials) == before
        assert crl_entries(s) == crl_before
        # the signer picks up where it was: a new event is applied
        s.start_signer()
        s.cli("revoke", "--issuer", ISSUER, "--serial", "109", "--reason",
              "superseded", "--wait")
        assert answers(s, ["109"])["109"][0][0] == "revoked"
        # forced with the signer running (not the procedure, but safe: WATCH
        # and commuting events), events arriving meanwhile: nothing lost
        rb = subprocess.Popen(
            [REVOCA, "-c", s.conf, "rebuild", "--issuer", ISSUER, "--force"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        s.cli("hold", "--issuer", ISSUER, "--serial", "10a", "--time",
              "2026-06-01", "--wait")
        out, err = rb.communicate(timeout=300)
        assert rb.returncode == 0 and "rebuild done" in out, err
        wait_for(lambda: applied(s), 60, what="the signer caught up")
        final = answers(s, serials)
        assert final["10a"][0][2] == "certificate_hold"
        assert final["109"][0][0] == "revoked"
        assert {k: v for k, v in final.items() if k not in ("10a", "109")} \
            == {k: v for k, v in before.items() if k not in ("10a", "109")}
    finally:
        s.close()


def status_json(s, serial):
    return json.loads(s.cli("status", "--issuer", ISSUER, "--serial", serial,
                            "--json").stdout)


def test_history_names_events_and_senders_and_is_capped(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    try:
        s.start_signer()
        idx = os.path.join(s.tmp, "index.txt")
        write_index(idx, 7)
        s.cli("import", "--issuer", ISSUER, "--openssl-index", idx)
        s.cli("hold", "--issuer", ISSUER, "--serial", "3", "--time",
              "2026-05-01")
        s.cli("release", "--issuer", ISSUER, "--serial", "3", "--time",
              "2026-05-02")
        s.cli("revoke", "--issuer", ISSUER, "--serial", "3", "--reason",
              "cACompromise", "--time", "2026-05-03",
              "--invalidity-date", "2026-04-30", "--wait")
        st = status_json(s, "3")
        h = st["history"]
        assert [e["kind"] for e in h] == ["issued", "hold", "release",
                                          "revoked"]
        principal = "%s@%s" % (getpass.getuser(), socket.gethostname())
        assert h[0]["origin"]["via"] == "import-index"
        assert h[0]["origin"]["source"].endswith("index.txt")
        assert all(e["origin"]["principal"] == principal for e in h)
        assert [e["origin"]["via"] for e in h[1:]] == ["cli"] * 3
        assert h[1]["at"] == "2026-05-01T00:00:00Z"
        assert h[3]["reason"] == "cACompromise"
        assert h[3]["invalidity_date"] == "2026-04-30T00:00:00Z"
        assert h[0]["not_after"] == "2030-12-31T23:59:59Z"
        ids = [e["stream_id"] for e in h]
        assert ids == sorted(ids, key=lambda x: tuple(map(int, x.split("-"))))
        # no certificate DER in an entry (an issue event with --cert has one)
        leaf = s.path("good.pem")
        s.cli("issue", "--issuer", ISSUER, "--cert", leaf)
        serial = s.serial_of(leaf)
        raw = s.r().lrange("revoca:history:demo:" + serial, 0, -1)
        assert len(raw) == 1 and len(raw[0]) < 200, raw
        # the text form: when, kind, reason, by whom
        out = s.cli("status", "--issuer", ISSUER, "--serial", "3").stdout
        lines = [l for l in out.splitlines() if l.startswith("  20")]
        assert len(lines) == 4, out
        assert "revoked" in lines[3] and "reason=cACompromise" in lines[3]
        assert "via=cli principal=" + principal in lines[3]
        assert "via=import-index" in lines[0] and "source=" in lines[0]

        # capped: the newest HISTORY_MAX kept, oldest dropped
        for i in range(HISTORY_MAX + 6):
            s.cli("hold" if i % 2 == 0 else "release", "--issuer", ISSUER,
                  "--serial", "4", "--time", str(1770000000 + i),
                  *(["--wait"] if i == HISTORY_MAX + 5 else []))
        assert s.r().llen("revoca:history:demo:4") == HISTORY_MAX
        h = status_json(s, "4")["history"]
        assert len(h) == HISTORY_MAX
        assert h[-1]["kind"] == "release"
        assert h[0]["kind"] != "issued"  # the issue fell off the front
        # signer.history sets the cap; 0 writes none
        for cap in (2, 0):
            s.signers[-1].stop()
            s.signer_conf = "history = %d; " % cap
            s.reconf(s.issuers)
            s.start_signer()
            serial = "5%d" % cap
            s.cli("issue", "--issuer", ISSUER, "--serial", serial,
                  "--not-after", "2030-01-01")
            s.cli("hold", "--issuer", ISSUER, "--serial", serial)
            s.cli("release", "--issuer", ISSUER, "--serial", serial, "--wait")
            key = "revoca:history:demo:" + serial
            assert s.r().llen(key) == cap, (cap, s.r().lrange(key, 0, -1))
        # an entry that is no HistoryEntry is named and skipped
        s.r().rpush("revoca:history:demo:3", b"\xff\x00junk")
        p = s.cli("status", "--issuer", ISSUER, "--serial", "3")
        assert "entry 4 skipped" in p.stderr, p.stderr
        assert len([l for l in p.stdout.splitlines()
                    if l.startswith("  20")]) == 4
    finally:
        s.close()


def test_rebuild_reads_the_archive_then_the_stream(tmp_path, pki_dir):
    """Events revoca-audit archived and trimmed from the stream come back
    from its segments: rebuilt from archive + stream, the store gives the
    same answers and CRL entries as before, each event applied once."""
    s = CrlStack(tmp_path, pki_dir)
    try:
        ar = os.path.join(s.tmp, "archive")
        os.makedirs(ar)
        s.write_conf(s.issuers, crl_group(s.pub) + (
            'audit = { key = "%s"; cert = "%s"; archive_dir = "%s"; '
            'archive_after = "0s"; archive_interval = "1s"; '
            'segment_events = 16; };\n'
            % (s.path("responder.key"), s.path("responder.pem"), ar)))
        s.start_signer()
        serials = workload(s)
        before = answers(s, serials)
        crl_before = crl_entries(s)
        n = stream_len(s)
        audit = Daemon([AUDIT, "-c", s.conf, "-v"],
                       os.path.join(s.tmp, "audit.log")).start()
        # every consumer group has acknowledged everything: all archived,
        # the stream trimmed to what is left after the last segment
        wait_for(lambda: stream_len(s) < n // 2, 60,
                 what="the archiver trimming the stream")
        assert audit.stop() == 0
        left = stream_len(s)
        assert os.listdir(ar), "no segment written"
        s.signers[0].stop()
        wait_for(lambda: signers_idle(s), 30, what="the signer group idle")

        flush_but_stream(s)
        assert s.r().xlen("revoca:events") == left
        p = rebuild(s)
        assert "rebuild done issuer=demo" in p.stdout, p.stdout
        m = re.search(r"entries=(\d+) events=(\d+) refused=0 ", p.stdout)
        assert m and int(m.group(1)) == n and int(m.group(2)) == n, p.stdout
        assert answers(s, serials) == before
        assert crl_entries(s) == crl_before
        # a segment changed: the rebuild stops and names it
        seg = os.path.join(ar, sorted(os.listdir(ar))[0])
        with open(seg, "r+b") as f:
            f.seek(60)
            b = f.read(1)
            f.seek(60)
            f.write(bytes([b[0] ^ 1]))
        p = rebuild(s, "--force", check=False)
        assert p.returncode != 0 and os.path.basename(seg) in p.stderr, \
            p.stdout + p.stderr
    finally:
        s.close()
