"""The signer's pool of signing threads (issue 11 part 2,
signer.sign_threads): with two threads every response of a bulk import is
signed, and right, with a file key and with a key in a SoftHSM2 token;
every response is judged by Python cryptography, some by OpenSSL (and
GnuTLS for the token's).  A token that goes away under the pool leaves the
events pending and the stored responses as they were, as with one thread;
once it is back (and the signer restarted, docs/keys.md) everything is
signed."""
import os
import subprocess
import tempfile
import time

from cryptography.x509 import ocsp

from keys_pki import ALG_RSA_PSS, alg_after, py_verify_sig
from revoca_fixtures import (SIGNER, Stack, cert, pki_dir,  # noqa: F401
                             stored_decode, wait_for)
from test_hsm import HsmStack, judge_ocsp, make_hsm_pki, no_pin_in, token  # noqa: F401

POOL = "sign_threads = 2; "


def make_index(path, n, serial_base, revoked_every=7):
    """An `openssl ca` index.txt of N rows, every REVOKED_EVERY-th revoked;
    returns {serial hex: "good" | "revoked"}."""
    want = {}
    with open(path, "w") as f:
        for i in range(n):
            serial = serial_base + i
            if i % revoked_every == 0:
                f.write("R\t301231235959Z\t260102030405Z,keyCompromise\t%X\t"
                        "unknown\t/CN=p%d\n" % (serial, i))
                want["%x" % serial] = "revoked"
            else:
                f.write("V\t301231235959Z\t\t%X\tunknown\t/CN=p%d\n"
                        % (serial, i))
                want["%x" % serial] = "good"
    return want


def answered(s, want):
    pipe = s.r().pipeline(transaction=False)
    for serial in want:
        pipe.exists("revoca:ocsp:demo:" + serial)
    return all(pipe.execute())


def pending(s):
    try:
        return s.r().xpending("revoca:events", "signer")["pending"]
    except Exception:  # no group yet
        return 0


def check_all(s, want, responder_pem, alg=None):
    """Every stored response of WANT, both CertID forms, checked by Python
    cryptography: the signature with the responder's key, the serial, the
    status, the CertID's hash."""
    pub = cert(responder_pem).public_key()
    for serial, status in want.items():
        assert stored_decode(s.r().get("revoca:ocsp:demo:" + serial))[
            "status"] == status, serial
        for field in ("sha1", "sha256"):
            der = s.response(serial, field)
            resp = ocsp.load_der_ocsp_response(der)
            assert resp.response_status == \
                ocsp.OCSPResponseStatus.SUCCESSFUL
            assert resp.serial_number == int(serial, 16)
            assert resp.hash_algorithm.name == field
            assert resp.certificate_status.name.lower() == status, serial
            if alg is not None:
                assert alg_after(der, resp.tbs_response_bytes) == alg
                py_verify_sig(pub, resp.signature, resp.tbs_response_bytes,
                              alg)
            else:
                from cryptography.hazmat.primitives.asymmetric import ec
                pub.verify(resp.signature, resp.tbs_response_bytes,
                           ec.ECDSA(resp.signature_hash_algorithm))


def openssl_by_serial(s, serial, field, responder_pem, ca_pem):
    """`openssl ocsp` on the stored response for SERIAL: the status line
    (raises unless the signature verifies)."""
    with tempfile.NamedTemporaryFile(suffix=".der", delete=False) as f:
        f.write(s.response(serial, field))
        name = f.name
    try:
        p = subprocess.run(
            ["openssl", "ocsp", "-respin", name, "-issuer",
             s.path("issuer.pem"), "-" + field, "-serial", "0x" + serial,
             "-CAfile", ca_pem, "-no_nonce"],
            capture_output=True, text=True)
    finally:
        os.unlink(name)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    return [l for l in out.splitlines() if l.startswith("0x")][0] \
        .split(":", 1)[1].strip()


def signer_counts(d):
    """The counters of a stopped signer's last line."""
    line = [l for l in d.output().splitlines() if "info signer stopped" in l][0]
    return dict(kv.split("=") for kv in line.split()[4:])


def test_pool_file_key(tmp_path, pki_dir):  # noqa: F811
    s = Stack(tmp_path, pki_dir, signer=POOL)
    try:
        p = subprocess.run([SIGNER, "-c", s.conf, "--check"],
                           capture_output=True, text=True)
        assert p.returncode == 0 and "sign_threads=2" in p.stdout, \
            p.stdout + p.stderr
        d = s.start_signer()
        idx = os.path.join(s.tmp, "index.txt")
        want = make_index(idx, 600, 0x5000)
        s.cli("import", "--issuer", "demo", "--openssl-index", idx)
        wait_for(lambda: answered(s, want), 120, what="the import signed")
        wait_for(lambda: pending(s) == 0, 60, what="the acknowledgements")
        check_all(s, want, s.path("responder.pem"))
        for serial in list(want)[:3]:
            for field in ("sha1", "sha256"):
                assert openssl_by_serial(s, serial, field,
                                         s.path("responder.pem"),
                                         s.path("ca.pem")) == want[serial]
        assert d.stop() == 0
        out = d.output()
        assert "sign_threads=2" in out
        c = signer_counts(d)
        # every response signed and committed, none signed in vain (the
        # pool signs only what the transaction writes)
        assert int(c["signed"]) >= 2 * len(want), c
        assert int(c["computed"]) == int(c["signed"]), c
        assert " error " not in out, out
    finally:
        s.close()


def pool_hsm(tmp_path, token):  # noqa: F811
    src = make_hsm_pki(token, str(tmp_path / "src"))
    s = HsmStack(tmp_path / "stack", src, token)
    s.signer_conf = POOL
    s.reconf_hsm()
    return s


def test_pool_hsm_key(tmp_path, token):  # noqa: F811
    s = pool_hsm(tmp_path, token)
    try:
        d = s.start_signer()
        good, revoked = s.path("good.pem"), s.path("revoked.pem")
        s.issue_revoke("revoked")
        s.cli("issue", "--issuer", "demo", "--cert", good)
        idx = os.path.join(s.tmp, "index.txt")
        want = make_index(idx, 200, 0x7000)
        s.cli("import", "--issuer", "demo", "--openssl-index", idx)
        wait_for(lambda: answered(s, want), 180, what="the import signed")
        wait_for(lambda: pending(s) == 0, 60, what="the acknowledgements")
        check_all(s, want, s.path("responder.pem"), ALG_RSA_PSS)
        # OpenSSL, GnuTLS and Python on the two leaves (test_hsm.py's judge)
        for leaf, status in ((good, "good"), (revoked, "revoked")):
            for field in ("sha1", "sha256"):
                assert judge_ocsp(s, s.response(s.serial_of(leaf), field),
                                  leaf, "pool-" + field, field) == status
        assert d.stop() == 0
        c = signer_counts(d)
        assert int(c["computed"]) == int(c["signed"]), c
        assert int(c["signed"]) >= 2 * (len(want) + 2), c
        no_pin_in(d.output())
    finally:
        if token.removed:
            token.restore()
        s.close()


def test_pool_token_removed_mid_run(tmp_path, token):  # noqa: F811
    s = pool_hsm(tmp_path, token)
    try:
        d = s.start_signer()
        wait_for(lambda: "info signer started" in d.output(), 30,
                 what="the signer to start")
        revoked = s.path("revoked.pem")
        s.cli("issue", "--issuer", "demo", "--cert", revoked)
        before = s.response(s.serial_of(revoked))
        assert judge_ocsp(s, before, revoked, "before") == "good"

        s.token.remove()
        idx = os.path.join(s.tmp, "index.txt")
        want = make_index(idx, 40, 0x9000)
        s.cli("import", "--issuer", "demo", "--openssl-index", idx)
        assert s.cli("revoke", "--issuer", "demo", "--cert", revoked,
                     "--reason", "keyCompromise").returncode == 0
        wait_for(lambda: "sign failed" in d.output(), 30,
                 what="the signer to report the token")
        time.sleep(3)  # a few rounds of retries, on both threads
        assert d.alive(), d.output()
        # nothing acknowledged that was not signed, nothing stored
        assert s.response(s.serial_of(revoked)) == before
        events = len(want) + list(want.values()).count("revoked") + 1
        assert pending(s) >= events, (pending(s), events)
        assert not any(s.r().exists("revoca:ocsp:demo:" + x) for x in want)
        assert "record not written" in d.output()

        s.token.restore()
        d.stop()  # SoftHSM2 2.6 needs a restart to see it (docs/keys.md)
        d = s.start_signer()
        wait_for(lambda: s.response(s.serial_of(revoked)) != before, 60,
                 what="the signer to catch up")
        assert judge_ocsp(s, s.response(s.serial_of(revoked)), revoked,
                          "after") == "revoked"
        wait_for(lambda: answered(s, want), 60, what="the import signed")
        wait_for(lambda: pending(s) == 0, 60, what="the acknowledgements")
        check_all(s, want, s.path("responder.pem"), ALG_RSA_PSS)
        no_pin_in(s.signers[0].output(), s.signers[1].output())
    finally:
        if token.removed:
            token.restore()
        s.close()
