"""The URLs the purge hook is given (docs/purge.md) are the URLs nginx with
the module answers: every one fetched, exactly as given, from Debian's
nginx, answers the certificate's current status for the CertID hash it
names, with the bytes the signer stored."""
import os
import sys
import urllib.request

from cryptography.x509 import ocsp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from revoca_fixtures import Stack, cert, py_ocsp, wait_for  # noqa: E402
from test_purge import Hook, decode_url, expected_urls, purge_conf  # noqa: E402


def test_nginx_answers_the_purged_urls(tmp_path, pki_dir, make_nginx):
    hook = Hook(tmp_path)
    conf = os.path.join(str(tmp_path), "stack", "revoca.conf")
    nginx = make_nginx(conf, start=False)
    # with and without the trailing '/': the same URLs (ocsp_get_url())
    bases = [nginx.url + "/ocsp", nginx.url + "/ocsp/"]
    os.makedirs(os.path.dirname(conf))
    stack = Stack(tmp_path / "stack", pki_dir, extra=purge_conf(
        hook, ocsp_urls="(%s)" % ", ".join('"%s"' % b for b in bases)))
    try:
        nginx.start()
        stack.start_signer()
        good, revoked = stack.path("good.pem"), stack.path("revoked.pem")
        stack.cli("issue", "--issuer", "demo", "--cert", good)
        stack.cli("issue", "--issuer", "demo", "--cert", revoked)
        stack.cli("revoke", "--issuer", "demo", "--cert", revoked,
                  "--reason", "keyCompromise", "--wait")
        wait_for(lambda: len(hook.runs("ok")) >= 3, 30, what="three runs")
        runs = hook.runs("ok")
        assert len(runs) == 3
        by_serial = {}
        for run in runs:
            serial = decode_url(run["argv"][0], bases).serial_number
            by_serial.setdefault(serial, []).append(run["argv"])
        for leaf, want in ((good, ocsp.OCSPCertStatus.GOOD),
                           (revoked, ocsp.OCSPCertStatus.REVOKED)):
            urls = by_serial[cert(leaf).serial_number][-1]
            assert urls == expected_urls(stack, leaf, bases)
            for url, digest in zip(urls, ["sha1", "sha256"] * len(bases)):
                with urllib.request.urlopen(url, timeout=10) as r:
                    assert r.status == 200
                    assert r.headers["content-type"] == \
                        "application/ocsp-response"
                    body = r.read()
                resp = py_ocsp(body, stack.pki)
                assert resp.certificate_status == want
                assert resp.serial_number == cert(leaf).serial_number
                assert resp.hash_algorithm.name == digest
                assert body == stack.response(stack.serial_of(leaf), digest)
    finally:
        stack.close()
