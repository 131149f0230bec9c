"""A record the signer never writes (an unknown status, reason 99, a hold
without a time) is never listed wrong on a CRL: the build that meets it
fails with one log line naming the key, the field and the reason
ocsp_record_decode() gives, the CRL published before stays, and once the
record is repaired the next CRL lists it right.  A CRL missing a revoked
serial is worse than no new CRL."""
import shutil
import time

import pytest
from cryptography import x509

from conftest import py_verify, wait_for
from revoca_fixtures import raw_cert_record

HASH = "revoca:revoked:demo:0"
LOG = "revoca:revlog:demo:0"
CHANGES = "revoca:changes:demo"
BAD = "abcdef12"
T = 1767225600  # 2026-01-01


def write(s, serial, value, change=False):
    """As the signer writes a record: the hash, its log and, with CHANGE,
    the change log the delta CRL reads."""
    with s.r().pipeline(transaction=True) as p:
        p.hset(HASH, serial, value)
        p.append(LOG, bytes([ord("A"), len(serial), len(value) >> 8,
                             len(value) & 0xFF]) + serial.encode() + value)
        if change:
            p.zadd(CHANGES, {serial: int(time.time() * 1000)})
        p.execute()


def rec(status, revocation_time, reason):
    """BAD's record, valid for ten years from T."""
    return raw_cert_record(BAD, status, not_after=T + 10 * 86400 * 365,
                           revocation_time=revocation_time, reason=reason,
                           not_before=T - 86400)


INVALID = [
    ("unknown status", rec(5, T, 1)),
    ("revoked without a time or with an invalid reason",
     rec(1, T, 99)),
    ("held without a time or with a reason not certificateHold",
     rec(2, None, 6)),
]
REPAIRED = rec(1, T, 1)


def line(why):
    return "%s: field %s: invalid record (%s)" % (HASH, BAD, why)


def check_repaired(crl, issuer, revoked):
    py_verify(crl, issuer)
    assert sorted(r.serial_number for r in crl) == sorted([revoked, int(BAD, 16)])
    e = crl.get_revoked_certificate_by_serial_number(int(BAD, 16))
    assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason \
        == x509.ReasonFlags.key_compromise


@pytest.mark.parametrize("why,value", INVALID, ids=["status5", "reason99",
                                                     "hold-no-time"])
def test_invalid_record_fails_full_crl_until_repaired(crlstack, why, value):
    s = crlstack
    revoked = s.issue_revoke("revoked")
    s.once()
    with open(s.file("demo.crl"), "rb") as f:
        before = f.read()

    write(s, BAD, value, change=True)
    # no snapshot: the entries are read from Redis, not only the changes
    shutil.rmtree(s.pub + ".state")
    p = s.once("-v", check=False)
    assert p.returncode == 1, p.stderr
    # the log's replay meets it first and gives way to the scan, which
    # names it: one line with the key, the field and the reason
    assert "revoked log not used" in p.stderr, p.stderr
    assert p.stderr.count(line(why)) == 1, p.stderr
    assert "refusing to build a CRL without it" in p.stderr, p.stderr
    with open(s.file("demo.crl"), "rb") as f:
        assert f.read() == before

    write(s, BAD, REPAIRED, change=True)
    s.once()
    crl = s.crl("demo.crl")
    check_repaired(crl, s.path("issuer.pem"), revoked)
    assert s.number("demo.crl") > x509.load_der_x509_crl(before).extensions \
        .get_extension_for_class(x509.CRLNumber).value.crl_number


def test_invalid_record_fails_delta_logged_once_until_repaired(crlstack):
    s = crlstack
    revoked = s.issue_revoke("revoked")
    g = s.start_crlgen()
    wait_for(lambda: s.number("demo-delta.crl") > 0, what="first delta")
    with open(s.file("demo.crl"), "rb") as f:
        full = f.read()
    with open(s.file("demo-delta.crl"), "rb") as f:
        delta = f.read()

    why, value = INVALID[1]
    write(s, BAD, value, change=True)
    wait_for(lambda: line(why) in g.output(), what="the invalid record logged")
    # retried with backoff, each retry at debug level only: the error is
    # logged once per interval, not once per retry
    wait_for(lambda: g.output().count("failed again issuer=demo") >= 2,
             timeout=30, what="two retries")
    out = g.output()
    assert out.count(line(why)) == 1, out
    with open(s.file("demo.crl"), "rb") as f:
        assert f.read() == full
    with open(s.file("demo-delta.crl"), "rb") as f:
        assert f.read() == delta

    write(s, BAD, REPAIRED, change=True)
    wait_for(lambda: "recovered issuer=demo" in g.output(), what="recovery")
    wait_for(lambda: int(BAD, 16) in s.serials("demo-delta.crl"),
             what="the repaired record on the delta")
    e = s.crl("demo-delta.crl").get_revoked_certificate_by_serial_number(
        int(BAD, 16))
    assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason \
        == x509.ReasonFlags.key_compromise
    assert revoked in s.serials("demo.crl")
