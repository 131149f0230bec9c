"""Bad CLI input and bad configuration are rejected with a clear message and
a non-zero exit, and write nothing to Redis."""
import os
import subprocess

import pytest

from revoca_fixtures import REVOCA, SIGNER, Stack


def stream_len(stack):
    return stack.r().xlen("revoca:events") if stack.r().exists("revoca:events") else 0


BAD = [
    (["issue", "--issuer", "nope", "--serial", "1", "--not-after", "2030-01-01"], "not in"),
    (["issue", "--issuer", "demo", "--serial", "zz", "--not-after", "2030-01-01"], "--serial zz"),
    (["issue", "--issuer", "demo", "--serial", "0", "--not-after", "2030-01-01"], "--serial 0"),
    (["issue", "--issuer", "demo", "--serial", "-5", "--not-after", "2030-01-01"], ""),
    (["issue", "--issuer", "demo", "--serial", "1" * 42, "--not-after", "2030-01-01"], "at most 20 octets"),
    (["issue", "--issuer", "demo", "--serial", "1"], "--not-after"),
    (["issue", "--issuer", "demo", "--serial", "1", "--not-after", "yesterday"], "--not-after yesterday: not a time"),
    (["issue", "--issuer", "demo", "--serial", "1", "--not-before", "2000-01-01", "--not-after", "2001-01-01"], "in the past"),
    (["issue", "--issuer", "demo", "--cert", "pki/root.pem"], "not issued by"),
    (["issue", "--issuer", "demo", "--cert", "pki/issuer.key"], "not a PEM or DER"),
    (["issue", "--issuer", "demo", "--cert", "/nonexistent"], "cannot open"),
    (["issue", "--issuer", "demo", "--cert", "pki/good.pem", "--serial", "1"], "exactly one"),
    (["revoke", "--issuer", "demo", "--serial", "1", "--reason", "bored"], "--reason bored"),
    (["revoke", "--issuer", "demo", "--serial", "1", "--reason", "certificateHold"], "revoca hold"),
    (["revoke", "--issuer", "demo", "--serial", "1", "--time", "2020-13-45"], "--time"),
    (["revoke", "--issuer", "demo"], "exactly one"),
    (["hold", "--issuer", "demo", "--serial", "1", "--reason", "superseded"], "only goes with revoke"),
    (["release", "--issuer", "demo", "--serial", "1", "extra"], "unexpected argument"),
    (["frobnicate"], "unknown command"),
    (["status", "--issuer", "demo"], "--serial"),
    (["import", "--issuer", "demo"], "import --issuer"),
    (["import", "--issuer", "demo", "--openssl-index", "/nonexistent"], "cannot open"),
    # options are named, never ignored
    (["issue", "--issuer", "demo", "--serial", "1", "--bogus"], "issue: unknown option --bogus"),
    (["revoke", "--issuer"], "revoke: option --issuer needs a value"),
    (["import", "--issuer", "demo", "--certs", "--frob", "x"], "import: unknown option --frob"),
    (["revoke", "--issuer", "demo", "--serial", "1", "--shard", "0"], "--shard only goes with issue"),
    (["hold", "--issuer", "demo", "--serial", "1", "--invalidity-date", "now"], "--invalidity-date only goes with revoke"),
    (["issue", "--issuer", "demo", "--cert", "pki/good.pem", "--not-after", "2030-01-01"], "--not-after only goes with issue --serial"),
    (["issue", "--issuer", "demo", "--serial", "1", "--not-after", "2030-01-01", "--time", "now"], "--time only goes with"),
    (["revoke", "--issuer", "demo", "--serial", "1", "--no-wait"], "--no-wait only goes with issue"),
    (["status", "--issuer", "demo", "--serial", "1", "--reason", "superseded"], "--reason only goes with revoke"),
    (["issue", "--issuer", "demo", "--serial", "1", "--not-after", "2099-01-01", "--shard", ""], "--shard : must be 0..0"),
    (["issue", "--issuer", "demo", "--serial", "1", "--not-after", "2099-01-01", "--shard", "4294967296"], "--shard 4294967296: must be 0..0"),
]


@pytest.mark.parametrize("args,msg", BAD)
def test_bad_input_rejected_and_nothing_written(stack, args, msg):
    args = [a.replace("pki/", stack.pki + "/") for a in args]
    p = stack.cli(*args, check=False)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("revoca: "), p.stderr
    assert msg in p.stderr
    assert stream_len(stack) == 0


@pytest.mark.parametrize("line,msg", [
    ("X\t301231235959Z\t\t10\tunknown\t/CN=x\n", "status must be V, E or R"),
    ("V\t3012\t\t10\tunknown\t/CN=x\n", "bad expiry time"),
    ("V\t301231235959Z\t\tXYZ\tunknown\t/CN=x\n", "bad serial"),
    ("R\t301231235959Z\t\t10\tunknown\t/CN=x\n", "bad revocation time"),
    ("R\t301231235959Z\t260101000000Z,sleepy\t10\tunknown\t/CN=x\n", "unknown revocation reason"),
    ("V\t301231235959Z\n", "expected tab-separated"),
    # what the signer would refuse is refused before anything is written
    ("V\t600101000000Z\t\t10\tunknown\t/CN=x\n", "bad validity period"),
])
def test_bad_index_rejected_whole(stack, line, msg):
    idx = os.path.join(stack.tmp, "index.txt")
    with open(idx, "w") as f:
        f.write("V\t301231235959Z\t\t0A\tunknown\t/CN=ok\n")  # a good row first
        f.write(line)
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  "--strict", check=False)
    assert p.returncode == 2
    assert "index.txt:2: " + msg in p.stderr
    assert stream_len(stack) == 0  # not even the good first row
    # without --strict: named, skipped, the good row imported
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    assert "index.txt:2: " + msg in p.stderr and "(skipped)" in p.stderr
    assert "certificates=1 events=1 released=0 skipped=1" in p.stdout
    assert stream_len(stack) == 1


def test_cabf_profile_refuses_hold_and_reasons(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir, [{"name": "pub", "profile": "cabf"}])
    try:
        p = s.cli("hold", "--issuer", "pub", "--serial", "1", check=False)
        assert p.returncode == 2 and "cabf" in p.stderr
        # release too: the signer would refuse it (one rule, policy.c)
        p = s.cli("release", "--issuer", "pub", "--serial", "1", check=False)
        assert p.returncode == 2 and "certificateHold is not allowed" in p.stderr
        p = s.cli("revoke", "--issuer", "pub", "--serial", "1", "--reason",
                  "cACompromise", check=False)
        assert p.returncode == 2 and "Baseline Requirements" in p.stderr
        assert p.stderr.startswith("revoca: --reason cACompromise: "), p.stderr
        idx = os.path.join(s.tmp, "index.txt")
        with open(idx, "w") as f:
            f.write("R\t301231235959Z\t260101000000Z,certificateHold\t10\tunknown\t/CN=x\n")
        p = s.cli("import", "--issuer", "pub", "--openssl-index", idx,
                  "--strict", check=False)
        assert p.returncode == 2 and "index.txt:1: certificateHold is not allowed" in p.stderr
        assert stream_len(s) == 0
    finally:
        s.close()


def run_with_conf(tmp_path, text):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    outs = []
    for argv in ([REVOCA, "-c", str(conf), "status", "--issuer", "demo", "--serial", "1"],
                 [SIGNER, "-c", str(conf)]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
        outs.append(p.stderr)
    return outs


@pytest.mark.parametrize("text,msg", [
    ("issuers = ( { name = \"demo\" ; } ", ":1: syntax error"),
    ("prefix = \"x\";\n", ":0: issuers: a list of at least one issuer"),
    ("issuers = ( { name = \"Demo!\"; cert = \"a.pem\"; } );\n", ":1: issuer: \"name\" must match"),
    ("issuers = ( {\n name = \"d\";\n } );\n", ":1: issuer: \"cert\" is required"),
    ("issuers = ( { name = \"d\"; cert = \"a\";\n validity = \"3 weeks\"; } );\n", ":2: validity: expected a duration"),
    ("issuers = ( { name = \"d\"; cert = \"a\"; profile = \"cabf\";\n validity = \"12d\"; } );\n", ":2: validity: the cabf profile requires 8h..10d"),
    ("issuers = ( { name = \"d\"; cert = \"a\";\n unissued = \"good\"; } );\n", ":2: unissued: expected"),
    ("redis = {\n port = 99999; };\nissuers = ( { name = \"d\"; cert = \"a\"; } );\n", ":2: port: 99999 is out of range"),
    ("issuers = ( { name = \"d\"; cert = \"a\"; }, { name = \"d\"; cert = \"b\"; } );\n", "defined twice"),
    ("issuers = ( { name = \"d\"; cert = \"a\";\n shards = 0; } );\n", ":2: shards: 0 is out of range"),
])
def test_bad_config_names_file_and_line(tmp_path, text, msg):
    for err in run_with_conf(tmp_path, text):
        assert "bad.conf" + msg in err or msg in err, err
        assert str(tmp_path / "bad.conf") in err


def test_missing_config_file(tmp_path):
    p = subprocess.run([REVOCA, "-c", str(tmp_path / "none.conf"), "status",
                        "--issuer", "d", "--serial", "1"], capture_output=True, text=True)
    assert p.returncode == 2 and "cannot read" in p.stderr


def test_signer_rejects_unloadable_keys(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir, [{"name": "demo", "responder_key": "pki/good.key"}])
    try:
        p = subprocess.run([SIGNER, "-c", s.conf], capture_output=True, text=True, timeout=30)
        assert p.returncode == 1
        assert "does not match" in p.stderr
        # A responder without id-kp-OCSPSigning is refused (RFC 6960 4.2.2.2).
        s.write_conf([{"name": "demo", "responder_cert": "pki/good.pem",
                       "responder_key": "pki/good.key"}])
        p = subprocess.run([SIGNER, "-c", s.conf], capture_output=True, text=True, timeout=30)
        assert p.returncode == 1 and "OCSPSigning" in p.stderr
    finally:
        s.close()


def test_help_and_usage():
    p = subprocess.run([REVOCA, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "usage: revoca" in p.stdout
    for cmd in ("issue", "revoke", "hold", "release", "status", "import"):
        assert "  %s " % cmd in p.stdout
        # a command's own usage needs no configuration file
        for flag in ("--help", "-h"):
            q = subprocess.run([REVOCA, "-c", "/nonexistent", cmd, "--issuer",
                                "x", flag], capture_output=True, text=True)
            assert q.returncode == 0, q.stderr
            assert q.stdout.startswith("usage: revoca"), q.stdout
            assert "  %s " % cmd in q.stdout and q.stderr == ""
            others = [c for c in ("issue", "revoke", "status", "import")
                      if c != cmd and "  %s " % c in q.stdout]
            assert others == [], q.stdout
    p = subprocess.run([REVOCA], capture_output=True, text=True)
    assert p.returncode == 2
    p = subprocess.run([SIGNER], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr


def test_signer_rejects_claim_idle_zero(tmp_path, pki_dir):
    # claim_idle 0 would take live signers' in-flight entries every round
    s = Stack(tmp_path, pki_dir)
    try:
        with open(s.conf) as f:
            text = f.read()
        assert 'claim_idle = "2s"' in text
        with open(s.conf, "w") as f:
            f.write(text.replace('claim_idle = "2s"', 'claim_idle = "0s"'))
        p = subprocess.run([SIGNER, "-c", s.conf], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode != 0
        assert "claim_idle must be 1s..1d" in p.stderr, p.stderr
    finally:
        s.close()


def test_import_certs_bundle_and_der(stack):
    """One loader (ocsp_certs_load): every certificate of a PEM bundle, and a
    DER file, are imported."""
    from cryptography.hazmat.primitives import serialization
    from revoca_fixtures import cert
    d = os.path.join(stack.tmp, "certs")
    os.mkdir(d)
    with open(os.path.join(d, "bundle.pem"), "wb") as f:
        for stem in ("good", "revoked"):
            with open(stack.path(stem + ".pem"), "rb") as g:
                f.write(g.read())
    with open(os.path.join(d, "one.der"), "wb") as f:
        f.write(cert(stack.path("unissued.pem")).public_bytes(
            serialization.Encoding.DER))
    p = stack.cli("import", "--issuer", "demo", "--certs", d)
    assert "certificates=3 events=3" in p.stdout, p.stdout
    assert stream_len(stack) == 3


def test_redis_error_reply_is_a_failure(stack):
    stack.r().set("revoca:events", "not a stream")
    p = stack.cli("issue", "--issuer", "demo", "--serial", "1", "--not-after",
                  "2099-01-01", "--no-wait", check=False)
    assert p.returncode == 1 and "WRONGTYPE" in p.stderr, p.stderr
    idx = os.path.join(stack.tmp, "index.txt")
    with open(idx, "w") as f:
        f.write("V\t301231235959Z\t\t0A\tunknown\t/CN=ok\n")
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  check=False)
    assert p.returncode == 1 and "WRONGTYPE" in p.stderr, p.stderr
    # status: an error reply is not "never reported"
    stack.r().hset("revoca:cert:demo:1", "x", "y")
    p = stack.cli("status", "--issuer", "demo", "--serial", "1", check=False)
    assert p.returncode == 1 and "WRONGTYPE" in p.stderr, p.stderr


def test_cert_the_signer_would_refuse_is_refused_first(stack):
    """A certificate valid from before 1970 makes an event no reader accepts
    (event.h): refused with exit 2, nothing written, by issue and import."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    import demo_pki
    ca, ca_key = demo_pki.load(stack.pki, "issuer")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "old")])
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
         .public_key(key.public_key()).serial_number(0x5eed)
         .not_valid_before(datetime.datetime(1960, 1, 1))
         .not_valid_after(datetime.datetime(2090, 1, 1))
         .sign(ca_key, hashes.SHA256()))
    d = os.path.join(stack.tmp, "old")
    os.mkdir(d)
    path = os.path.join(d, "old.pem")
    with open(path, "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM))
    p = stack.cli("issue", "--issuer", "demo", "--cert", path, check=False)
    assert p.returncode == 2 and "bad validity period" in p.stderr, p.stderr
    p = stack.cli("import", "--issuer", "demo", "--certs", d, check=False)
    assert p.returncode == 2 and "bad validity period" in p.stderr, p.stderr
    assert path in p.stderr
    assert stream_len(stack) == 0


def test_status_reports_record_and_response(stack):
    stack.start_signer()
    good = stack.path("good.pem")
    p = stack.cli("status", "--issuer", "demo", "--cert", good)
    assert "none (never reported)" in p.stdout and "no response stored" in p.stdout
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    stack.cli("revoke", "--issuer", "demo", "--cert", good, "--reason",
              "keyCompromise", "--time", "2026-01-02T03:04:05Z", "--wait")
    out = stack.cli("status", "--issuer", "demo", "--cert", good).stdout
    fields = dict(l.split(None, 1) for l in out.splitlines())
    assert fields["serial"] == stack.serial_of(good)
    assert fields["record"] == "revoked" and fields["reason"] == "keyCompromise"
    assert fields["revocation_time"] == "2026-01-02T03:04:05Z"
    assert fields["ocsp_status"] == "revoked", out
    assert fields["this_update"].endswith("Z") and fields["next_update"] > fields["this_update"]


def test_import_path_too_long_is_named(stack):
    d = stack.tmp
    while len(d) < 3900:
        d = os.path.join(d, "d" * 200)
    os.makedirs(d)
    name = "c" * 200 + ".pem"
    with open(stack.path("good.pem"), "rb") as f:
        data = f.read()
    dfd = os.open(d, os.O_RDONLY)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dfd)
    os.write(fd, data)
    os.close(fd)
    os.close(dfd)
    p = stack.cli("import", "--issuer", "demo", "--certs", d, check=False)
    assert p.returncode == 2 and "path too long" in p.stderr, p.stderr
    assert stream_len(stack) == 0
