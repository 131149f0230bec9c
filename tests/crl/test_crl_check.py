"""revoca-crlgen --help and --check: --check validates the configuration,
each issuer's CA certificate and key, and the paths files are published
to, and names the file and line of whatever is wrong; it needs no Redis."""
import os
import re
import subprocess

import pytest

from conftest import CRLGEN, CrlStack


def run(*args):
    return subprocess.run([CRLGEN] + list(args), capture_output=True,
                          text=True, timeout=30)


def test_help_prints_usage():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    for opt in ("--config", "--once", "--delta", "--check", "--verbose",
                "--help"):
        assert opt in p.stdout, p.stdout
    # a bad option prints it too, on stderr, and fails
    p = run("--no-such-option")
    assert p.returncode == 2 and "usage:" in p.stderr, p.stderr


@pytest.fixture
def stack(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    yield s
    s.close()


def line_of(conf, text):
    with open(conf) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError(text)


def test_check_passes_without_redis(stack):
    s = stack
    s.redis.stop()
    p = run("-c", s.conf, "--check")
    assert p.returncode == 0, p.stderr
    assert "ok (1 issuers)" in p.stdout, p.stdout
    assert not os.path.exists(s.pub)  # checked, not created


@pytest.mark.parametrize("where", ["publish_dir", "state_dir", "metrics_file"])
def test_check_names_an_unusable_path(stack, tmp_path, where):
    s = stack
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    bad = {"publish_dir": str(afile / "pub"),  # its parent is a file
           "state_dir": str(tmp_path / "missing" / "deeper"),
           "metrics_file": str(tmp_path / "nodir" / "crl.prom")}[where]
    if where == "publish_dir":
        s.reconf([{"name": "demo"}], pub=bad)
    else:
        s.reconf([{"name": "demo"}], {where: '"%s"' % bad})
    p = run("-c", s.conf, "--check")
    assert p.returncode != 0, p.stdout
    n = line_of(s.conf, "crl = {")
    assert re.search(r"revoca\.conf:%d: crl\.%s " % (n, where), p.stderr), \
        p.stderr
    # a publish dir that is a file is refused as well
    if where == "publish_dir":
        s.reconf([{"name": "demo"}], pub=str(afile))
        p = run("-c", s.conf, "--check")
        assert p.returncode != 0 and "not a directory" in p.stderr, p.stderr


@pytest.mark.parametrize("setting,value,message", [
    ("key", "pki/missing.key", "cannot open the key file"),
    ("key", "pki/issuer.pem", "no private key in it"),
    ("cert", "pki/responder.key", "no certificate in it"),
    ("key", "pki/responder.key", "does not match"),
])
def test_check_names_the_issuer_of_a_bad_key(stack, setting, value, message):
    s = stack
    s.reconf([{"name": "demo", setting: value}])
    p = run("-c", s.conf, "--check")
    assert p.returncode != 0, p.stdout
    assert re.search(r"revoca\.conf:\d+: issuer demo: ", p.stderr), p.stderr
    # the line of the issuer's group
    got = int(re.search(r"revoca\.conf:(\d+):", p.stderr).group(1))
    first, last = line_of(s.conf, "issuers = ("), line_of(s.conf, 'name = "demo"')
    assert first < got <= last, (first, last, p.stderr)
    assert message in p.stderr, p.stderr
