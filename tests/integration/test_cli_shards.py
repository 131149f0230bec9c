"""A certificate's CRL shard comes from its cRLDistributionPoints (shard.h):
`revoca issue --cert` and `revoca import --certs` put it where the CRL its
clients read will list it, and refuse a --shard or a distribution point that
disagrees, writing nothing.  Without a certificate (`--serial`), the serial
modulo the shard count is assumed (docs/crl.md)."""
import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import demo_pki
from revoca_fixtures import Stack, wait_for

N = 4
BASE = "http://127.0.0.1:8080/crl/"
CRL = 'crl = { publish_dir = "pub"; base_url = "%s"; };' % BASE


def shard_url(i):
    return "%sdemo-shard-%d.crl" % (BASE, i)


def stream_len(s):
    return s.r().xlen("revoca:events") if s.r().exists("revoca:events") else 0


def leaf(s, name, crl_url, serial=None, subdir=""):
    """A leaf of the demo issuer with CRL_URL (None: no CDP) in a file."""
    ca, ca_key = demo_pki.load(s.pki, "issuer")
    serial = serial or x509.random_serial_number()
    cert, _ = demo_pki.make_leaf(ca, ca_key, name + ".demo.test",
                                 serial=serial, crl_url=crl_url)
    path = os.path.join(s.tmp, subdir, name + ".pem")
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path, serial


def off_modulo_leaf(s, name, d=1, subdir=""):
    """A leaf whose CDP is shard (serial + d) % N, never serial % N: the old
    serial-modulo guess puts it on a CRL its clients never read."""
    serial = x509.random_serial_number()
    return leaf(s, name, shard_url((serial + d) % N), serial, subdir)


def revoked_in(s, serial):
    """The shards whose revoked hash lists SERIAL."""
    return [i for i in range(N)
            if s.r().hexists("revoca:revoked:demo:%d" % i, "%x" % serial)]


def sharded(tmp_path, pki_dir, issuer=None):
    iss = {"name": "demo", "shards": N}
    iss.update(issuer or {})
    return Stack(tmp_path, pki_dir, [iss], extra=CRL)


def test_issue_cert_lands_in_its_cdp_shard(tmp_path, pki_dir):
    s = sharded(tmp_path, pki_dir)
    try:
        s.start_signer()
        path, serial = off_modulo_leaf(s, "a")
        s.cli("issue", "--issuer", "demo", "--cert", path)
        # the --shard that agrees with the CDP is accepted too
        path2, serial2 = off_modulo_leaf(s, "b", 2)
        s.cli("issue", "--issuer", "demo", "--cert", path2, "--shard",
              str((serial2 + 2) % N))
        # no CDP: no CRL client reads a CRL for it, the serial decides
        path3, serial3 = leaf(s, "c", None)
        s.cli("issue", "--issuer", "demo", "--cert", path3)
        for p in (path, path2, path3):
            s.cli("revoke", "--issuer", "demo", "--cert", p, "--wait")
        assert revoked_in(s, serial) == [(serial + 1) % N]
        assert revoked_in(s, serial2) == [(serial2 + 2) % N]
        assert revoked_in(s, serial3) == [serial3 % N]
    finally:
        s.close()


def test_issue_shard_mismatch_refused(tmp_path, pki_dir):
    s = sharded(tmp_path, pki_dir)
    try:
        path, serial = off_modulo_leaf(s, "a")
        right = (serial + 1) % N
        wrong = (right + 1) % N
        p = s.cli("issue", "--issuer", "demo", "--cert", path, "--shard",
                  str(wrong), check=False)
        assert p.returncode == 2, p.stderr
        assert path in p.stderr and shard_url(right) in p.stderr, p.stderr
        assert "shard %d was given" % wrong in p.stderr, p.stderr
        assert stream_len(s) == 0
    finally:
        s.close()


def test_issue_cdp_of_no_shard_refused(tmp_path, pki_dir):
    s = sharded(tmp_path, pki_dir)
    try:
        for url in ("http://elsewhere.example/demo-shard-1.crl",
                    BASE + "demo-shard-%d.crl" % N):
            path, _ = leaf(s, "stray", url)
            p = s.cli("issue", "--issuer", "demo", "--cert", path,
                      check=False)
            assert p.returncode == 2, p.stderr
            assert path in p.stderr and url in p.stderr, p.stderr
            assert "no CRL of issuer demo" in p.stderr, p.stderr
        assert stream_len(s) == 0
    finally:
        s.close()


def test_one_shard_checks_the_cdp_only_when_a_url_is_configured(tmp_path,
                                                                pki_dir):
    s = Stack(tmp_path, pki_dir, [{"name": "demo"}], extra=CRL)
    try:
        ok, _ = leaf(s, "ok", BASE + "demo.crl")
        stray, _ = leaf(s, "stray", "http://elsewhere.example/demo.crl")
        s.cli("issue", "--issuer", "demo", "--cert", ok, "--no-wait")
        p = s.cli("issue", "--issuer", "demo", "--cert", stray, check=False)
        assert p.returncode == 2 and "elsewhere.example" in p.stderr, p.stderr
        assert stream_len(s) == 1
        # one shard and no URL configured: shard 0, no check
        s.write_conf([{"name": "demo"}])
        s.cli("issue", "--issuer", "demo", "--cert", stray, "--no-wait")
        assert stream_len(s) == 2
    finally:
        s.close()


def test_sharded_issuer_with_only_a_full_url(tmp_path, pki_dir):
    full = BASE + "everything.crl"
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "shards": N,
                                   "crl": '{ url = "%s"; }' % full}])
    try:
        path, _ = leaf(s, "a", shard_url(1))
        p = s.cli("issue", "--issuer", "demo", "--cert", path, check=False)
        assert p.returncode == 2 and "no shard URLs" in p.stderr, p.stderr
        assert stream_len(s) == 0
        ok, _ = leaf(s, "b", full)
        s.cli("issue", "--issuer", "demo", "--cert", ok, "--no-wait")
        assert stream_len(s) == 1
    finally:
        s.close()


def test_no_crl_url_known_no_check(tmp_path, pki_dir):
    # no base_url: nothing to check against; an issuer without a CA key has
    # no CRL of ours, so base_url says nothing about it either
    for issuer, extra in (({"name": "demo", "shards": N}, ""),
                          ({"name": "demo", "shards": N, "key": None}, CRL)):
        s = Stack(tmp_path / ("k" if extra else "n"), pki_dir, [issuer],
                  extra=extra)
        try:
            path, serial = leaf(s, "a", "http://elsewhere.example/x.crl")
            s.cli("issue", "--issuer", "demo", "--cert", path, "--no-wait")
            s.cli("issue", "--issuer", "demo", "--cert", path, "--no-wait",
                  "--shard", "2")
            assert stream_len(s) == 2
        finally:
            s.close()


def test_import_certs_uses_and_checks_the_cdp(tmp_path, pki_dir):
    s = sharded(tmp_path, pki_dir)
    try:
        d = os.path.join(s.tmp, "certs")
        os.makedirs(d)
        good = []
        for k in range(3):
            path, serial = off_modulo_leaf(s, "g%d" % k, 1 + k % 3, "certs")
            good.append((serial, (serial + 1 + k % 3) % N))
        bad, _ = leaf(s, "z-stray", "http://elsewhere.example/x.crl",
                      subdir="certs")
        p = s.cli("import", "--issuer", "demo", "--certs", d, check=False)
        assert p.returncode == 2, p.stderr
        assert bad in p.stderr and "elsewhere.example/x.crl" in p.stderr
        assert stream_len(s) == 0  # not even the good certificates

        os.unlink(bad)
        s.start_signer()
        s.cli("import", "--issuer", "demo", "--certs", d)
        for serial, _ in good:
            s.cli("revoke", "--issuer", "demo", "--serial", "%x" % serial,
                  "--wait")
        for serial, shard in good:
            wait_for(lambda: revoked_in(s, serial), what="revoked")
            assert revoked_in(s, serial) == [shard]
    finally:
        s.close()


def test_serial_only_issue_assumes_serial_modulo(tmp_path, pki_dir):
    s = sharded(tmp_path, pki_dir)
    try:
        s.start_signer()
        serial = 0x1234567
        s.cli("issue", "--issuer", "demo", "--serial", "%x" % serial,
              "--not-after", "2099-01-01")
        s.cli("issue", "--issuer", "demo", "--serial", "%x" % (serial + 1),
              "--not-after", "2099-01-01", "--shard", "0")
        for sr in (serial, serial + 1):
            s.cli("revoke", "--issuer", "demo", "--serial", "%x" % sr,
                  "--wait")
        assert revoked_in(s, serial) == [serial % N]
        assert revoked_in(s, serial + 1) == [0]
        for bad in ("", "x", "4", "-1", "4294967296"):
            p = s.cli("issue", "--issuer", "demo", "--serial", "99",
                      "--not-after", "2099-01-01", "--shard", bad,
                      check=False)
            assert p.returncode == 2 and "--shard" in p.stderr, (bad, p.stderr)
    finally:
        s.close()
