"""Judges we did not write: Go's golang.org/x/crypto/ocsp and crypto/x509
(tests/judges/go/judge.go) and Java 17's PKIXRevocationChecker
(tests/judges/java/RevocaJudge.java), built once per test session.

Import the fixtures into a test module (pytest finds them there):
    sys.path.insert(0, <repo>/tests/judges)
    from judges import go_judge, java_judge  # noqa: F401
A missing toolchain fails the test: deploy/dev installs golang-go,
golang-golang-x-crypto-dev and openjdk-17-jdk-headless."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GO = "/usr/bin/go"
GOPATH = "/usr/share/gocode"  # Debian's golang-*-dev sources
JAVAC = "/usr/bin/javac"
JAVA = "/usr/bin/java"


class GoJudge:
    def __init__(self, exe):
        self.exe = exe

    def run(self, *args):
        """(ok, parsed JSON) of one judge run; ok is False when Go rejected
        what it was given (its error in ["error"])."""
        p = subprocess.run([self.exe] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode in (0, 1), p.stdout + p.stderr
        return p.returncode == 0, json.loads(p.stdout)

    def ocsp(self, der, leaf, issuer, workdir):
        path = os.path.join(str(workdir), "go-judge-%d.der" % id(der))
        with open(path, "wb") as f:
            f.write(der)
        return self.run("ocsp", path, leaf, issuer)

    def fetch(self, url, leaf, issuer, digest="sha1"):
        return self.run("fetch", url, leaf, issuer, digest)

    def crl(self, der_path, issuer):
        return self.run("crl", der_path, issuer)


class JavaJudge:
    def __init__(self, classes):
        self.classes = classes

    def check(self, mode, root, issuer, leaf, url=None, nonce=False):
        """Java's verdict line: "good", "revoked reason=... date=...",
        "unknown ..."; anything else fails the test.  NONCE: Java's OCSP
        request carries a nonce (RFC 9654) and the answer must echo it."""
        argv = [JAVA, "-cp", self.classes]
        if mode == "crl":
            argv.append("-Dcom.sun.security.enableCRLDP=true")
        if nonce:
            argv.append("-Djdk.security.certpath.ocspNonce=true")
        argv += ["RevocaJudge", mode, root, issuer, leaf]
        if url:
            argv.append(url)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, "java: " + p.stdout + p.stderr
        return p.stdout.strip()


@pytest.fixture(scope="session")
def go_judge():
    if not os.path.exists(GO) or not os.path.isdir(
            os.path.join(GOPATH, "src", "golang.org", "x", "crypto", "ocsp")):
        pytest.fail("Go judge: needs golang-go and golang-golang-x-crypto-dev"
                    " (deploy/dev installs them)")
    d = tempfile.mkdtemp(prefix="revoca-go-judge-")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH,
               GOCACHE=os.path.join(d, "cache"), GOFLAGS="",
               GOPROXY="off", CGO_ENABLED="0")
    exe = os.path.join(d, "judge")
    p = subprocess.run([GO, "build", "-o", exe, "judge.go"],
                       cwd=os.path.join(HERE, "go"), env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, "go build: " + p.stdout + p.stderr
    yield GoJudge(exe)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def java_judge():
    if not os.path.exists(JAVAC):
        pytest.fail("Java judge: needs openjdk-17-jdk-headless"
                    " (deploy/dev installs it)")
    d = tempfile.mkdtemp(prefix="revoca-java-judge-")
    p = subprocess.run([JAVAC, "-d", d,
                        os.path.join(HERE, "java", "RevocaJudge.java")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, "javac: " + p.stdout + p.stderr
    yield JavaJudge(d)
    shutil.rmtree(d, ignore_errors=True)
