"""The cold path: a full CRL from a scan of the Redis hashes (HSCAN pages
decoded while they arrive, the next page requested early).  Every record
is listed once, and a record or a reply that does not decode fails the
build instead of being skipped."""
import os
import subprocess

from conftest import SEED, CrlStack, openssl_crl_verify
from test_crl_full import seed


def test_many_pages_list_every_record_once(tmp_path, pki_dir):
    # 25,000 records: three HSCAN pages of 10,000, and above the size
    # OpenSSL's own check is used for (crl_check.c)
    s = CrlStack(tmp_path, pki_dir)
    try:
        want = seed(s, "--count", "25000", "--seed", "11")
        assert len(want) == 25000
        p = s.once("-v")
        assert "from=redis" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        openssl_crl_verify(s.file("demo.crl"), s.path("issuer.pem"))
        # the connection is left clean: the change log and the delta after
        # the scan were read on it
        assert "kind=delta" in p.stderr, p.stderr
    finally:
        s.close()


def test_invalid_record_fails_the_build(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    try:
        seed(s, "--count", "20500", "--seed", "12")
        # a record that is not a CertRecord, likely on a later page
        s.r().hset("revoca:revoked:demo:0", "abc123", b"\xff\xff\xff")
        p = s.once(check=False)
        assert p.returncode == 1, p.stderr
        assert "field abc123: invalid record" in p.stderr, p.stderr
        assert not os.path.exists(s.file("demo.crl"))
        # a field that is not a canonical serial fails the same way
        s.r().hdel("revoca:revoked:demo:0", "abc123")
        s.r().hset("revoca:revoked:demo:0", "0abc",
                   s.r().hget("revoca:revoked:demo:0", "%x" % seed(
                       s, "--count", "1", "--seed", "13")[0]))
        p = s.once(check=False)
        assert p.returncode == 1, p.stderr
        assert "field 0abc: invalid record" in p.stderr, p.stderr
        s.r().hdel("revoca:revoked:demo:0", "0abc")
        s.once()
        assert len(s.serials("demo.crl")) == 20501
    finally:
        s.close()


def test_wrong_type_key_fails_the_build(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    try:
        s.r().set("revoca:revoked:demo:0", "not a hash")
        p = s.once(check=False)
        assert p.returncode == 1, p.stderr
        assert "WRONGTYPE" in p.stderr, p.stderr
        assert not os.path.exists(s.file("demo.crl"))
    finally:
        s.close()
