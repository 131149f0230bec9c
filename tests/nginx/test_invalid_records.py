"""Status records the signer could never have written, read by the module
when it signs on the request path: never answered (internalError, RFC 6960
4.2.1), never cached, logged with their Redis key.  The records are written
as raw protobuf bytes, the way a corrupted or foreign writer would."""
import os
import time

import pytest
from cryptography.x509 import ocsp

from ocsp_client import get_raw, post, request_der
from revoca_fixtures import raw_cert_record as record


def metric(n, name):
    for line in get_raw(n.port, "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name)


YEAR = 365 * 86400

# (name, status, notAfter offset, revocation time offset, reason)
BAD_RECORDS = [
    # an unknown status with a notAfter: the old module signed it "good"
    ("unknown-status", 5, YEAR, None, None),
    # revoked with reason 99: the old module signed that reason
    ("reason-99", 1, YEAR, -3600, 99),
    # held without a hold time: the old module signed "revoked at 1970"
    ("hold-without-time", 2, YEAR, None, None),
]


@pytest.mark.parametrize("mode", ["nonce", "unissued"])
@pytest.mark.parametrize("name,status,after,rev,reason", BAD_RECORDS,
                         ids=[b[0] for b in BAD_RECORDS])
def test_invalid_record_never_answered(stack, make_nginx, mode, name, status,
                                       after, rev, reason):
    now = int(time.time())
    if mode == "nonce":
        # a pre-signed answer exists; a nonce request signs from the record
        leaf = stack.path("good.pem")
        sig = stack.start_signer()
        stack.cli("issue", "--issuer", "demo", "--cert", leaf)
        assert stack.response(stack.serial_of(leaf))
        sig.stop()
    else:
        # as the dev stack runs it: no pre-signed answer, the record decides
        leaf = stack.path("unissued.pem")
    serial = stack.serial_of(leaf)
    key = "revoca:cert:demo:" + serial
    stack.r().set(key, record(serial, status, now + after,
                              None if rev is None else now + rev, reason))
    n = make_nginx(stack.conf, loc="revoca_sign %s;" % mode,
                   http="revoca_config %s; revoca_cache_zone 1m;"
                        " revoca_sign_rate 1000r/s;" % stack.conf)
    for _ in range(3):
        nonce = os.urandom(16) if mode == "nonce" else None
        r = post(n.port, request_der(stack.pki, leaf, nonce=nonce))
        assert r.ocsp_status == ocsp.OCSPResponseStatus.INTERNAL_ERROR, name
        assert r.headers["cache-control"] == "max-age=0, no-cache"
    # nothing signed, nothing cached
    assert metric(n, "revoca_ocsp_signed_total") == 0
    assert metric(n, "revoca_ocsp_cache_hits_total") == 0
    # one line naming the key, not one per request (a hot serial must not
    # flood the log)
    lines = [l for l in n.log().splitlines()
             if "invalid status record" in l]
    assert lines and key in lines[0], n.log()
    assert len(lines) < 3, lines


def test_valid_record_still_signed(stack, make_nginx):
    # the same hand encoding, valid: signed as revoked (keyCompromise), so
    # the refusals above are about validity, not about the encoding
    leaf = stack.path("unissued.pem")
    serial = stack.serial_of(leaf)
    now = int(time.time())
    stack.r().set("revoca:cert:demo:" + serial,
                  record(serial, 1, now + YEAR, now - 3600, 1))
    n = make_nginx(stack.conf, loc="revoca_sign unissued;")
    r = post(n.port, request_der(stack.pki, leaf))
    assert r.ocsp_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    single = r.ocsp()
    assert single.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert single.revocation_reason.name == "key_compromise"
