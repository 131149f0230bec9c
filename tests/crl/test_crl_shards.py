"""Sharded CRLs: a certificate's shard (from its issue event, else its
serial modulo N), one CRL per shard with a critical IDP byte-identical to the
certificate's CRL distribution point, and the CCADB shard list."""
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import demo_pki
from conftest import (BASE_URL, CrlStack, cert, certtool_verify,
                      openssl_verify, py_verify, to_pem)

N = 4


def tlv(b, i):
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, n  # tag, content offset, content length


def ext_value(der, oid_content):
    """extnValue contents of the first extension with OID in DER."""
    needle = b"\x06" + bytes([len(oid_content)]) + oid_content
    i = der.index(needle) + len(needle)
    tag, off, n = tlv(der, i)
    if tag == 0x01:                       # critical BOOLEAN
        i = off + n
        tag, off, n = tlv(der, i)
    assert tag == 0x04
    return der[off:off + n]


def idp_dp_name(crl_der):
    v = ext_value(crl_der, b"\x55\x1d\x1c")   # IssuingDistributionPoint
    tag, off, n = tlv(v, 0)                    # SEQUENCE
    tag, o2, n2 = tlv(v, off)                  # [0] distributionPoint
    assert tag == 0xa0
    return v[off:o2 + n2]


def cert_dp_name(cert_der):
    v = ext_value(cert_der, b"\x55\x1d\x1f")   # CRLDistributionPoints
    tag, off, n = tlv(v, 0)                    # SEQUENCE OF
    tag, off, n = tlv(v, off)                  # DistributionPoint
    tag, o2, n2 = tlv(v, off)                  # [0] distributionPoint
    assert tag == 0xa0
    return v[off:o2 + n2]


def shard_url(i):
    return "%sdemo-shard-%d.crl" % (BASE_URL, i)


def make_leaves(s, count, shard_of):
    ca, ca_key = demo_pki.load(s.pki, "issuer")
    out = []
    for k in range(count):
        serial = x509.random_serial_number()
        leaf, _ = demo_pki.make_leaf(ca, ca_key, "l%d.demo.test" % k,
                                     serial=serial,
                                     crl_url=shard_url(shard_of(serial, k)))
        path = os.path.join(s.tmp, "leaf%d.pem" % k)
        with open(path, "wb") as f:
            f.write(leaf.public_bytes(serialization.Encoding.PEM))
        out.append((path, serial))
    return out


def test_shards_idp_and_assignment(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir, issuers=[{"name": "demo", "shards": N}])
    try:
        s.start_signer()
        # derived shards: serial mod N (serial.h), as a CA can compute
        leaves = make_leaves(s, 8, lambda serial, k: serial % N)
        for path, _ in leaves:
            s.cli("issue", "--issuer", "demo", "--cert", path)
            s.cli("revoke", "--issuer", "demo", "--cert", path, "--wait")
        # a shard fixed at issuance wins over the serial
        (pinned, pserial), = make_leaves(s, 1, lambda serial, k: (serial + 1) % N)
        s.cli("issue", "--issuer", "demo", "--cert", pinned,
              "--shard", str((pserial + 1) % N))
        s.cli("revoke", "--issuer", "demo", "--cert", pinned, "--wait")
        s.once()

        with open(s.file("demo-shards.json")) as f:
            assert json.load(f) == [shard_url(i) for i in range(N)]
        expect = {i: sorted(sr for _, sr in leaves if sr % N == i) for i in range(N)}
        expect[(pserial + 1) % N] = sorted(expect[(pserial + 1) % N] + [pserial])
        full = s.serials("demo.crl")
        assert full == sorted(sr for _, sr in leaves + [(pinned, pserial)])
        numbers = set()
        for i in range(N):
            name = "demo-shard-%d.crl" % i
            crl = py_verify(s.crl(name), s.path("issuer.pem"))
            assert [r.serial_number for r in crl] == expect[i]
            idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
            assert idp.critical
            assert idp.value.full_name[0].value == shard_url(i)
            numbers.add(s.number(name))
            # GnuTLS verifies it.  (NSS's crlutil refuses any CRL with a
            # critical IDP, SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION, which
            # the Baseline Requirements demand: NSS is checked on full CRLs.)
            info = certtool_verify(to_pem(s.file(name), os.path.join(
                s.tmp, "c%d.pem" % i)), s.path("issuer.pem"))
            for sr in expect[i]:
                assert ("%x" % sr) in "".join(info.split()).replace(":", "").lower()
        assert len(numbers) == N and s.number("demo.crl") not in numbers

        # IDP bytes == the certificate's CRL DP bytes; OpenSSL agrees on scope
        for path, serial in leaves + [(pinned, pserial)]:
            c = cert(path)
            dp = c.extensions.get_extension_for_class(
                x509.CRLDistributionPoints).value[0].full_name[0].value
            i = int(dp.rsplit("-", 1)[1].split(".")[0])
            with open(s.file("demo-shard-%d.crl" % i), "rb") as f:
                crl_der = f.read()
            assert idp_dp_name(crl_der) == cert_dp_name(
                c.public_bytes(serialization.Encoding.DER))
            pem = to_pem(s.file("demo-shard-%d.crl" % i),
                         os.path.join(s.tmp, "s%d.pem" % i))
            ok, out = openssl_verify(path, s.path("chain.pem"), [pem])
            assert not ok and "revoked" in out, out
            # another shard's CRL is out of scope for this certificate
            other = (i + 1) % N
            pem = to_pem(s.file("demo-shard-%d.crl" % other),
                         os.path.join(s.tmp, "s%d.pem" % other))
            ok, out = openssl_verify(path, s.path("chain.pem"), [pem])
            assert not ok and ("different CRL scope" in out or
                               "unable to get certificate CRL" in out), out
    finally:
        s.close()
