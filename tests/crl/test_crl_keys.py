"""revoca-crlgen refuses a misspelled key with file, line and key, at the
top level, in an issuer, in its crl group and in an issuer's crl group
(the CLI and the signer: tests/integration/test_config_keys.py)."""
import re
import subprocess

import pytest

from conftest import CRLGEN, CrlStack

TYPOS = [
    ("top", 'prefix = "revoca";', 'prefx = "revoca";', "prefx"),
    ("issuer", 'validity = "1d";', 'valdity = "1d";', "valdity"),
    ("crl", 'lease_ttl = "3s";', 'lease_tll = "3s";', "lease_tll"),
    ("issuer crl", 'update_interval = "1s";', 'update_intreval = "1s";',
     "update_intreval"),
]


@pytest.mark.parametrize("where,good,typo,key", TYPOS)
def test_misspelled_key_refused(tmp_path, pki_dir, where, good, typo, key):
    s = CrlStack(tmp_path, pki_dir)
    try:
        ok = subprocess.run([CRLGEN, "-c", s.conf, "--check"],
                            capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        with open(s.conf) as f:
            lines = f.read().split("\n")
        hits = [i for i, l in enumerate(lines) if good in l]
        assert len(hits) == 1, lines
        lines[hits[0]] = lines[hits[0]].replace(good, typo)
        with open(s.conf, "w") as f:
            f.write("\n".join(lines))
        for mode in ("--check", "--once"):
            p = subprocess.run([CRLGEN, "-c", s.conf, mode],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode != 0, p.stderr
            want = '%s:%d: unknown key "%s"' % (s.conf, hits[0] + 1, key)
            assert want in p.stderr, p.stderr
            assert re.match(r"revoca-crlgen: ", p.stderr), p.stderr
    finally:
        s.close()
