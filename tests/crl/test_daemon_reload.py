"""systemd readiness and reload of both daemons (issue 15 part 2;
responder/daemon.h): revoca-signer and revoca-crlgen tell systemd READY=1
(Type=notify, over a real NOTIFY_SOCKET datagram socket the test binds)
once their keys are loaded and Redis answered; SIGHUP (`systemctl
reload`) re-reads the configuration in place, same pid, once a fresh
`--check` of it passes, and the new settings are then in force; a broken
configuration is refused and the daemon goes on with the one it had."""
import os
import signal
import socket

import pytest
from cryptography.x509 import ocsp

from conftest import CrlStack, crl_group
from revoca_fixtures import wait_for


class Notify:
    """The NOTIFY_SOCKET end systemd would hold: what the daemons send."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.got = []

    def poll(self):
        try:
            while True:
                self.got.append(self.sock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            pass
        return self.got

    def count(self, what):
        return sum(1 for m in self.poll() for line in m.split("\n")
                   if line == what)

    def close(self):
        self.sock.close()


@pytest.fixture
def reload_stack(tmp_path, pki_dir, monkeypatch):
    note = Notify(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", note.path)
    s = CrlStack(tmp_path, pki_dir)
    yield s, note
    s.close()
    note.close()


def validity_of(s, pem):
    r = ocsp.load_der_ocsp_response(s.response(s.serial_of(pem)))
    return (r.next_update - r.this_update).total_seconds()


def issuer(validity):
    return [{"name": "demo", "validity": '"%s"' % validity,
             "crl": '{ update_interval = "1s"; }'}]


def test_signer_ready_reload_and_refusal(reload_stack):
    s, note = reload_stack
    sig = s.start_signer()
    wait_for(lambda: note.count("READY=1") == 1, 30, what="READY=1")
    pid = sig.proc.pid
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
    before = validity_of(s, s.path("good.pem"))

    # a new validity: in force after the reload, for what is signed next
    s.reconf(issuer("2d"))
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: note.count("READY=1") == 2, 60, what="READY=1 again")
    assert note.count("RELOADING=1") == 1
    assert sig.alive() and sig.proc.pid == pid
    assert "restarting in place" in sig.output()
    s.cli("issue", "--issuer", "demo", "--cert", s.path("revoked.pem"))
    after = validity_of(s, s.path("revoked.pem"))
    assert after != before and after > 1.5 * 86400, (before, after)

    # a broken configuration: refused, the running one stays
    with open(s.conf, "a") as f:
        f.write("issuers = (  # unterminated\n")
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "reload refused" in sig.output(), 60,
             what="the refusal")
    assert sig.alive() and sig.proc.pid == pid
    assert note.count("RELOADING=1") == 1
    s.reconf(issuer("2d"))  # for the CLI; the signer read it before
    s.r().delete("revoca:ocsp:demo:%s" % s.serial_of(s.path("good.pem")))
    s.cli("revoke", "--issuer", "demo", "--cert", s.path("good.pem"),
          "--reason", "keyCompromise", "--wait")
    r = ocsp.load_der_ocsp_response(s.response(s.serial_of(s.path("good.pem"))))
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert sig.stop() == 0


def test_crlgen_ready_reload_and_refusal(reload_stack):
    s, note = reload_stack
    s.start_signer()
    wait_for(lambda: note.count("READY=1") == 1, 30, what="signer READY=1")
    gen = s.start_crlgen()
    wait_for(lambda: note.count("READY=1") == 2, 30, what="crlgen READY=1")
    wait_for(lambda: os.path.exists(s.file("demo.crl")), 30, what="a CRL")
    pid = gen.proc.pid

    # a second publish directory: the next CRLs go there after the reload
    other = os.path.join(s.tmp, "pub2")
    s.write_conf(issuer("1d"), crl_group(other))
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: note.count("READY=1") == 3, 60, what="READY=1 again")
    assert gen.alive() and gen.proc.pid == pid
    wait_for(lambda: os.path.exists(os.path.join(other, "demo.crl")), 60,
             what="a CRL in the new publish directory")

    with open(s.conf, "a") as f:
        f.write("crl = 12;\n")  # a duplicate setting: --check fails
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "reload refused" in gen.output(), 60, what="the refusal")
    assert gen.alive() and gen.proc.pid == pid
    assert gen.stop() == 0
