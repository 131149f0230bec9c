"""A misspelled key is an error naming file, line and key, never a silent
default (`profle = "cabf"` once gave the private profile): the revoca CLI and
revoca-signer refuse one at the top level, in an issuer and in their own
group, with a non-zero exit (revoca-crlgen: tests/crl/test_crl_keys.py)."""
import subprocess

import pytest

from revoca_fixtures import REVOCA, SIGNER, Stack

# (what the good line is, what it becomes, the key named)
TYPOS = {
    "top": ('prefix = "revoca";', 'prefx = "revoca";', "prefx"),
    "issuer": ('validity = "1d";', 'valdity = "1d";', "valdity"),
    "cli": ('cli = { issue_wait = "20s"; };', 'cli = { issue_wiat = "20s"; };',
            "issue_wiat"),
    "signer": ("signer = { batch = 64;", "signer = { bacth = 64;", "bacth"),
}

COMMANDS = {
    "revoca": lambda conf: [REVOCA, "-c", conf, "status", "--issuer", "demo",
                            "--serial", "1"],
    "revoca-signer": lambda conf: [SIGNER, "-c", conf],
}

CASES = [("revoca", w) for w in ("top", "issuer", "cli")] + \
        [("revoca-signer", w) for w in ("top", "issuer", "signer")]


def misspell(conf, good, typo):
    """Replaces GOOD by TYPO in CONF; returns the 1-based line changed."""
    with open(conf) as f:
        lines = f.read().split("\n")
    hits = [i for i, l in enumerate(lines) if good in l]
    assert len(hits) == 1, (good, lines)
    lines[hits[0]] = lines[hits[0]].replace(good, typo)
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    return hits[0] + 1


def replace_line(conf, good, new):
    """Replaces the one line of CONF holding GOOD by NEW; returns its
    1-based number."""
    with open(conf) as f:
        lines = f.read().split("\n")
    hits = [i for i, l in enumerate(lines) if good in l]
    assert len(hits) == 1, (good, lines)
    lines[hits[0]] = new
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    return hits[0] + 1


@pytest.fixture(scope="module")
def conf_stack(tmp_path_factory, pki_dir):
    s = Stack(tmp_path_factory.mktemp("keys"), pki_dir)
    yield s
    s.close()


@pytest.mark.parametrize("component,where", CASES)
def test_misspelled_key_refused(conf_stack, component, where):
    s = conf_stack
    s.write_conf([{"name": "demo"}])
    # the good file is accepted: the refusal below is the typo's
    if component == "revoca":
        assert s.cli("status", "--issuer", "demo", "--serial", "1",
                     check=False).returncode == 0
    good, typo, key = TYPOS[where]
    line = misspell(s.conf, good, typo)
    p = subprocess.run(COMMANDS[component](s.conf), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0, p.stderr
    want = '%s:%d: unknown key "%s"' % (s.conf, line, key)
    assert want in p.stderr, p.stderr
    assert p.stderr.startswith(component + ": "), p.stderr
    assert not s.r().exists("revoca:events")


# A component's group written as something else than a group
@pytest.mark.parametrize("component,good,bad,what", [
    ("revoca", 'cli = { issue_wait = "20s"; };', "cli = 5;", "cli"),
    ("revoca-signer", "signer = {", "signer = ( 1, 2 );", "signer"),
])
def test_group_of_another_type_refused(conf_stack, component, good, bad,
                                       what):
    s = conf_stack
    s.write_conf([{"name": "demo"}])
    line = replace_line(s.conf, good, bad)
    p = subprocess.run(COMMANDS[component](s.conf), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0, p.stderr
    assert "%s:%d: %s: expected a group" % (s.conf, line, what) in p.stderr, \
        p.stderr
