"""A DER CA certificate and a DER CA key work for CRLs as they do for OCSP:
revoca-crlgen loads both through the core's loaders (ocsp_cert_load,
ocsp_key_load), and the CRL it signs verifies under `openssl crl -verify`."""
import subprocess

import pytest

from conftest import CRLGEN, CrlStack, openssl_crl_verify, py_verify


def der(src, dst, *cmd):
    subprocess.run(["openssl"] + list(cmd) + ["-in", src, "-outform", "DER",
                                              "-out", dst],
                   check=True, capture_output=True)


@pytest.mark.parametrize("kind,keyform", [("ec", "pkcs8"), ("rsa", "traditional")])
def test_der_ca_certificate_and_key(tmp_path, pki_dir, pki_rsa_dir, kind,
                                    keyform):
    s = CrlStack(tmp_path, pki_dir if kind == "ec" else pki_rsa_dir)
    try:
        der(s.path("issuer.pem"), s.path("issuer.der"), "x509")
        if keyform == "pkcs8":
            der(s.path("issuer.key"), s.path("issuer.key.der"), "pkcs8",
                "-topk8", "-nocrypt")
        else:
            der(s.path("issuer.key"), s.path("issuer.key.der"),
                "rsa" if kind == "rsa" else "ec")
        with open(s.path("issuer.key.der"), "rb") as f:
            assert not f.read(16).startswith(b"-----")
        s.reconf([{"name": "demo", "cert": "pki/issuer.der",
                   "key": "pki/issuer.key.der",
                   "crl": '{ update_interval = "1s"; }'}])
        s.start_signer()
        revoked = s.issue_revoke("revoked")

        p = subprocess.run([CRLGEN, "-c", s.conf, "--check"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        s.once()
        crl = py_verify(s.crl("demo.crl"), s.path("issuer.pem"))
        assert [r.serial_number for r in crl] == [revoked]
        out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                              s.file("demo.crl"), "-CAfile",
                              s.path("issuer.pem"), "-verify", "-noout"],
                             capture_output=True, text=True)
        assert out.returncode == 0 and "verify OK" in out.stdout + out.stderr, \
            out.stdout + out.stderr
        openssl_crl_verify(s.file("demo-delta.crl"), s.path("issuer.pem"))
    finally:
        s.close()
