"""Delta CRLs from the running daemon: new revocations, certificateHold and
removeFromCRL on release, checked with `openssl verify -use_deltas`."""
import os
import time

from cryptography import x509

from conftest import (cert, certtool_verify, openssl_crl_verify,
                      openssl_verify, py_verify, to_pem, wait_for)


def delta_entry(s, serial):
    try:
        crl = s.crl("demo-delta.crl")
    except (FileNotFoundError, ValueError):
        return None
    return crl.get_revoked_certificate_by_serial_number(serial)


def reason_of(entry):
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


def verify_with_deltas(s, tmp, leaf):
    full = to_pem(s.file("demo.crl"), os.path.join(tmp, "full.pem"))
    delta = to_pem(s.file("demo-delta.crl"), os.path.join(tmp, "delta.pem"))
    return openssl_verify(s.path(leaf), s.path("chain.pem"), [full, delta],
                          deltas=True)


def test_delta_follows_revoke_hold_release(crlstack, tmp_path):
    s = crlstack
    gen = s.start_crlgen()
    wait_for(lambda: os.path.exists(s.file("demo-delta.crl")), what="first delta")
    base = s.crl("demo.crl")
    base_number = base.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    good = cert(s.path("good.pem")).serial_number
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
    revoked = s.issue_revoke("revoked", "keyCompromise")

    # a revocation reaches the next delta (update_interval 1s in the test)
    e = wait_for(lambda: delta_entry(s, revoked), what="revocation in delta")
    assert reason_of(e) == x509.ReasonFlags.key_compromise
    delta = py_verify(s.crl("demo-delta.crl"), s.path("issuer.pem"))
    ind = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert ind.critical and ind.value.crl_number == base_number
    assert delta.extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number > base_number
    openssl_crl_verify(s.file("demo-delta.crl"), s.path("issuer.pem"))
    certtool_verify(to_pem(s.file("demo-delta.crl"), str(tmp_path / "d.pem")),
                    s.path("issuer.pem"))
    ok, out = verify_with_deltas(s, str(tmp_path), "revoked.pem")
    assert not ok and "revoked" in out, out
    ok, out = verify_with_deltas(s, str(tmp_path), "good.pem")
    assert ok, out

    # hold: certificateHold in the delta, and OpenSSL rejects the cert
    s.cli("hold", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
    e = wait_for(lambda: (lambda x: x if x is not None and reason_of(x) ==
                          x509.ReasonFlags.certificate_hold else None)(
                              delta_entry(s, good)), what="hold in delta")
    ok, out = verify_with_deltas(s, str(tmp_path), "good.pem")
    assert not ok, out

    # release: removeFromCRL, and the certificate verifies again
    s.cli("release", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
    wait_for(lambda: (lambda x: x is not None and reason_of(x) ==
                      x509.ReasonFlags.remove_from_crl)(delta_entry(s, good)),
             what="removeFromCRL in delta")
    ok, out = verify_with_deltas(s, str(tmp_path), "good.pem")
    assert ok, out
    # the revocation is still listed beside it
    assert reason_of(delta_entry(s, revoked)) == x509.ReasonFlags.key_compromise

    # every event was acknowledged once a CRL covering it was out
    r = s.r()
    wait_for(lambda: r.xpending("revoca:events", "crlgen")["pending"] == 0,
             what="events acknowledged")
    assert gen.alive()
    gen.stop()
    assert "[crit]" not in gen.output()


def test_full_crl_lists_hold_until_released(crlstack):
    s = crlstack
    good = cert(s.path("good.pem")).serial_number
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
    s.cli("hold", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
    s.once()
    e = s.crl("demo.crl").get_revoked_certificate_by_serial_number(good)
    assert reason_of(e) == x509.ReasonFlags.certificate_hold
    s.cli("release", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
    s.once()   # the check lets a released hold leave the full CRL
    assert s.crl("demo.crl").get_revoked_certificate_by_serial_number(good) is None
    e = s.crl("demo-delta.crl").get_revoked_certificate_by_serial_number(good)
    assert reason_of(e) == x509.ReasonFlags.remove_from_crl


def test_daemon_resigns_on_schedule(tmp_path, pki_dir):
    """Full and delta CRLs are re-issued at resign_after / half the delta
    lifetime without any change, with newer numbers and thisUpdate."""
    from conftest import CrlStack
    s = CrlStack(tmp_path, pki_dir, issuers=[{"name": "demo", "crl":
        '{ lifetime = "10m"; resign_after = "2s"; update_interval = "1s"; '
        'delta_lifetime = "2m"; }'}])
    try:
        s.start_signer()
        gen = s.start_crlgen()
        wait_for(lambda: s.number("demo.crl") > 0, what="first full CRL")
        first = s.crl("demo.crl")
        n1 = s.number("demo.crl")
        wait_for(lambda: s.number("demo.crl") > n1, timeout=30,
                 what="the re-signed full CRL")
        second = s.crl("demo.crl")
        assert second.last_update > first.last_update
        assert second.next_update - second.last_update == \
            first.next_update - first.last_update
        # the delta follows the new base
        wait_for(lambda: s.crl("demo-delta.crl").extensions.get_extension_for_class(
            x509.DeltaCRLIndicator).value.crl_number == s.number("demo.crl"),
            what="a delta over the new base")
        gen.stop()
    finally:
        s.close()


def test_daemon_survives_redis_restart(crlstack):
    # Redis killed under a running generator: it keeps running, reconnects
    # on its own and puts the next revocation on the delta, no restart
    s = crlstack
    gen = s.start_crlgen()
    wait_for(lambda: os.path.exists(s.file("demo-delta.crl")), what="first delta")
    s.redis.kill()
    time.sleep(2)
    assert gen.alive()
    s.redis.start()  # same port, AOF keeps the data
    revoked = s.issue_revoke("revoked", "keyCompromise")
    e = wait_for(lambda: delta_entry(s, revoked), timeout=60,
                 what="revocation in the delta after Redis came back")
    assert reason_of(e) == x509.ReasonFlags.key_compromise
    assert gen.alive()
