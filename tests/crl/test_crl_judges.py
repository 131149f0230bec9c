"""CRLs from `revoca-crlgen --once` judged by Go's crypto/x509
(x509.ParseRevocationList + CheckSignatureFrom, tests/judges/go), beside
OpenSSL, GnuTLS, NSS and Python; Java's CRLDP reads them over nginx in
tests/nginx/test_judges.py."""
import os
import sys

import pytest
from cryptography import x509

from conftest import BASE_URL, CrlStack, cert, py_verify
from revoca_fixtures import demo_pki

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "judges"))
from judges import go_judge  # noqa: E402,F401

# RFC 5280 5.3.1 CRLReason codes
REASONS = {"keyCompromise": 1, "superseded": 4, "certificateHold": 6,
           "unspecified": None}


def stamp(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


CODES = {x509.ReasonFlags.key_compromise: 1, x509.ReasonFlags.superseded: 4,
         x509.ReasonFlags.certificate_hold: 6}


def py_listing(crl):
    """{serial hex: CRLReason code or None} as Python cryptography reads
    CRL."""
    out = {}
    for r in crl:
        try:
            reason = r.extensions.get_extension_for_class(x509.CRLReason)
            out["%x" % r.serial_number] = CODES[reason.value.reason]
        except x509.ExtensionNotFound:
            out["%x" % r.serial_number] = None
    return out


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_go_reads_full_and_delta_crls(tmp_path, kind, pki_dir, pki_rsa_dir,
                                      go_judge):
    s = CrlStack(tmp_path, pki_dir if kind == "ec" else pki_rsa_dir)
    try:
        s.start_signer()
        ca, ca_key = demo_pki.load(s.pki, "issuer")
        want = {}
        for reason in REASONS:
            leaf, key = demo_pki.make_leaf(ca, ca_key, reason + ".demo.test")
            demo_pki.save(s.pki, "go-" + reason, leaf, key)
            path = s.path("go-%s.pem" % reason)
            s.cli("issue", "--issuer", "demo", "--cert", path)
            if reason == "certificateHold":
                s.cli("hold", "--issuer", "demo", "--cert", path, "--wait")
            else:
                s.cli("revoke", "--issuer", "demo", "--cert", path,
                      "--reason", reason, "--wait")
            want["%x" % leaf.serial_number] = REASONS[reason]
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        s.once()
        issuer = s.path("issuer.pem")

        ok, v = go_judge.crl(s.file("demo.crl"), issuer)
        assert ok, "Go rejected the full CRL: %s" % v
        got = {e["serial"]: e.get("reason") for e in v["revoked"]}
        assert got == want
        full = py_verify(s.crl("demo.crl"), issuer)
        assert py_listing(full) == want
        assert v["number"] == str(full.extensions.get_extension_for_class(
            x509.CRLNumber).value.crl_number)
        assert v["this_update"] == stamp(full.last_update)
        assert v["next_update"] == stamp(full.next_update)
        assert v["issuer"] == cert(issuer).subject.rfc4514_string()
        for e in v["revoked"]:
            r = full.get_revoked_certificate_by_serial_number(
                int(e["serial"], 16))
            assert e["time"] == stamp(r.revocation_date)

        # the delta the same run wrote: what Go lists is what Python lists
        ok, v = go_judge.crl(s.file("demo-delta.crl"), issuer)
        assert ok, "Go rejected the delta CRL: %s" % v
        delta = py_verify(s.crl("demo-delta.crl"), issuer)
        assert {e["serial"]: e.get("reason") for e in v["revoked"]} == \
            py_listing(delta)
    finally:
        s.close()


def test_go_rejects_a_crl_of_another_ca(crlstack, pki_rsa_dir, go_judge):
    # the judge can fail: a CRL checked against the wrong issuer
    s = crlstack
    s.once()
    ok, v = go_judge.crl(s.file("demo.crl"),
                         os.path.join(pki_rsa_dir, "issuer.pem"))
    assert not ok and "signature" in v["error"], v


def test_go_reads_sharded_crls(tmp_path, pki_dir, go_judge):
    # one CRL per shard: each verified by Go, each serial on its shard only
    n = 4
    s = CrlStack(tmp_path, pki_dir, issuers=[{"name": "demo", "shards": n}])
    try:
        s.start_signer()
        ca, ca_key = demo_pki.load(s.pki, "issuer")
        want = {i: set() for i in range(n)}
        for k in range(8):
            serial = x509.random_serial_number()
            leaf, key = demo_pki.make_leaf(
                ca, ca_key, "s%d.demo.test" % k, serial=serial,
                crl_url="%sdemo-shard-%d.crl" % (BASE_URL, serial % n))
            demo_pki.save(s.pki, "shard%d" % k, leaf, key)
            s.cli("issue", "--issuer", "demo", "--cert",
                  s.path("shard%d.pem" % k))
            s.cli("revoke", "--issuer", "demo", "--cert",
                  s.path("shard%d.pem" % k), "--reason", "superseded",
                  "--wait")
            want[serial % n].add("%x" % serial)
        s.once()
        for i in range(n):
            ok, v = go_judge.crl(s.file("demo-shard-%d.crl" % i),
                                 s.path("issuer.pem"))
            assert ok, "Go rejected shard %d: %s" % (i, v)
            assert {e["serial"] for e in v["revoked"]} == want[i]
            assert all(e["reason"] == 4 for e in v["revoked"]), v
    finally:
        s.close()
