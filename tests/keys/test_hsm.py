"""Keys in a PKCS#11 token (issue 11 part 1): a SoftHSM2 token made by the
test, its keys generated inside it (pkcs11-tool --keypairgen), reached by
RFC 7512 URIs from revoca-signer, revoca-crlgen and the module's workers.

The issuing CA's key (P-384) and the delegated responder's (RSA, signing
RSASSA-PSS) live only in the token; the root's is a throwaway file.  What
they sign is judged by OpenSSL, GnuTLS and Python cryptography.  Failures:
a wrong PIN and a missing token stop every component at start with exit 2
and a message without the PIN; a token removed under the running signer and
generator is logged and retried, leaves nothing acknowledged, published or
stored that was not signed, and once it is back the daemons restart in
place on their own (SoftHSM2 needs a fresh process, docs/keys.md) and
everything catches up."""
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from conftest import crl_harness, nginx_harness
from cryptography.x509.oid import NameOID

import demo_pki
from keys_pki import (ALG_ECDSA_SHA384, ALG_RSA_PSS, PIN, SOFTHSM, Token,
                      alg_after, ca_cert, gnutls_ocsp_verify, py_verify_sig,
                      write_chain)
from ocsp_client import post, request_der
from revoca_fixtures import SIGNER, cert, wait_for

CRLGEN = crl_harness.CRLGEN


def _pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def make_hsm_pki(token, d):
    """Root (file key, thrown away), issuing CA "ca" (P-384) and responder
    "responder" (RSA 2048) in the token, leaves re-signed by the token."""
    os.makedirs(d)
    token.keygen("ca", "EC:secp384r1", "01")
    token.keygen("responder", "rsa:2048", "02")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_cert("Revoca HSM root", root_key.public_key(), None, root_key,
                   hashes.SHA256())
    issuer = ca_cert("Revoca HSM CA", token.public_key("ca"), root, root_key,
                     hashes.SHA256())
    write_chain(d, issuer, root)
    # Requests signed by throwaway keys, issued by the token's CA key; the
    # responder's with its public half from the token instead.
    exts = {"responder": "basicConstraints=critical,CA:FALSE\n"
                         "keyUsage=critical,digitalSignature\n"
                         "extendedKeyUsage=OCSPSigning\nnoCheck=ignored",
            "leaf": "basicConstraints=critical,CA:FALSE\n"
                    "crlDistributionPoints=URI:" + demo_pki.CRL_URL}
    for i, stem in enumerate(("responder", "good", "revoked", "later")):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                          stem + ".hsm.test")]))
            .sign(key, hashes.SHA256()))
        tmp = os.path.join(d, stem + ".csr")
        with open(tmp, "wb") as f:
            f.write(csr.public_bytes(serialization.Encoding.PEM))
        token.issue(tmp, os.path.join(d, "issuer.pem"), "ca", "sha384",
                    1000 + i, exts.get(stem, exts["leaf"]),
                    os.path.join(d, stem + ".pem"),
                    pubkey=token.public_pem(
                        "responder", os.path.join(d, "responder.pub"))
                    if stem == "responder" else None)
        os.unlink(tmp)
    return d


def issuer_conf(token, **kw):
    c = {"name": "demo", "key": token.uri("ca"),
         "responder_key": token.uri("responder"), "rsa_padding": "pss",
         "crl": '{ update_interval = "1s"; }'}
    c.update(kw)
    return c


def pkcs11_group(module=SOFTHSM, pin=None):
    pin = pin or 'pin_env = "REVOCA_TEST_PIN";'
    mod = 'module = "%s"; ' % module if module else ""
    return "pkcs11 = { %s%s };" % (mod, pin)


class HsmStack(crl_harness.CrlStack):
    def __init__(self, tmp, src, token, issuer=None, p11=None):
        self.token = token
        super().__init__(tmp, src, [issuer or issuer_conf(token)])
        self.reconf_hsm(issuer, p11)

    def reconf_hsm(self, issuer=None, p11=None):
        self.write_conf([issuer or issuer_conf(self.token)],
                        crl_harness.crl_group(self.pub) + "\n" +
                        (p11 or pkcs11_group()))


@pytest.fixture
def token(tmp_path, monkeypatch):
    t = Token(str(tmp_path / "hsm"))
    monkeypatch.setenv("SOFTHSM2_CONF", t.conf)
    monkeypatch.setenv("REVOCA_TEST_PIN", PIN)
    return t


@pytest.fixture
def hsm(tmp_path, token):
    src = make_hsm_pki(token, str(tmp_path / "src"))
    s = HsmStack(tmp_path / "stack", src, token)
    yield s
    if token.removed:
        token.restore()
    s.close()


def judge_ocsp(s, der, leaf, name, digest="sha1"):
    path = os.path.join(s.tmp, name + ".der")
    with open(path, "wb") as f:
        f.write(der)
    p = subprocess.run(
        ["openssl", "ocsp", "-respin", path, "-issuer", s.path("issuer.pem"),
         "-" + digest, "-cert", leaf, "-CAfile", s.path("ca.pem"),
         "-no_nonce"], capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    gnutls_ocsp_verify(path, s.path("responder.pem"))
    resp = ocsp.load_der_ocsp_response(der)
    assert alg_after(der, resp.tbs_response_bytes) == ALG_RSA_PSS
    py_verify_sig(cert(s.path("responder.pem")).public_key(), resp.signature,
                  resp.tbs_response_bytes, ALG_RSA_PSS)
    return [l for l in out.splitlines() if l.startswith(leaf + ":")][0] \
        .split(":", 1)[1].strip()


def judge_crl(s):
    der = s.file("demo.crl")
    crl_harness.openssl_crl_verify(der, s.path("ca.pem"))
    crl_harness.certtool_verify(
        crl_harness.to_pem(der, os.path.join(s.tmp, "demo.crl.pem")),
        s.path("issuer.pem"))
    with open(der, "rb") as f:
        raw = f.read()
    crl = x509.load_der_x509_crl(raw)
    assert alg_after(raw, crl.tbs_certlist_bytes) == ALG_ECDSA_SHA384
    py_verify_sig(cert(s.path("issuer.pem")).public_key(), crl.signature,
                  crl.tbs_certlist_bytes, ALG_ECDSA_SHA384)
    return crl


def no_pin_in(*texts):
    for t in texts:
        assert PIN not in t


def test_hsm_keys_sign_everywhere(hsm, make_nginx, tmp_path):
    s = hsm
    # the PIN from an owner-only file this time, the module p11-kit's proxy
    # (Debian's softhsm2 registers libsofthsm2 with p11-kit)
    pin_file = os.path.join(str(tmp_path), "pin")
    with open(os.open(pin_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(PIN + "\n")
    s.reconf_hsm(p11=pkcs11_group(module=None,
                                  pin='pin_file = "%s";' % pin_file))
    s.start_signer()
    good, revoked = s.path("good.pem"), s.path("revoked.pem")
    s.issue_revoke("revoked")
    s.cli("issue", "--issuer", "demo", "--cert", good)
    for leaf, want in ((good, "good"), (revoked, "revoked")):
        for field in ("sha1", "sha256"):
            assert judge_ocsp(s, s.response(s.serial_of(leaf), field), leaf,
                              "signer-" + field, field) == want
    s.once()
    crl = judge_crl(s)
    assert [r.serial_number for r in crl] == [cert(revoked).serial_number]

    # the worker opens its own session after fork (the master none: see
    # test_token_failure_at_start_is_exit_2); the PIN file is read there
    # too.  One worker: SoftHSM2's file store fails a lookup now and then
    # when two processes open one token at the same instant (docs/keys.md).
    n = make_nginx(s.conf, loc="revoca_sign nonce;",
                   http="revoca_config %s; revoca_cache_zone 1m;"
                        " revoca_sign_rate 1000r/s;" % s.conf,
                   main_extra="env SOFTHSM2_CONF;", workers=1)
    for i in range(4):
        nonce = os.urandom(16)
        r = post(n.port, request_der(s.pki, revoked, nonce=nonce))
        assert judge_ocsp(s, r.body, revoked, "module%d" % i) == "revoked"
        assert ocsp.load_der_ocsp_response(r.body).extensions \
            .get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    no_pin_in(n.log(), s.signers[0].output())


def run(argv, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("case", ["wrong_pin", "missing_token"])
def test_token_failure_at_start_is_exit_2(hsm, tmp_path, monkeypatch, case):
    s = hsm
    if case == "wrong_pin":
        monkeypatch.setenv("REVOCA_TEST_PIN", "0000-wrong")
    else:
        s.reconf_hsm(issuer_conf(
            s.token, key="pkcs11:token=absent;object=ca;type=private",
            responder_key="pkcs11:token=absent;object=responder;type=private"))
    sig = run([SIGNER, "-c", s.conf, "--check"])
    assert sig.returncode == 2, sig.stderr
    assert "issuer demo" in sig.stderr and "token" in sig.stderr, sig.stderr
    gen = run([CRLGEN, "-c", s.conf, "--once"])
    assert gen.returncode == 2, gen.stderr
    assert "issuer demo" in gen.stderr and "token" in gen.stderr, gen.stderr
    no_pin_in(sig.stderr, gen.stderr)

    # nginx: the master opens no session; each worker fails at start and
    # exits 2, which nginx does not respawn
    n = nginx_harness.Nginx(
        tmp_path / "nginx", s.conf, loc="revoca_sign nonce;",
        http="revoca_config %s; revoca_cache_zone 1m;" % s.conf,
        main_extra="env SOFTHSM2_CONF; env REVOCA_TEST_PIN;")
    assert n.check_config().returncode == 0
    n.start()
    try:
        wait_for(lambda: n.log().count("exited with fatal code 2") == 2, 30,
                 what="both workers to stop")
    finally:
        n.stop(check=False)
    assert "cannot open the key in the token" in n.log(), n.log()
    if case == "wrong_pin":
        assert "the PIN is wrong" in n.log()
    no_pin_in(n.log())


def test_pin_file_readable_by_others_is_refused(hsm, tmp_path):
    pin_file = os.path.join(str(tmp_path), "pin")
    with open(pin_file, "w") as f:
        f.write(PIN)
    os.chmod(pin_file, 0o640)
    hsm.reconf_hsm(p11=pkcs11_group(pin='pin_file = "%s";' % pin_file))
    p = run([SIGNER, "-c", hsm.conf, "--check"])
    assert p.returncode == 1 and "mode 640 lets others read it" in p.stderr, \
        p.stderr


def test_pin_in_the_uri_is_refused(hsm):
    hsm.reconf_hsm(issuer_conf(hsm.token, key=hsm.token.uri("ca") +
                               "?pin-value=" + PIN))
    p = run([SIGNER, "-c", hsm.conf, "--check"])
    assert p.returncode == 1 and "the PIN does not go in the config" in \
        p.stderr, p.stderr
    no_pin_in(p.stderr)


def pending(s, group):
    info = s.r().xpending("revoca:events", group)
    return info["pending"]


def start_in_turn(s):
    """The signer, then (once it has opened its key) revoca-crlgen: SoftHSM2's
    file store fails a lookup now and then when two processes open one token
    at the same instant (docs/keys.md)."""
    sig = s.start_signer()
    wait_for(lambda: "info signer started" in sig.output() or not sig.alive(),
             30, what="the signer to start")
    assert sig.alive(), sig.output()
    gen = s.start_crlgen()
    wait_for(lambda: "info crlgen started" in gen.output() or
             not gen.alive(), 30, what="crlgen to start")
    assert gen.alive(), gen.output()
    return sig, gen


def temp_files(d):
    """The dot files of D, each with what tells a new file from an old."""
    out = []
    for f in os.listdir(d):
        if f.startswith("."):
            try:
                st = os.stat(os.path.join(d, f))
            except FileNotFoundError:
                continue
            out.append((f, st.st_ino, st.st_mtime_ns, st.st_size))
    return out


def test_token_removed_mid_run(hsm):
    s = hsm
    # the CRL re-signed every 2 s, so that revoca-crlgen signs while the
    # token is away even though the signer applies no change then
    s.reconf_hsm(issuer_conf(s.token, crl='{ update_interval = "1s"; '
                                          'resign_after = "2s"; }'))
    _, gen = start_in_turn(s)
    good, revoked = s.path("good.pem"), s.path("revoked.pem")
    s.cli("issue", "--issuer", "demo", "--cert", good)
    s.cli("issue", "--issuer", "demo", "--cert", revoked)
    wait_for(lambda: os.path.exists(s.file("demo.crl")), 30, what="a CRL")
    before = s.response(s.serial_of(revoked))
    assert judge_ocsp(s, before, revoked, "before") == "good"

    s.token.remove()
    p = s.cli("revoke", "--issuer", "demo", "--cert", revoked, "--reason",
              "keyCompromise")
    assert p.returncode == 0
    # the signer cannot sign: it says so, acknowledges nothing and leaves
    # the stored response as it was
    wait_for(lambda: "sign failed" in s.signers[0].output(), 30,
             what="the signer to report the token")
    wait_for(lambda: "signing the CRL" in gen.output(), 30,
             what="crlgen to report the token")
    number = s.number("demo.crl")
    # a few rounds of both daemons' retries; crlgen streams each attempt
    # into a temporary file that it removes when the signature fails, so a
    # temporary file still there, unchanged, 3 s later was left behind
    first = temp_files(s.pub)
    time.sleep(3)
    left = set(first) & set(temp_files(s.pub))
    assert not left, left  # no half-written file left behind
    assert s.response(s.serial_of(revoked)) == before
    assert pending(s, "signer") >= 1
    assert s.number("demo.crl") == number
    assert cert(revoked).serial_number not in s.serials("demo.crl")
    assert s.signers[0].alive() and gen.alive()

    sig = s.signers[0]
    pids = (sig.proc.pid, gen.proc.pid)
    s.token.restore()
    # SoftHSM2 2.6 sees a token again only after C_Finalize, which libp11
    # 0.4.12 cannot do under a running engine (docs/keys.md): each daemon
    # finds out with a fresh `--check` process that the token is back, and
    # restarts in place (same pid, same consumer), with no supervisor.
    wait_for(lambda: "restarting in place" in sig.output() and
             "restarting in place" in gen.output(), 120,
             what="both daemons to see the token back")
    assert sig.alive() and gen.alive()
    assert (sig.proc.pid, gen.proc.pid) == pids
    wait_for(lambda: s.response(s.serial_of(revoked)) != before, 60,
             what="the signer to catch up")
    assert judge_ocsp(s, s.response(s.serial_of(revoked)), revoked,
                      "after") == "revoked"
    wait_for(lambda: pending(s, "signer") == 0, 60, what="the acknowledgement")
    wait_for(lambda: cert(revoked).serial_number in s.serials("demo.crl"), 60,
             what="the CRL to catch up")
    assert s.number("demo.crl") > number
    judge_crl(s)
    no_pin_in(sig.output(), gen.output())
