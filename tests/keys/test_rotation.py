"""Responder certificate rotation and issuer rollover (issue 11 part 4),
with the real signer, the real nginx module and `revoca resign`, every
answer judged by `openssl ocsp` and Python cryptography.

Rotation: responder A is replaced by B with A kept as a previous responder
certificate; stored responses A signed are served with A's certificate
until re-signed, new ones carry B's, and no answer in between fails to
verify.  Rollover: a CA renewed under the same name with a new key is a
second issuer; each key's CertIDs reach its own records."""
import datetime
import os
import re
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from keys_pki import (_name, _pem, _sign, _write, ca_cert, leaf_builder,
                      responder_builder)
from ocsp_client import get, post, request_der  # noqa: E402
from revoca_fixtures import SIGNER, Stack, cert, wait_for


def _key(path, k):
    _write(path, k.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()), 0o600)


def make_pki(d):
    """A root; a CA in two generations of one name (issuer, issuer2); two
    responders of the first (responder = A, responder-b = B), one of the
    second; leaves of each generation."""
    os.makedirs(d)
    md = hashes.SHA256()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_cert("Revoca rotation root", root_key.public_key(), None,
                   root_key, md)
    _write(os.path.join(d, "root.pem"), _pem(root))
    for gen in ("", "2"):
        k = ec.generate_private_key(ec.SECP256R1())
        ca = ca_cert("Revoca rotation CA", k.public_key(), root, root_key, md)
        _write(os.path.join(d, "issuer%s.pem" % gen), _pem(ca))
        _key(os.path.join(d, "issuer%s.key" % gen), k)
        _write(os.path.join(d, "ca%s.pem" % gen), _pem(ca) + _pem(root))
        for r in (["responder", "responder-b"] if gen == "" else
                  ["responder2"]):
            rk = ec.generate_private_key(ec.SECP256R1())
            _write(os.path.join(d, r + ".pem"),
                   _pem(_sign(responder_builder(ca, rk.public_key()), k, md)))
            _key(os.path.join(d, r + ".key"), rk)
        for leaf in ("good", "other", "revoked"):
            b, _ = leaf_builder(ca, leaf + gen + ".rotation.test")
            _write(os.path.join(d, leaf + gen + ".pem"),
                   _pem(_sign(b, k, md)))
    return d


def judge(der, pki, leaf, gen="", digest="sha1"):
    """(status, responder certificate) of an answer for LEAF, after
    `openssl ocsp` and Python cryptography both verified it."""
    path = os.path.join(pki, "answer.der")
    with open(path, "wb") as f:
        f.write(der)
    p = subprocess.run(
        ["openssl", "ocsp", "-respin", path, "-issuer",
         os.path.join(pki, "issuer%s.pem" % gen), "-" + digest, "-cert",
         leaf, "-CAfile",
         os.path.join(pki, "ca%s.pem" % gen), "-no_nonce"],
        capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert "Response verify OK" in out, out
    line = [l for l in out.splitlines() if l.startswith(leaf + ":")]
    assert line, out
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert len(resp.certificates) == 1
    rcert = resp.certificates[0]
    rcert.public_key().verify(resp.signature, resp.tbs_response_bytes,
                              ec.ECDSA(resp.signature_hash_algorithm))
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier \
        .from_public_key(rcert.public_key()).digest
    return line[0].split(":", 1)[1].strip(), rcert


LEAVES = {"good": "good", "other": "good", "revoked": "revoked"}


def answers(n, pki, gen=""):
    """Each leaf's answer from nginx N, judged: {leaf: responder cert}."""
    seen = {}
    for leaf, want in LEAVES.items():
        path = os.path.join(pki, leaf + gen + ".pem")
        for digest in ("sha1", "sha256"):
            r = post(n.port, request_der(pki, path, digest=digest)
                     if gen == "" else request_for(pki, path, gen, digest))
            status, rcert = judge(r.body, pki, path, gen, digest)
            assert status == want, (leaf, status)
            seen[leaf] = rcert
    return seen


def request_for(pki, leaf, gen, digest):
    algo = hashes.SHA1() if digest == "sha1" else hashes.SHA256()
    return ocsp.OCSPRequestBuilder().add_certificate(
        cert(leaf), cert(os.path.join(pki, "issuer%s.pem" % gen)), algo) \
        .build().public_bytes(serialization.Encoding.DER)


def conf_for(s, previous=None, **kw):
    """Writes S's config for issuer demo; PREVIOUS: a list of paths for
    previous_responder_certs (a libconfig array)."""
    s.write_conf([dict({"name": "demo"}, **kw)])
    if previous is not None:
        with open(s.conf) as f:
            text = f.read()
        text = text.replace("    name = \"demo\";\n", "    name = \"demo\";\n"
                            "    previous_responder_certs = [%s];\n" %
                            ", ".join('"%s"' % p for p in previous), 1)
        with open(s.conf, "w") as f:
            f.write(text)


def nginx_for(make_nginx, s, name):
    return make_nginx(s.conf, name=name)


def test_rotation_keeps_every_answer_verifiable(tmp_path, make_nginx):
    src = make_pki(str(tmp_path / "src"))
    s = Stack(tmp_path / "stack", src)
    try:
        A = cert(s.path("responder.pem"))
        B = cert(s.path("responder-b.pem"))
        signer = s.start_signer()
        for leaf in LEAVES:
            s.cli("issue", "--issuer", "demo", "--cert",
                  s.path(leaf + ".pem"))
        s.cli("revoke", "--issuer", "demo", "--cert", s.path("revoked.pem"),
              "--wait")
        n1 = nginx_for(make_nginx, s, "n1")
        assert set(answers(n1, s.pki).values()) == {A}

        # the metric: seconds to A's notAfter
        body = get_metrics(n1)
        m = re.search(r'^revoca_responder_cert_expiry_seconds\{issuer="demo"\}'
                      r' (-?\d+)$', body, re.M)
        assert m, body
        left = A.not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp() - time.time()
        assert abs(int(m.group(1)) - left) < 600, (m.group(1), left)

        # B without A listed: what A signed is no longer served (the gap
        # previous_responder_certs closes)
        signer.stop()
        n1.stop()
        conf_for(s, responder_cert="pki/responder-b.pem",
                 responder_key="pki/responder-b.key")
        n2 = nginx_for(make_nginx, s, "n2")
        r = post(n2.port, request_der(s.pki, s.path("good.pem")))
        assert r.ocsp_status == ocsp.OCSPResponseStatus.TRY_LATER
        n2.stop()

        # B with A as previous: every answer verifies, still with A's
        conf_for(s, responder_cert="pki/responder-b.pem",
                 responder_key="pki/responder-b.key",
                 previous=["pki/responder.pem"])
        n3 = nginx_for(make_nginx, s, "n3")
        assert set(answers(n3, s.pki).values()) == {A}
        s.start_signer()
        st = s.cli("resign", "--issuer", "demo", "--status").stdout
        assert "previous responder %s: 3" % s.path("responder.pem") in st, st

        # a new event is signed by B, the others stay A's
        s.cli("hold", "--issuer", "demo", "--cert", s.path("other.pem"),
              "--wait")
        s.cli("release", "--issuer", "demo", "--cert", s.path("other.pem"),
              "--wait")
        st = s.cli("resign", "--issuer", "demo", "--status").stdout
        assert "previous responder %s: 2" % s.path("responder.pem") in st, st

        p = s.cli("resign", "--issuer", "demo", "--all", "--rate", "2")
        assert "resign: scheduled 3" in p.stderr, p.stderr
        assert re.search(r"3 certificates scheduled for re-signing over 2 s",
                         p.stdout), p.stdout

        def moved():
            answers(n3, s.pki)  # verifiable at every step
            out = s.cli("resign", "--issuer", "demo", "--status").stdout
            return "previous responder %s: 0" % s.path("responder.pem") in out
        wait_for(moved, 60, 0.2, "every response re-signed by B")
        n3.stop()

        # A removed from the config: everything verifies with B
        conf_for(s, responder_cert="pki/responder-b.pem",
                 responder_key="pki/responder-b.key")
        n4 = nginx_for(make_nginx, s, "n4")
        assert set(answers(n4, s.pki).values()) == {B}

        # one serial, and errors
        p = s.cli("resign", "--issuer", "demo", "--serial",
                  s.serial_of(s.path("good.pem")))
        assert "scheduled for re-signing now" in p.stdout
        p = s.cli("resign", "--issuer", "demo", "--serial", "abcdef",
                  check=False)
        assert p.returncode == 2 and "no certificate abcdef" in p.stderr
        p = s.cli("resign", "--issuer", "demo", check=False)
        assert p.returncode == 2
    finally:
        s.close()


def get_metrics(n):
    import urllib.request
    with urllib.request.urlopen(n.url + "/metrics", timeout=10) as f:
        return f.read().decode()


def test_previous_responder_refused_when_not_a_delegate(tmp_path):
    src = make_pki(str(tmp_path / "src"))
    s = Stack(tmp_path / "stack", src)
    try:
        # the second generation's responder is not the first CA's delegate
        conf_for(s, responder_cert="pki/responder-b.pem",
                 responder_key="pki/responder-b.key",
                 previous=["pki/responder2.pem"])
        p = subprocess.run([SIGNER, "-c", s.conf,
                            "--check"], capture_output=True, text=True)
        assert p.returncode != 0
        assert "not a delegated responder of the CA" in p.stderr, p.stderr
        conf_for(s, previous=["pki/responder-b.pem"],
                 responder_cert=None, responder_key=None)
        p = subprocess.run([SIGNER, "-c", s.conf, "--check"],
                           capture_output=True, text=True)
        assert p.returncode != 0 and "needs the responder_cert" in p.stderr
    finally:
        s.close()




def test_issuer_rollover_same_name_two_keys(tmp_path, make_nginx):
    src = make_pki(str(tmp_path / "src"))
    s = Stack(tmp_path / "stack", src, issuers=[
        {"name": "demo"},
        {"name": "demo-2", "cert": "pki/issuer2.pem", "key": "pki/issuer2.key",
         "responder_cert": "pki/responder2.pem",
         "responder_key": "pki/responder2.key"}])
    try:
        c1, c2 = cert(s.path("issuer.pem")), cert(s.path("issuer2.pem"))
        assert c1.subject == c2.subject
        s.start_signer()
        for gen, name in (("", "demo"), ("2", "demo-2")):
            for leaf in LEAVES:
                s.cli("issue", "--issuer", name, "--cert",
                      s.path(leaf + gen + ".pem"))
            s.cli("revoke", "--issuer", name, "--cert",
                  s.path("revoked%s.pem" % gen), "--wait")
        n = make_nginx(s.conf)
        assert set(answers(n, s.pki).values()) == {
            cert(s.path("responder.pem"))}
        assert set(answers(n, s.pki, "2").values()) == {
            cert(s.path("responder2.pem"))}

        # a leaf of the first generation asked with the second's key hash:
        # demo-2 never issued it
        r = post(n.port, request_for(s.pki, s.path("good.pem"), "2", "sha1"))
        assert r.ocsp_status != ocsp.OCSPResponseStatus.SUCCESSFUL or \
            r.ocsp().certificate_status != ocsp.OCSPCertStatus.GOOD, r.body

        # the name hash of both, the key hash of neither: unauthorized
        # (cryptography here has no add_certificate_by_hash: the key hash
        # of a real request is replaced, same length, same DER)
        for digest in ("sha1", "sha256"):
            der = request_for(s.pki, s.path("good.pem"), "", digest)
            kh = ocsp.load_der_ocsp_request(der).issuer_key_hash
            assert der.count(kh) == 1
            forged = der.replace(kh, os.urandom(len(kh)))
            req = ocsp.load_der_ocsp_request(forged)
            assert req.issuer_name_hash == ocsp.load_der_ocsp_request(
                request_for(s.pki, s.path("good2.pem"), "2",
                            digest)).issuer_name_hash
            r = post(n.port, forged)
            assert r.ocsp_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    finally:
        s.close()



def test_expiry_warning_while_running(tmp_path, make_nginx):
    """A responder certificate that enters responder_expiry_warning while
    the signer and nginx run is warned about by both (the periodic check,
    at most once a minute), not at start; the gauge counts down to it."""
    src = make_pki(str(tmp_path / "src"))
    with open(os.path.join(src, "issuer.key"), "rb") as f:
        ik = serialization.load_pem_private_key(f.read(), None)
    rk = ec.generate_private_key(ec.SECP256R1())
    # notAfter a day and 8 s away, the margin a day: outside it at start
    b = responder_builder(cert(os.path.join(src, "issuer.pem")),
                          rk.public_key(), days=1 + 8 / 86400)
    _write(os.path.join(src, "responder-soon.pem"),
           _pem(_sign(b, ik, hashes.SHA256())))
    _key(os.path.join(src, "responder-soon.key"), rk)
    s = Stack(tmp_path / "stack", src, issuers=[{
        "name": "demo", "responder_cert": "pki/responder-soon.pem",
        "responder_key": "pki/responder-soon.key",
        "responder_expiry_warning": '"1d"'}])
    try:
        signer = s.start_signer()
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        n = make_nginx(s.conf, name="n")
        soon = cert(s.path("responder-soon.pem"))
        assert "near its expiry" not in signer.output()
        assert "near its expiry" not in n.log()
        m = re.search(r'^revoca_responder_cert_expiry_seconds\{issuer="demo"\}'
                      r' (-?\d+)$', get_metrics(n), re.M)
        left = soon.not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp() - time.time()
        assert m and 0 < int(m.group(1)) <= 86400 + 8
        assert abs(int(m.group(1)) - left) < 60, (m.group(1), left)

        def warned():
            # a miss each time (an unissued serial): the worker's check
            post(n.port, request_der(s.pki, s.path("revoked.pem")))
            return ("responder certificate near its expiry issuer=demo"
                    in signer.output() and
                    "revoca: responder certificate near its expiry "
                    "issuer=demo" in n.log())
        wait_for(warned, 150, 1.0, "the periodic expiry warnings")
        na = soon.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "not_after=" + na in signer.output()
        # once, not at every check
        post(n.port, request_der(s.pki, s.path("revoked.pem")))
        assert signer.output().count("near its expiry") == 1
    finally:
        s.close()
