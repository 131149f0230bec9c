"""revoca inventory (issue 14 section 5) against a real redis-server and a
real revoca-signer: certificates issued with and without their DER (the
subject shown only when the certificate was reported), revoked, held,
released and expired; every format parsed by Python's own csv and json;
each filter and --expiring-within's boundaries; bad flags; and the signer's
inventory metrics matching the store."""
import csv
import io
import json
import os
import subprocess
import time

import pytest

from revoca_fixtures import REVOCA, SIGNER, Daemon, Stack, cert, wait_for
from test_signer_metrics import Metrics, val

import demo_pki  # deploy/ is on sys.path through revoca_fixtures

DAY = 86400


def inv(stack, *args, check=True):
    return stack.cli("inventory", "--issuer", "demo", *args, check=check)


def inv_csv(stack, *args):
    """The CSV output as it is written (text mode would turn CRLF into LF)."""
    p = subprocess.run([REVOCA, "-c", stack.conf, "inventory", "--issuer",
                        "demo", "--format", "csv"] + list(args),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode("ascii")


def rows_json(stack, *args):
    p = inv(stack, "--format", "json", *args)
    doc = json.loads(p.stdout)
    assert isinstance(doc, list)
    return {r["serial"]: r for r in doc}


def leaf(stack, stem, cn, org="Revoca demo", days=90):
    """A certificate of the demo issuer, written to pki/STEM.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime
    ca, ca_key = demo_pki.load(stack.pki, "issuer")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow().replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    c = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(ca.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=days))
         .sign(ca_key, hashes.SHA256()))
    demo_pki.save(stack.pki, stem, c, key)
    return stack.path(stem + ".pem")


@pytest.fixture
def inv_stack(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir,
              signer='metrics_interval = "1s"; inventory_interval = "1s"; ')
    s.start_signer()
    yield s
    s.close()


def populate(s):
    """The store of the tests: returns {name: serial} and the times."""
    now = int(time.time())
    ser = {}
    # with the certificate: its subject is kept
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
    ser["cert"] = s.serial_of(s.path("good.pem"))
    # a subject with a quote and commas (CSV quoting), non-ASCII escaped
    odd = leaf(s, "odd", 'host "a", b.test', org="Zoë, Inc.")
    s.cli("issue", "--issuer", "demo", "--cert", odd)
    ser["odd"] = s.serial_of(odd)
    # a subject longer than the record keeps: cut, ending in "..."
    long_ = leaf(s, "long", "c" * 64, org="o" * 64)
    s.cli("issue", "--issuer", "demo", "--cert", long_)
    ser["long"] = s.serial_of(long_)
    # without: no subject
    for name, serial, after in (("plain", "a1", now + 30 * DAY),
                                ("in1d", "a2", now + DAY - 600),
                                ("in2d", "a3", now + DAY + 3600),
                                ("in7d", "a4", now + 7 * DAY - 600),
                                ("revoked", "a5", now + 3 * DAY),
                                ("held", "a6", now + 3 * DAY),
                                ("released", "a7", now + 3 * DAY)):
        s.cli("issue", "--issuer", "demo", "--serial", serial,
              "--not-after", str(after))
        ser[name] = serial
    s.cli("revoke", "--issuer", "demo", "--serial", "a5", "--reason",
          "keyCompromise", "--wait")
    s.cli("hold", "--issuer", "demo", "--serial", "a6", "--wait")
    s.cli("hold", "--issuer", "demo", "--serial", "a7", "--wait")
    s.cli("release", "--issuer", "demo", "--serial", "a7", "--wait")
    # revoked without ever being issued: unknown to an operator's eye?
    # No: revoked is final, so it lists as revoked, with no validity
    s.cli("revoke", "--issuer", "demo", "--serial", "b1", "--wait")
    ser["rev_unissued"] = "b1"
    # released without ever being issued: unknown
    s.cli("release", "--issuer", "demo", "--serial", "b2", "--wait")
    ser["unknown"] = "b2"
    # expires in 3 s, then waited out (kept: expired_retention)
    exp_at = int(time.time()) + 3
    s.cli("issue", "--issuer", "demo", "--serial", "a8", "--not-after",
          str(exp_at))
    ser["expired"] = "a8"
    wait_for(lambda: time.time() > exp_at + 1, timeout=10,
             what="a8 past its notAfter")
    return ser


EXPECT = {"cert": "good", "odd": "good", "long": "good", "plain": "good",
          "in1d": "good", "in2d": "good", "in7d": "good",
          "revoked": "revoked", "held": "held", "released": "good",
          "rev_unissued": "revoked", "unknown": "unknown",
          "expired": "expired"}


def test_inventory_formats_filters_and_metrics(inv_stack, tmp_path):
    s = inv_stack
    ser = populate(s)
    rows = rows_json(s)
    assert set(rows) == set(ser.values()), rows
    for name, serial in ser.items():
        assert rows[serial]["status"] == EXPECT[name], (name, rows[serial])
        assert rows[serial]["shard"] == 0
    # the subject only where the certificate was reported, RFC 4514 text
    good = cert(s.path("good.pem"))
    assert rows[ser["cert"]]["subject"] == good.subject.rfc4514_string()
    assert rows[ser["cert"]]["not_after"] == \
        good.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows[ser["cert"]]["not_before"] == \
        good.not_valid_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows[ser["odd"]]["subject"] == \
        'CN=host \\"a\\"\\, b.test,O=Zo\\C3\\AB\\, Inc.'
    long_subject = rows[ser["long"]]["subject"]
    assert len(long_subject) == 128 and long_subject.endswith("...")
    assert long_subject.startswith("CN=" + "c" * 64 + ",O=ooo")
    for name in ("plain", "in1d", "revoked", "unknown", "expired"):
        assert rows[ser[name]]["subject"] is None, name
    assert rows[ser["unknown"]]["not_after"] is None
    assert rows[ser["rev_unissued"]]["not_after"] is None

    # CSV: the same rows, RFC 4180 (CRLF, quoted fields), read by csv
    out = inv_csv(s)
    assert out.startswith(
        "serial,status,not_before,not_after,shard,subject\r\n")
    assert all(line.endswith("\r") for line in out.split("\n")[:-1])
    got = list(csv.DictReader(io.StringIO(out, newline="")))
    assert len(got) == len(rows)
    for r in got:
        j = rows[r["serial"]]
        assert r["status"] == j["status"]
        assert r["subject"] == (j["subject"] or "")
        assert r["not_after"] == (j["not_after"] or "")
        assert int(r["shard"]) == j["shard"]
    assert '"CN=host \\""a\\""\\, b.test,O=Zo\\C3\\AB\\, Inc."' in out

    # table: a header and one line per certificate
    p = inv(s)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["SERIAL", "STATUS", "NOT_BEFORE", "NOT_AFTER",
                                "SHARD", "SUBJECT"]
    assert len(lines) == 1 + len(rows)
    by_serial = {line.split()[0]: line for line in lines[1:]}
    assert by_serial[ser["cert"]].split()[1] == "good"
    assert by_serial[ser["cert"]].endswith(good.subject.rfc4514_string())
    assert by_serial["a5"].split()[1:2] == ["revoked"]

    # --status, one, a list, repeated
    def serials(*args):
        return set(rows_json(s, *args))
    assert serials("--status", "revoked") == {"a5", "b1"}
    assert serials("--status", "held") == {"a6"}
    assert serials("--status", "expired") == {"a8"}
    assert serials("--status", "unknown") == {"b2"}
    assert serials("--status", "held,expired") == {"a6", "a8"}
    assert serials("--status", "held", "--status", "revoked") == \
        {"a6", "a5", "b1"}
    live = {ser[n] for n, st in EXPECT.items() if st == "good"}
    assert serials("--status", "good") == live
    # --expiring-within: notAfter within [now, now + D]; expired ones never
    assert serials("--expiring-within", "1d") == {"a2"}
    assert serials("--expiring-within", "23h") == set()
    assert serials("--expiring-within", "86400") == {"a2"}
    assert serials("--expiring-within", "2d") == {"a2", "a3"}
    assert serials("--expiring-within", "7d") == \
        {"a2", "a3", "a4", "a5", "a6", "a7"}
    assert serials("--expiring-within", "7d", "--status", "good") == \
        {"a2", "a3", "a4", "a7"}
    assert serials("--expiring-within", "6d", "--status", "good") == \
        {"a2", "a3", "a7"}
    assert serials("--expiring-within", "7d", "--status", "held") == {"a6"}
    # an empty result is still a document
    p = inv(s, "--format", "json", "--expiring-within", "1m")
    assert json.loads(p.stdout) == []
    assert inv_csv(s, "--status", "held", "--expiring-within", "1m") == \
        "serial,status,not_before,not_after,shard,subject\r\n"

    # the signer's metrics: what the store holds, as the CLI lists it
    m = Metrics(os.path.join(s.tmp, "inv.prom"))
    d = Daemon([SIGNER, "-c", s.conf, "-v", "--metrics-file", m.path],
               os.path.join(s.tmp, "signer-metrics.log")).start()
    s.signers.append(d)

    def counted(mm):
        return val(mm, "revoca_signer_inventory_walk_completed_seconds") > 0
    mm = m.wait(counted, "an inventory walk")
    want = {st: len(serials("--status", st))
            for st in ("good", "revoked", "held", "expired", "unknown")}
    assert want == {"good": 8, "revoked": 2, "held": 1, "expired": 1,
                    "unknown": 1}
    for st, n in want.items():
        assert val(mm, "revoca_signer_inventory_certificates",
                   issuer="demo", status=st) == n, st
    assert val(mm, "revoca_signer_inventory_expiring_certificates",
               issuer="demo", within="1d") == 1
    assert val(mm, "revoca_signer_inventory_expiring_certificates",
               issuer="demo", within="7d") == 4
    assert val(mm, "revoca_signer_inventory_invalid_records",
               issuer="demo") == 0
    # a change is counted by the next walk
    s.cli("revoke", "--issuer", "demo", "--serial", "a2", "--wait")

    def recounted(mm):
        return val(mm, "revoca_signer_inventory_certificates",
                   issuer="demo", status="revoked") == 3
    mm = m.wait(recounted, "the revocation counted")
    assert val(mm, "revoca_signer_inventory_certificates", issuer="demo",
               status="good") == 7
    assert val(mm, "revoca_signer_inventory_expiring_certificates",
               issuer="demo", within="1d") == 0
    assert val(mm, "revoca_signer_inventory_expiring_certificates",
               issuer="demo", within="7d") == 3


def test_inventory_invalid_record_named_and_counted(inv_stack):
    s = inv_stack
    s.cli("issue", "--issuer", "demo", "--serial", "c1", "--not-after",
          str(int(time.time()) + 30 * DAY))
    s.r().set("revoca:cert:demo:c2", b"\xff\xff")
    p = inv(s, "--format", "json", check=False)
    assert p.returncode == 1
    assert "revoca:cert:demo:c2" in p.stderr and "invalid" in p.stderr
    assert [r["serial"] for r in json.loads(p.stdout)] == ["c1"]


def test_inventory_subject_from_import_certs(inv_stack, tmp_path):
    """import --certs reports each certificate's DER: subjects kept; an
    issue of the same certificate by serial later (same notAfter) keeps the
    subject, a reissue with a later notAfter and no certificate drops it."""
    import shutil
    s = inv_stack
    d = tmp_path / "certs"
    d.mkdir()
    shutil.copy(s.path("revoked.pem"), d / "revoked.pem")
    s.cli("import", "--issuer", "demo", "--certs", str(d))
    serial = s.serial_of(s.path("revoked.pem"))
    c = cert(s.path("revoked.pem"))

    def subject():
        rows = rows_json(s)
        return rows[serial]["subject"] if serial in rows else "(none)"
    wait_for(lambda: subject() == c.subject.rfc4514_string(), timeout=20,
             what="the imported certificate's subject")
    after = int(c.not_valid_after.timestamp())
    s.cli("issue", "--issuer", "demo", "--serial", serial, "--not-after",
          str(after))
    assert subject() == c.subject.rfc4514_string()
    s.cli("issue", "--issuer", "demo", "--serial", serial, "--not-after",
          str(after + DAY))
    assert subject() is None


def _pb_bytes(field, data):
    from revoca_fixtures import varint
    return varint(field << 3 | 2) + varint(len(data)) + data


def _pb_int(field, v):
    from revoca_fixtures import varint
    return varint(field << 3) + varint(v)


def issue_event(serial, not_after, der, eid):
    """An Event (feeds/revocation.proto) of kind issued, encoded by hand, as
    an ingest client or another writer could send it."""
    issued = _pb_int(1, int(time.time()) - DAY) + _pb_int(2, not_after) + \
        _pb_bytes(4, der)
    return (_pb_bytes(1, eid.encode()) + _pb_bytes(2, b"demo") +
            _pb_bytes(3, serial.encode()) + _pb_int(4, int(time.time())) +
            _pb_bytes(5, issued))


def test_inventory_certificate_of_another_serial_ignored(inv_stack):
    """The signer keeps a subject only from a certificate of the event's own
    serial and issuer: the issuance is applied, the subject is not, and the
    warning names the record."""
    from cryptography.hazmat.primitives.serialization import Encoding
    s = inv_stack
    der = cert(s.path("good.pem")).public_bytes(Encoding.DER)
    after = int(time.time()) + 30 * DAY
    r = s.r()
    r.xadd("revoca:events", {"e": issue_event("dd", after, der, "ev-dd")})
    r.xadd("revoca:events", {"e": issue_event("de", after, b"\x30\x03junk",
                                              "ev-de")})
    wait_for(lambda: {"dd", "de"} <= set(rows_json(s)), timeout=20,
             what="both issuances applied")
    rows = rows_json(s)
    assert rows["dd"]["subject"] is None and rows["de"]["subject"] is None
    assert rows["dd"]["status"] == "good"
    log = s.signers[0].output()
    assert "certificate of issue event ignored key=revoca:cert:demo:dd " \
        "id=ev-dd" in log, log
    assert "key=revoca:cert:demo:de id=ev-de" in log


def test_inventory_many_pages(inv_stack):
    """More records than one SCAN page, and other issuers' and other kinds'
    keys beside them: each record of the issuer listed exactly once."""
    s = inv_stack
    r = s.r()
    n = 2500
    after = int(time.time()) + 30 * DAY
    from revoca_fixtures import raw_cert_record
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        serial = "%x" % (0x100000 + i)
        pipe.set("revoca:cert:demo:" + serial,
                 raw_cert_record(serial, 0, not_after=after))
        pipe.set("revoca:cert:demo2:" + serial,
                 raw_cert_record(serial, 0, not_after=after))
    pipe.execute()
    doc = json.loads(inv(s, "--format", "json").stdout)
    got = [row["serial"] for row in doc]
    assert len(got) == len(set(got)) == n
    assert {row["status"] for row in doc} == {"good"}


@pytest.mark.parametrize("args,word", [
    (["--expiring-within", "7x"], "--expiring-within 7x"),
    (["--expiring-within", "0"], "--expiring-within 0"),
    (["--expiring-within", "-1d"], "--expiring-within -1d"),
    (["--expiring-within", "d"], "--expiring-within d"),
    (["--expiring-within", "3651d"], "--expiring-within 3651d"),
    (["--expiring-within", "1d2"], "--expiring-within 1d2"),
    (["--status", "live"], "--status live"),
    (["--status", "good,"], "--status good,"),
    (["--format", "xml"], "--format xml"),
    (["--serial", "a1"], "--serial"),
    (["--expiring-within"], "--expiring-within"),
    (["extra"], "unexpected argument"),
])
def test_inventory_bad_flags(stack, args, word):
    p = stack.cli("inventory", "--issuer", "demo", *args, check=False)
    assert p.returncode == 2, p.stderr
    assert word in p.stderr, p.stderr
    assert p.stdout == ""


def test_inventory_needs_a_known_issuer(stack):
    p = stack.cli("inventory", check=False)
    assert p.returncode == 2 and "--issuer" in p.stderr
    p = stack.cli("inventory", "--issuer", "nope", check=False)
    assert p.returncode == 2 and "nope" in p.stderr
    p = stack.cli("inventory", "--help", check=False)
    assert p.returncode == 0 and "--expiring-within" in p.stdout
