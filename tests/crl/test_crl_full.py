"""Full CRLs from `revoca-crlgen --once` over state written by the real
signer, checked by OpenSSL, GnuTLS, NSS and Python cryptography."""
import datetime
import os

import pytest
from cryptography import x509

from conftest import (CrlStack, cert, certtool_verify, nss_import,
                      openssl_crl_verify, openssl_verify, py_verify, to_pem)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_full_crl_verified_by_four_implementations(tmp_path, kind, pki_dir,
                                                   pki_rsa_dir):
    s = CrlStack(tmp_path, pki_dir if kind == "ec" else pki_rsa_dir)
    try:
        s.start_signer()
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        revoked = s.issue_revoke("revoked", "keyCompromise")
        s.once()
        der = s.file("demo.crl")
        issuer = s.path("issuer.pem")

        crl = py_verify(s.crl("demo.crl"), issuer)
        assert [r.serial_number for r in crl] == [revoked]
        entry = crl.get_revoked_certificate_by_serial_number(revoked)
        assert entry.extensions.get_extension_for_class(
            x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= 1
        fresh = crl.extensions.get_extension_for_class(x509.FreshestCRL)
        assert fresh.value[0].full_name[0].value == \
            "http://127.0.0.1:8080/crl/demo-delta.crl"
        assert crl.next_update - crl.last_update == datetime.timedelta(days=7)
        sig = crl.signature_algorithm_oid
        assert sig == (x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256 if kind == "ec"
                       else x509.SignatureAlgorithmOID.RSA_WITH_SHA256)

        openssl_crl_verify(der, issuer)
        pem = to_pem(der, str(tmp_path / "full.pem"))
        ok, out = openssl_verify(s.path("good.pem"), s.path("chain.pem"), [pem])
        assert ok, out
        ok, out = openssl_verify(s.path("revoked.pem"), s.path("chain.pem"), [pem])
        assert not ok and "revoked" in out, out

        info = certtool_verify(pem, issuer)
        assert ("%x" % revoked) in "".join(info.split()).replace(":", "").lower()
        listing = nss_import(der, issuer, str(tmp_path))
        assert "Revoca demo issuing CA" in listing, listing
        assert ("%x" % revoked) in "".join(listing.split()).replace(":", "").lower()
    finally:
        s.close()


def test_reason_unspecified_omitted_invalidity_date_kept(crlstack):
    s = crlstack
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
    s.cli("issue", "--issuer", "demo", "--cert", s.path("revoked.pem"))
    s.cli("revoke", "--issuer", "demo", "--cert", s.path("good.pem"),
          "--reason", "unspecified", "--wait")
    s.cli("revoke", "--issuer", "demo", "--cert", s.path("revoked.pem"),
          "--reason", "superseded", "--invalidity-date", "2024-01-02", "--wait")
    s.once()
    crl = py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
    good = crl.get_revoked_certificate_by_serial_number(cert(s.path("good.pem")).serial_number)
    rev = crl.get_revoked_certificate_by_serial_number(cert(s.path("revoked.pem")).serial_number)
    # RFC 5280 5.3.1: unspecified is expressed by leaving reasonCode out
    assert len(good.extensions) == 0
    assert rev.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.superseded
    inv = rev.extensions.get_extension_for_class(x509.InvalidityDate).value
    assert inv.invalidity_date == datetime.datetime(2024, 1, 2)


def test_empty_crl_omits_revoked_certificates(crlstack):
    s = crlstack
    s.once()
    with open(s.file("demo.crl"), "rb") as f:
        der = f.read()
    crl = py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
    assert len(crl) == 0
    # RFC 5280 5.1.2.6: absent, not an empty SEQUENCE, after nextUpdate
    nu = der.index(b"\x17\x0d", der.index(b"\x17\x0d") + 15)
    assert der[nu + 15] == 0xa0, "extensions should follow nextUpdate directly"
    openssl_crl_verify(s.file("demo.crl"), s.path("issuer.pem"))


def test_many_entries_sorted_and_numbers_increase(crlstack, tmp_path):
    import subprocess
    from conftest import SEED
    s = crlstack
    seed = subprocess.run([SEED, "--issuer", "demo", "--count", "5000"],
                          capture_output=True, check=True).stdout
    subprocess.run(["redis-cli", "-p", str(s.redis.port), "--pipe"],
                   input=seed, check=True, capture_output=True)
    s.once()
    first = s.number("demo.crl")
    crl = py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
    assert len(crl) == 5000
    s.once()
    assert s.number("demo.crl") > first
    # the file's mtime is its thisUpdate (HTTP Last-Modified, docs/crl.md)
    crl = s.crl("demo.crl")
    assert int(os.stat(s.file("demo.crl")).st_mtime) == \
        int(crl.last_update.replace(tzinfo=datetime.timezone.utc).timestamp())


def seed(s, *args):
    """Writes records with crlgen-seed (like the signer stores them);
    returns their serials."""
    import subprocess
    from conftest import SEED
    out = os.path.join(s.tmp, "serials-%d.txt" % len(os.listdir(s.tmp)))
    resp = subprocess.run([SEED, "--issuer", "demo", "--serials", out] +
                          list(args), capture_output=True, check=True).stdout
    subprocess.run(["redis-cli", "-p", str(s.redis.port), "--pipe"],
                   input=resp, check=True, capture_output=True)
    with open(out) as f:
        return sorted(int(l) for l in f if l.strip())


def test_expired_entries_dropped_after_expired_after(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir,
                 issuers=[{"name": "demo", "expired_retention": '"30d"',
                           "crl": '{ expired_after = "1h"; }'}])
    try:
        # expired 2 h ago: past expired_after, dropped; 10 min ago: kept
        seed(s, "--count", "3", "--seed", "1", "--not-after", "-7200")
        kept = seed(s, "--count", "2", "--seed", "2", "--not-after", "-600")
        s.once()
        assert s.serials("demo.crl") == kept
    finally:
        s.close()


def test_snapshot_rebuild_matches_rescan(tmp_path, pki_dir):
    """A full CRL rebuilt from the snapshot plus the change log lists
    exactly what a scan of Redis lists."""
    s = CrlStack(tmp_path, pki_dir)
    try:
        s.start_signer()
        seed(s, "--count", "2000", "--seed", "3")
        s.once()                        # scan; writes the snapshot
        assert os.path.exists(os.path.join(s.pub + ".state", "demo.snap"))
        for stem in ("good", "revoked"):
            s.cli("issue", "--issuer", "demo", "--cert", s.path(stem + ".pem"))
        s.cli("revoke", "--issuer", "demo", "--cert", s.path("revoked.pem"),
              "--reason", "superseded", "--wait")
        s.cli("hold", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
        p = s.once("-v")                # snapshot + changes
        assert "from=snapshot" in p.stderr, p.stderr
        s.cli("release", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
        s.once()
        via_snapshot = [(r.serial_number, r.revocation_date, [e.oid for e in r.extensions])
                        for r in s.crl("demo.crl")]
        s.reconf([{"name": "demo"}], {"rescan_after": '"0s"'})
        assert "from=redis" in s.once("-v").stderr
        via_scan = [(r.serial_number, r.revocation_date, [e.oid for e in r.extensions])
                    for r in s.crl("demo.crl")]
        assert via_snapshot == via_scan
        assert len(via_scan) == 2001
        assert cert(s.path("revoked.pem")).serial_number in [x[0] for x in via_scan]
    finally:
        s.close()
