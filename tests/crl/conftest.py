"""Fixtures for revoca-crlgen's integration tests: the shared harness of
tests/integration (real redis-server, revoca-signer, revoca CLI, demo PKI)
plus the generator itself and CRL checkers we did not write (OpenSSL,
GnuTLS certtool, NSS crlutil, Python cryptography)."""
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from revoca_fixtures import (BUILD, Daemon, LoopbackListener, Stack, cert,  # noqa: E402,F401
                             make_pki_dir, pki_dir, pki_rsa_dir, wait_for)

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")
SEED = os.path.join(BUILD, "crlgen", "crlgen-seed")
BASE_URL = "http://127.0.0.1:8080/crl/"


def crl_group(publish_dir, **kw):
    fields = {"publish_dir": '"%s"' % publish_dir,
              "base_url": '"%s"' % BASE_URL, "lease_ttl": '"3s"',
              "claim_idle": '"2s"'}
    fields.update(kw)
    return "crl = { %s };" % " ".join("%s = %s;" % (k, v)
                                      for k, v in fields.items())


class CrlStack(Stack):
    """Stack + revoca-crlgen with a publish dir under the test's tmp."""

    def __init__(self, tmp, pki_src, issuers=None, crl=None):
        self.pub = os.path.join(str(tmp), "pub")
        self.gens = []
        issuers = issuers or [{"name": "demo",
                               "crl": '{ update_interval = "1s"; }'}]
        super().__init__(tmp, pki_src, issuers,
                         crl_group(self.pub, **(crl or {})))

    def reconf(self, issuers, crl=None, pub=None):
        self.write_conf(issuers, crl_group(pub or self.pub, **(crl or {})))

    def once(self, *extra, env=None, check=True, conf=None):
        p = subprocess.run([CRLGEN, "-c", conf or self.conf, "--once"] +
                           list(extra), capture_output=True, text=True,
                           timeout=120, env=env)
        if check and p.returncode != 0:
            raise AssertionError("revoca-crlgen --once failed (%d): %s" %
                                 (p.returncode, p.stderr))
        return p

    def start_crlgen(self, conf=None, env=None):
        n = len(self.gens)
        d = Daemon([CRLGEN, "-c", conf or self.conf, "-v"],
                   os.path.join(self.tmp, "crlgen%d.log" % n))
        if env is not None:
            d.logf = open(d.log, "ab")
            d.proc = subprocess.Popen(d.argv, stdout=d.logf, stderr=d.logf,
                                      env=env)
        else:
            d.start()
        self.gens.append(d)
        return d

    def file(self, name, pub=None):
        return os.path.join(pub or self.pub, name)

    def crl(self, name, pub=None):
        from cryptography import x509
        with open(self.file(name, pub), "rb") as f:
            return x509.load_der_x509_crl(f.read())

    def number(self, name, pub=None):
        from cryptography import x509
        try:
            c = self.crl(name, pub)
        except (FileNotFoundError, ValueError):
            return 0
        return c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    def serials(self, name, pub=None):
        return [r.serial_number for r in self.crl(name, pub)]

    def issue_revoke(self, stem, reason="keyCompromise"):
        self.cli("issue", "--issuer", "demo", "--cert", self.path(stem + ".pem"))
        self.cli("revoke", "--issuer", "demo", "--cert", self.path(stem + ".pem"),
                 "--reason", reason, "--wait")
        return cert(self.path(stem + ".pem")).serial_number

    def close(self):
        for g in self.gens:
            if g.alive():
                g.stop(signal.SIGKILL if g.proc.poll() is None else signal.SIGTERM)
        super().close()


@pytest.fixture
def crlstack(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    s.start_signer()
    yield s
    s.close()


# --- checkers we did not write ------------------------------------------

def to_pem(der_path, out):
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", der_path,
                    "-out", out], check=True, capture_output=True)
    return out


def openssl_crl_verify(der_path, ca_pem):
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", der_path,
                        "-CAfile", ca_pem, "-noout"],
                       capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "verify OK" in out, out
    return out


def openssl_verify(leaf, chain, crls, deltas=False):
    """`openssl verify -crl_check`: returns (ok, output)."""
    argv = ["openssl", "verify", "-crl_check", "-CAfile", chain]
    if deltas:
        argv.append("-use_deltas")
    for c in crls:
        argv += ["-CRLfile", c]
    p = subprocess.run(argv + [leaf], capture_output=True, text=True)
    return p.returncode == 0, p.stdout + p.stderr


def certtool_verify(pem_path, ca_pem):
    p = subprocess.run(["certtool", "--verify-crl", "--load-ca-certificate",
                        ca_pem, "--infile", pem_path],
                       capture_output=True, text=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Verified" in out, out
    info = subprocess.run(["certtool", "--crl-info", "--infile", pem_path],
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    return info.stdout


def nss_import(der_path, ca_pem, workdir):
    """NSS: crlutil imports (and so verifies) the CRL into a fresh db."""
    db = os.path.join(workdir, "nssdb-%d" % time.monotonic_ns())
    os.makedirs(db)
    subprocess.run(["certutil", "-N", "-d", "sql:" + db, "--empty-password"],
                   check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", "sql:" + db, "-n", "issuer",
                    "-t", "CT,C,C", "-a", "-i", ca_pem],
                   check=True, capture_output=True)
    p = subprocess.run(["crlutil", "-I", "-d", "sql:" + db, "-t", "1",
                        "-i", der_path], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    listing = subprocess.run(["crlutil", "-L", "-d", "sql:" + db, "-n",
                              "issuer"],
                             capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    return listing.stdout


def py_verify(crl, issuer_pem):
    """Python cryptography: signature, sorted entries, v2, AKI."""
    from cryptography import x509
    iss = cert(issuer_pem)
    assert crl.is_signature_valid(iss.public_key())
    assert crl.issuer == iss.subject
    serials = [r.serial_number for r in crl]
    assert serials == sorted(serials)
    assert len(set(serials)) == len(serials)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ski = iss.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.value.key_identifier == ski.value.digest
    return crl


def openssl_crl_numbers(der_path):
    """(cRLNumber, deltaCRLIndicator or None) of the DER CRL at DER_PATH,
    as `openssl crl -text` prints them."""
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", der_path,
                        "-noout", "-text"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = [l.strip() for l in p.stdout.splitlines()]

    def value(label):
        for i, l in enumerate(lines):
            if l.startswith(label):
                v = lines[i + 1]
                return int(v, 16) if v.startswith("0x") else int(v)
        return None
    number = value("X509v3 CRL Number")
    assert number is not None, p.stdout
    return number, value("X509v3 Delta CRL Indicator")


def new_leaf(s, stem):
    """A new certificate of the demo issuer at pki/STEM.pem (the demo
    distribution point)."""
    import demo_pki
    ca, ca_key = demo_pki.load(s.pki, "issuer")
    leaf, key = demo_pki.make_leaf(ca, ca_key, stem + ".demo.test")
    demo_pki.save(s.pki, stem, leaf, key)
    return s.path(stem + ".pem")


class Forwarder(LoopbackListener):
    """A TCP forwarder on a free loopback port to the Redis at TARGET (a
    port), which the test moves as a virtual IP moves to a promoted
    replica: switch() drops every forwarded connection.  Bytes pass
    through untouched; both ends are real redis-server and daemons."""

    def __init__(self, target):
        import threading
        self.target = target
        self.lock = threading.Lock()
        self.conns = []
        super().__init__()

    def accepted(self, c):
        import socket
        import threading
        try:
            u = socket.create_connection(("127.0.0.1", self.target), 2)
        except OSError:
            c.close()
            return
        with self.lock:
            self.conns += [c, u]
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=self.pump, args=(a, b),
                             daemon=True).start()

    @staticmethod
    def pump(a, b):
        import socket
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def switch(self, target):
        import socket
        self.target = target
        with self.lock:
            conns, self.conns = self.conns, []
        for x in conns:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def close(self):
        self.switch(self.target)
        super().close()
