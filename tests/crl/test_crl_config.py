"""Configuration: the cabf profile's Baseline Requirements are enforced at
load time with a clear "FILE:LINE: problem" message, and in the content."""
import re
import subprocess

import pytest
from cryptography import x509

from conftest import CRLGEN, CrlStack, py_verify
from test_crl_full import seed


def check(s, issuers, crl=None):
    s.reconf(issuers, crl)
    return subprocess.run([CRLGEN, "-c", s.conf, "--check"],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("issuer,crl,message", [
    ({"profile": "cabf", "crl": "{ delta = true; }"}, None,
     "delta CRLs are not allowed by the cabf profile"),
    ({"profile": "cabf", "crl": '{ lifetime = "11d"; }'}, None,
     "the cabf profile allows at most 10d"),
    ({"profile": "cabf", "crl": '{ lifetime = "10d"; resign_after = "8d"; }'},
     None, "re-issues at least every 7d"),
    ({"shards": 4, "crl": '{ shard_urls = ["http://a/0.crl", "http://a/1.crl"]; }'},
     None, "shard_urls: 2 URLs for 4 shards"),
    ({"crl": '{ delta_url = "ftp://x/d.crl"; }'}, None, "is not a valid"),
    ({"crl": '{ lifetime = "1d"; resign_after = "2d"; }'}, None,
     "resign_after: must be within the lifetime"),
    ({"crl": '{ lifetime = "soon"; }'}, None, "expected a duration"),
    ({}, {"lease_ttl": '"1s"'}, "lease_ttl: must be 2s..1h"),
    ({}, {"base_url": '"http://x/crl"'}, "base_url: expected an http(s) URL"),
    # '"' would break the JSON shard list
    ({"crl": '{ delta_url = "http://x/d\\".crl"; }'}, None, "is not a valid"),
])
def test_bad_config_rejected_with_file_and_line(crlstack, issuer, crl, message):
    s = crlstack
    iss = {"name": "demo"}
    iss.update(issuer)
    p = check(s, [iss], crl)
    assert p.returncode == 2, p.stdout
    assert message in p.stderr, p.stderr
    assert re.search(r"revoca\.conf:\d+: ", p.stderr), p.stderr
    # the daemon refuses to start on it too
    d = subprocess.run([CRLGEN, "-c", s.conf, "--once"], capture_output=True,
                       text=True, timeout=30)
    assert d.returncode == 2 and message in d.stderr


def test_clashing_issuer_file_names_rejected(crlstack):
    # "demo" publishes demo-delta.crl: an issuer "demo-delta" must not
    p = check(crlstack, [{"name": "demo"}, {"name": "demo-delta"}])
    assert p.returncode == 2
    assert "demo-delta: its CRL file names clash with issuer demo" in \
        p.stderr, p.stderr
    assert check(crlstack, [{"name": "demo"},
                            {"name": "demo2"}]).returncode == 0


def test_valid_cabf_config_passes(crlstack):
    p = check(crlstack, [{"name": "demo", "profile": "cabf", "validity": '"4d"',
                          "crl": '{ lifetime = "7d"; }'}])
    assert p.returncode == 0, p.stderr


def test_cabf_content_no_hold_no_delta_br_reasons(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir,
                 issuers=[{"name": "demo", "profile": "cabf", "validity": '"4d"'}])
    try:
        revoked = seed(s, "--count", "300", "--seed", "7")
        seed(s, "--count", "5", "--seed", "8", "--hold")
        s.once()
        crl = py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
        assert [r.serial_number for r in crl] == revoked   # holds left out
        allowed = {x509.ReasonFlags.key_compromise,
                   x509.ReasonFlags.affiliation_changed,
                   x509.ReasonFlags.superseded,
                   x509.ReasonFlags.cessation_of_operation,
                   x509.ReasonFlags.privilege_withdrawn}
        for r in crl:
            for e in r.extensions:
                if isinstance(e.value, x509.CRLReason):
                    assert e.value.reason in allowed
        with pytest.raises(x509.ExtensionNotFound):
            crl.extensions.get_extension_for_class(x509.FreshestCRL)
        import os
        assert not os.path.exists(s.file("demo-delta.crl"))
        assert (crl.next_update - crl.last_update).days <= 10
    finally:
        s.close()
