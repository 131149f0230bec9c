"""A second nginx, TLS with ssl_stapling on and ssl_stapling_verify on,
fetches its staple from ours (nginx's stapling client uses GET);
`openssl s_client -status` shows it."""
import os
import subprocess

from revoca_fixtures import wait_for


def s_client(port, pki):
    p = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-status",
         "-servername", "good.demo.test",
         "-CAfile", os.path.join(pki, "ca.pem")],
        input="", capture_output=True, text=True, timeout=30)
    return p.stdout + p.stderr


def tls_front(stack, make_nginx, stem, ours, extra=""):
    """A second nginx serving STEM's certificate over TLS with
    ssl_stapling_verify, fetching its staple from OURS."""
    full = os.path.join(stack.tmp, "fullchain.pem")
    with open(full, "w") as f:
        for name in (stem, "issuer"):
            with open(stack.path(name + ".pem")) as g:
                f.write(g.read())
    return make_nginx(name="tls", load=False, ssl=True, http="", server="""
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_stapling on;
        ssl_stapling_verify on;
        ssl_trusted_certificate %s;
        ssl_stapling_responder %s/ocsp;
        %s
    """ % (full, stack.path(stem + ".key"), stack.path("ca.pem"), ours.url,
           extra))


def test_stapling_from_our_responder(stack, make_nginx):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    ours = make_nginx(stack.conf)
    tls = tls_front(stack, make_nginx, "good", ours,
                    'location / { return 200 "hello\\n"; }')

    def stapled():
        out = s_client(tls.port, stack.pki)
        return out if "OCSP Response Status: successful" in out else None
    out = wait_for(stapled, 30, 0.3, "a stapled OCSP response")
    assert "Cert Status: good" in out, out
    assert "Verify return code: 0 (ok)" in out, out
    # the staple came from us, over GET
    with open(os.path.join(ours.prefix, "access.log")) as f:
        log = f.read()
    assert '"GET /ocsp/' in log, log


def test_stapling_of_revoked_cert(stack, make_nginx):
    # nginx checks the staple and refuses to staple a non-good status: it
    # must have fetched and verified ours and found "revoked"
    stack.start_signer()
    leaf = stack.path("revoked.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", leaf)
    stack.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
    ours = make_nginx(stack.conf)
    tls = tls_front(stack, make_nginx, "revoked", ours)

    def refused():
        s_client(tls.port, stack.pki)
        return 'certificate status "revoked" in the OCSP response' in tls.log()
    wait_for(refused, 30, 0.3, "nginx to fetch and check the staple")
    assert "OCSP response: no response sent" in s_client(tls.port, stack.pki)
