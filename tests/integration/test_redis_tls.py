"""TLS to Redis and least-privilege ACL users for the signer, revoca-crlgen
and the revoca CLI (issue 12, "Secure connections").

A real redis-server 7 listens on a TLS port only (plain TCP off: a component
that did not speak TLS could not work at all), with certificates made here
by Python cryptography.  The components verify the server against
redis.tls_ca and redis.tls_server_name, present a client certificate when
configured (mTLS), and every failure names the server and OpenSSL's reason.
The ACL users are the ones docs/redis.md documents, read from that page, so
the documented ACLs are the tested ones; Redis's own ACL LOG says whether a
component tried anything outside its ACL.
"""
import datetime
import ipaddress
import os
import re
import subprocess

import pytest

from revoca_fixtures import (BUILD, ROOT, SIGNER, Daemon, Stack, cert,
                             openssl_ocsp_status, render_conf, wait_for)

CRLGEN = os.path.join(BUILD, "crlgen", "revoca-crlgen")
AUDIT = os.path.join(BUILD, "responder", "revoca-audit")
ISSUERS = [{"name": "demo", "crl": '{ update_interval = "1s"; }'}]


# --- a TLS PKI: one CA for the server and the clients, one it does not know


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, key, crt):
    from cryptography.hazmat.primitives import serialization
    with open(path + ".key", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(path + ".pem", "wb") as f:
        f.write(crt.public_bytes(serialization.Encoding.PEM))
    return path + ".pem", path + ".key"


def _cert(name, key, issuer_name, issuer_key, ca=False, sans=(), usage=None):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer_name or subject)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), False)
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage(usage), False)
    return b.sign(issuer_key, hashes.SHA256()), subject


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    d = str(tmp_path_factory.mktemp("redis-tls"))
    out = {}
    ca_key = _key()
    ca, ca_name = _cert("Revoca test Redis CA", ca_key, None, ca_key, ca=True)
    out["ca"], _ = _write(os.path.join(d, "ca"), ca_key, ca)
    other_key = _key()
    other, _ = _cert("Some other CA", other_key, None, other_key, ca=True)
    out["other_ca"], _ = _write(os.path.join(d, "other-ca"), other_key, other)
    srv_key = _key()
    srv, _ = _cert("redis.test", srv_key, ca_name, ca_key, sans=[
        x509.DNSName("redis.test"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    out["cert"], out["key"] = _write(os.path.join(d, "server"), srv_key, srv)
    cli_key = _key()
    cli, _ = _cert("revoca-client", cli_key, ca_name, ca_key,
                   usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    out["client_cert"], out["client_key"] = _write(
        os.path.join(d, "client"), cli_key, cli)
    # a client certificate the server's CA never issued
    rogue_key = _key()
    rogue, _ = _cert("rogue-client", rogue_key, None, other_key,
                     usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    out["rogue_cert"], out["rogue_key"] = _write(
        os.path.join(d, "rogue"), rogue_key, rogue)
    return out


def tls_conf(pki, ca=None, name=None, client=None):
    """The redis group's TLS settings: CA (default the right one), server
    NAME, CLIENT "client" / "rogue" for a client certificate."""
    s = 'tls = true; tls_ca = "%s"; ' % (ca or pki["ca"])
    if name is not None:
        s += 'tls_server_name = "%s"; ' % name
    if client is not None:
        s += 'tls_cert = "%s"; tls_key = "%s"; ' % (pki[client + "_cert"],
                                                   pki[client + "_key"])
    return s


class TlsStack(Stack):
    """Stack with Redis on a TLS port, crlgen's settings, and one config
    file per component when they log in as different users."""

    def __init__(self, tmp, pki_dir, tls_pki, redis_conf, auth_clients=False):
        self.pub = os.path.join(str(tmp), "pub")
        tls = dict(tls_pki)
        if not auth_clients:
            tls.pop("client_cert")
            tls.pop("client_key")
        super().__init__(
            tmp, pki_dir, ISSUERS, self.crl_extra(),
            redis_tls=tls, redis_conf=redis_conf,
            redis_args=["--tls-auth-clients",
                        "yes" if auth_clients else "no"])
        self.gens = []

    def crl_extra(self):
        return ('crl = { publish_dir = "%s"; '
                'base_url = "http://127.0.0.1:8080/crl/"; lease_ttl = "3s"; '
                'claim_idle = "2s"; };' % self.pub)

    def conf_as(self, name, redis_conf):
        """A config file NAME.conf: this stack's, REDIS_CONF for redis."""
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write(render_conf(self.redis.port, ISSUERS, self.crl_extra(),
                                self.signer_conf, redis_conf))
        return path

    def crlgen_once(self, conf=None, check=True):
        p = subprocess.run([CRLGEN, "-c", conf or self.conf, "--once"],
                           capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("revoca-crlgen --once failed (%d): %s" %
                                 (p.returncode, p.stderr))
        return p

    def start_crlgen(self, conf=None):
        d = Daemon([CRLGEN, "-c", conf or self.conf, "-v"],
                   os.path.join(self.tmp, "crlgen%d.log" % len(self.gens)))
        self.gens.append(d.start())
        return d

    def close(self):
        for g in self.gens:
            if g.alive():
                g.stop()
        super().close()


@pytest.fixture
def make_stack(tmp_path, pki_dir, tls_pki):
    made = []

    def make(redis_conf=None, auth_clients=False):
        s = TlsStack(tmp_path, pki_dir, tls_pki,
                     tls_conf(tls_pki) if redis_conf is None else redis_conf,
                     auth_clients)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def issue_revoke_publish(s, confs=None):
    """Issue good and revoked through the CLI, revoke one, let the signer
    sign and crlgen publish; check the OCSP answers with openssl ocsp and
    the CRL with openssl crl and Python cryptography."""
    from cryptography import x509
    confs = confs or {}
    cli = confs.get("cli")
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"), conf=cli)
    s.cli("issue", "--issuer", "demo", "--cert", s.path("revoked.pem"),
          conf=cli)
    s.cli("revoke", "--issuer", "demo", "--cert", s.path("revoked.pem"),
          "--reason", "keyCompromise", "--wait", conf=cli)
    good = s.serial_of(s.path("good.pem"))
    revoked = s.serial_of(s.path("revoked.pem"))
    st, _ = openssl_ocsp_status(s.response(good), s.pki, s.path("good.pem"))
    assert st == "good"
    st, _ = openssl_ocsp_status(s.response(revoked), s.pki,
                                s.path("revoked.pem"))
    assert st == "revoked"
    s.crlgen_once(conf=confs.get("crlgen"))
    der = os.path.join(s.pub, "demo.crl")
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", der,
                        "-CAfile", s.path("issuer.pem"), "-noout"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "verify OK" in p.stdout + p.stderr, p.stderr
    with open(der, "rb") as f:
        crl = x509.load_der_x509_crl(f.read())
    assert crl.is_signature_valid(cert(s.path("issuer.pem")).public_key())
    assert [r.serial_number for r in crl] == [int(revoked, 16)]


def where(s):
    return "redis 127.0.0.1:%d" % s.redis.port


# --- TLS ----------------------------------------------------------------


@pytest.mark.parametrize("name", [None, "redis.test"])
def test_signer_cli_crlgen_end_to_end_over_tls(make_stack, tls_pki, name):
    # None: the name verified is redis.host, 127.0.0.1 (an iPAddress SAN);
    # "redis.test": a dNSName SAN, sent as SNI too.
    s = make_stack(tls_conf(tls_pki, name=name))
    signer = s.start_signer()
    issue_revoke_publish(s)
    # the daemon, running for a while, never lost its TLS link
    assert signer.alive()
    signer.stop()
    assert "redis lost" not in signer.output(), signer.output()


def test_wrong_ca_names_the_server_and_the_reason(make_stack, tls_pki):
    s = make_stack()
    bad = s.conf_as("wrong-ca", tls_conf(tls_pki, ca=tls_pki["other_ca"]))
    # Redis sends its CA along with its certificate (OpenSSL builds the
    # chain from its store), so the chain ends in a root we do not trust.
    expect = re.compile(
        re.escape(where(s)) + r": TLS handshake failed: certificate verify "
        r"failed \((self-signed certificate in certificate chain|"
        r"unable to get local issuer certificate)\)")
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False, conf=bad)
    assert p.returncode != 0
    assert expect.search(p.stderr), p.stderr
    p = s.crlgen_once(conf=bad, check=False)
    assert p.returncode != 0
    assert expect.search(p.stdout + p.stderr), p.stdout + p.stderr
    # the daemons log it and keep retrying (a CA fixed in Redis's config,
    # or a network that recovers, needs no restart)
    for d in (s.start_signer(conf=bad), s.start_crlgen(conf=bad)):
        wait_for(lambda: expect.search(d.output()),
                 what="the TLS error logged")
        assert d.alive(), d.output()
        assert "redis lost" in d.output()
    # nothing was written through a link that was never trusted
    assert s.r().dbsize() == 0


def test_hostname_mismatch_refused(make_stack, tls_pki):
    s = make_stack()
    bad = s.conf_as("mismatch", tls_conf(tls_pki, name="other.test"))
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False, conf=bad)
    assert p.returncode != 0
    assert ("%s: TLS handshake failed: certificate verify failed "
            "(hostname mismatch)" % where(s)) in p.stderr, p.stderr
    # the same server and CA with the right name: accepted
    ok = s.conf_as("match", tls_conf(tls_pki, name="redis.test"))
    s.start_signer(conf=ok)
    s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"), conf=ok)


def test_plain_client_cannot_reach_a_tls_port(make_stack):
    # tls off against the TLS port: the server drops the plain bytes; the
    # failure is an error, never a hang or a success.
    s = make_stack(redis_conf="")
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False)
    assert p.returncode != 0
    assert where(s) in p.stderr, p.stderr


def test_mtls_required_by_the_server(make_stack, tls_pki):
    s = make_stack(tls_conf(tls_pki, client="client"), auth_clients=True)
    # no client certificate: refused, named
    bare = s.conf_as("bare", tls_conf(tls_pki))
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False, conf=bare)
    assert p.returncode != 0
    assert re.search(r"%s: TLS (handshake failed|read): .*certificate required"
                     % re.escape(where(s)), p.stderr), p.stderr
    # a certificate the server's CA never issued: refused too
    rogue = s.conf_as("rogue", tls_conf(tls_pki, client="rogue"))
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False, conf=rogue)
    assert p.returncode != 0
    assert re.search(r"%s: TLS (handshake failed|read): .*(unknown ca|"
                     r"certificate unknown|bad certificate)"
                     % re.escape(where(s)), p.stderr), p.stderr
    assert s.r().dbsize() == 0
    # the right one: every component works
    s.start_signer()
    issue_revoke_publish(s)


# --- configuration ------------------------------------------------------


@pytest.mark.parametrize("redis_conf,message", [
    ("tls = true;", "redis: tls needs tls_ca"),
    ('tls = true; tls_ca = "";', "redis: tls needs tls_ca"),
    ('tls_ca = "/etc/ssl/certs/ca-certificates.crt";',
     "redis: tls_ca is set but tls is not true"),
    ('tls = false; tls_server_name = "redis.test";',
     "redis: tls_server_name is set but tls is not true"),
    ('tls = true; tls_ca = "ca.pem"; tls_cert = "c.pem";',
     "redis: tls_cert and tls_key go together"),
    ('tls = true; tls_ca = "ca.pem"; tls_key = "c.key";',
     "redis: tls_cert and tls_key go together"),
    ('tls = "yes"; tls_ca = "ca.pem";', "tls: expected true or false"),
    ('tls = true; tls_ca = "ca.pem"; tls_server_name = "";',
     "redis: tls_server_name must be 1..253 characters"),
    ('tls = true; tls_ca = "ca.pem"; tls_verify = false;',
     'unknown key "tls_verify"'),
])
def test_tls_config_errors_name_file_and_line(tmp_path, redis_conf, message):
    conf = str(tmp_path / "revoca.conf")
    with open(conf, "w") as f:
        f.write(render_conf(1, [{"name": "demo"}], "", "", redis_conf))
    for argv in ([os.path.join(BUILD, "feeds", "revoca"), "-c", conf,
                  "issue", "--issuer", "demo", "--serial", "01"],
                 [CRLGEN, "-c", conf, "--check"]):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
        # the redis group is on line 1 of the rendered file
        assert "%s:1: %s" % (conf, message) in p.stderr, p.stderr


def test_tls_over_a_unix_socket_is_a_config_error(tmp_path):
    conf = str(tmp_path / "revoca.conf")
    with open(conf, "w") as f:
        f.write(render_conf(1, [{"name": "demo"}], "", "",
                            'tls = true; tls_ca = "ca.pem";')
                .replace('host = "127.0.0.1"', 'host = "/run/redis.sock"'))
    p = subprocess.run([CRLGEN, "-c", conf, "--check"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0
    assert "redis: tls needs a TCP host, not a unix socket" in p.stderr


def test_unreadable_ca_file_names_it(make_stack, tls_pki, tmp_path):
    s = make_stack()
    missing = str(tmp_path / "no-such-ca.pem")
    bad = s.conf_as("missing-ca", tls_conf(tls_pki, ca=missing))
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False, conf=bad)
    assert p.returncode != 0
    assert ("%s: TLS: cannot load tls_ca %s: " % (where(s), missing)
            in p.stderr), p.stderr


def test_client_key_not_matching_its_certificate(make_stack, tls_pki):
    s = make_stack()
    bad = s.conf_as("mixed", tls_conf(tls_pki) + 'tls_cert = "%s"; '
                    'tls_key = "%s"; ' % (tls_pki["client_cert"],
                                          tls_pki["rogue_key"]))
    p = s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"),
              check=False, conf=bad)
    assert p.returncode != 0
    # OpenSSL refuses the pair when the key is loaded, or when checked
    assert re.search(re.escape(where(s)) + r": TLS: (tls_key does not match "
                     r"tls_cert|cannot load tls_key \S+): \w", p.stderr), \
        p.stderr


# --- ACLs (docs/redis.md) ------------------------------------------------


def documented_acls():
    """{user: [rules]} from the ACL SETUSER lines of docs/redis.md (the
    password rule dropped: the test sets its own)."""
    with open(os.path.join(ROOT, "docs", "redis.md")) as f:
        text = f.read()
    acls = {}
    for cmd in re.findall(r"^ACL SETUSER (revoca-[a-z]+) ((?:.*\\\n)*.*)$",
                          text, re.M):
        user, rules = cmd
        # a selector "(...)" is one rule (Redis 7)
        rules = [r.strip('"') for r in re.findall(
            r'"\([^)]*\)"|\S+', rules.replace("\\\n", " "))]
        acls[user] = [r for r in rules if not r.startswith(">")]
    return acls


def test_docs_give_an_acl_per_component():
    acls = documented_acls()
    assert set(acls) == {"revoca-signer", "revoca-crlgen", "revoca-cli",
                         "revoca-nginx", "revoca-audit", "revoca-ingest"}
    for user, rules in acls.items():
        # least privilege: nothing until granted, no pub/sub, no key but
        # the ones listed
        assert rules[:4] == ["on", "resetkeys", "resetchannels", "-@all"], user
        assert not any(r in ("+@all", "allkeys", "~*", "allcommands")
                       for r in rules), user


def test_components_work_under_their_documented_acls(make_stack, tls_pki):
    s = make_stack()
    admin = s.r()
    confs = {}
    for user, rules in documented_acls().items():
        admin.execute_command("ACL", "SETUSER", user, ">pw-" + user, *rules)
        comp = user.split("-", 1)[1]
        confs[comp] = s.conf_as(comp, tls_conf(tls_pki) +
                                'user = "%s"; password = "pw-%s"; ' %
                                (user, user))
    admin.execute_command("ACL", "LOG", "RESET")
    # with its metrics thread, whose queries are under the signer's ACL too
    prom = os.path.join(s.tmp, "signer.prom")
    signer = Daemon([SIGNER, "-c", confs["signer"], "-v", "--metrics-file",
                     prom], os.path.join(s.tmp, "signer-acl.log")).start()
    s.signers.append(signer)
    issue_revoke_publish(s, confs)
    # import --wait (the signer group's state) and --follow (its state
    # recorded with the events in one MULTI/EXEC)
    idx = os.path.join(s.tmp, "index.txt")
    with open(idx, "w") as f:
        f.write("V\t301231235959Z\t\t0C\tunknown\t/CN=c\n")
    p = s.cli("import", "--issuer", "demo", "--openssl-index", idx, "--wait",
              conf=confs["cli"])
    assert "signed=1" in p.stdout, p.stdout
    follower = Daemon([os.path.join(BUILD, "feeds", "revoca"), "-c",
                       confs["cli"], "import", "--issuer", "demo",
                       "--openssl-index", idx, "--follow", "--wait"],
                      os.path.join(s.tmp, "follow-acl.log")).start()
    wait_for(lambda: "change=issued" in follower.output(), 60,
             what="import --follow under the CLI's ACL")
    assert follower.stop() == 0, follower.output()
    # the crlgen daemon too (lease, state, consumer group), for a few cycles
    gen = s.start_crlgen(conf=confs["crlgen"])
    s.cli("revoke", "--issuer", "demo", "--cert", s.path("good.pem"),
          "--reason", "superseded", "--wait", conf=confs["cli"])
    good = int(s.serial_of(s.path("good.pem")), 16)

    def published():
        # the daemon's next CRL is a delta (the full one waits longer)
        from cryptography import x509
        try:
            with open(os.path.join(s.pub, "demo-delta.crl"), "rb") as f:
                crl = x509.load_der_x509_crl(f.read())
        except (FileNotFoundError, ValueError):
            return False
        return crl.get_revoked_certificate_by_serial_number(good) is not None
    wait_for(published, 60, what="crlgen daemon publishing under its ACL")

    def metrics_read():
        try:
            with open(prom) as f:
                text = f.read()
        except FileNotFoundError:
            return False
        return "revoca_signer_metrics_redis_up 1" in text and \
            'revoca_signer_due_entries{issuer="demo"}' in text
    wait_for(metrics_read, 60, what="the signer's metrics under its ACL")
    # the audit chain over every event so far, its archive (segments,
    # XINFO GROUPS / XPENDING, XTRIM MINID, HDEL, XDEL) and verification
    archive = os.path.join(s.tmp, "archive")
    os.makedirs(archive)
    with open(confs["audit"], "a") as f:
        f.write('audit = { archive_dir = "%s"; archive_after = "0s"; '
                'archive_interval = "1s"; };\n' % archive)
    audit = Daemon([AUDIT, "-c", confs["audit"], "-v"],
                   os.path.join(s.tmp, "audit-acl.log")).start()
    nevents = admin.xlen("revoca:events")

    def chained():
        head = admin.get("revoca:audit:head")
        return head is not None and int(head.split()[0]) == nevents
    wait_for(chained, 60, what="revoca-audit chaining under its ACL")

    def archived():
        v = admin.get("revoca:audit:archive")
        return v is not None and int(v.split()[0]) == nevents
    wait_for(archived, 60, what="revoca-audit archiving under its ACL")
    p = s.cli("audit", "verify", check=False, conf=confs["audit"])
    assert p.returncode == 0 and "intact" in p.stdout, p.stdout + p.stderr
    # the inventory walk (SCAN, MGET) under the CLI's user; the signer's
    # metrics thread walks too (signer.inventory_interval, default 5m: its
    # first walk is at its first round)
    p = s.cli("inventory", "--issuer", "demo", "--format", "json",
              check=False, conf=confs["cli"])
    assert p.returncode == 0, p.stderr
    assert s.serial_of(s.path("good.pem")) in p.stdout
    with open(prom) as f:
        assert 'revoca_signer_inventory_certificates{issuer="demo",' \
            'status="revoked"}' in f.read()
    p = s.cli("health", "--format", "json", check=False, conf=confs["cli"])
    assert p.returncode in (0, 1) and '"reachable":true' in p.stdout, \
        p.stdout + p.stderr
    assert '"crl":{"full_number":' in p.stdout
    # nothing any component sent was refused
    log = admin.execute_command("ACL", "LOG")
    assert log == [], log
    for d in (signer, gen, audit):
        assert d.alive()
        assert "NOPERM" not in d.output(), d.output()
    # the history under the CLI's user, revoca rebuild under the signer's
    # (its refusal asks XINFO CONSUMERS; forced it clears the histories
    # with SCAN and DEL, reads XRANGE, writes as the signer does)
    p = s.cli("status", "--issuer", "demo", "--cert", s.path("good.pem"),
              "--json", conf=confs["cli"])
    assert '"kind":"revoked"' in p.stdout, p.stdout
    p = s.cli("rebuild", "--issuer", "demo", check=False,
              conf=confs["signer"])
    assert p.returncode == 2 and "signer" in p.stderr, p.stderr
    p = s.cli("rebuild", "--issuer", "demo", "--force", conf=confs["signer"])
    assert "rebuild done" in p.stdout, p.stdout
    log = admin.execute_command("ACL", "LOG")
    assert log == [], log


@pytest.mark.parametrize("user,command", [
    # the CLI appends events and reads records; it never writes a response
    ("revoca-cli", ["SET", "revoca:ocsp:demo:01", "x"]),
    ("revoca-cli", ["DEL", "revoca:cert:demo:01"]),
    ("revoca-cli", ["XTRIM", "revoca:events", "MAXLEN", "0"]),
    ("revoca-cli", ["XREADGROUP", "GROUP", "signer", "c", "STREAMS",
                    "revoca:events", ">"]),
    # the signer never touches the CRL number, nor appends events
    ("revoca-signer", ["INCR", "revoca:crlnumber:demo"]),
    ("revoca-signer", ["XADD", "revoca:events", "*", "e", "x"]),
    # crlgen reads records, never writes them or responses
    ("revoca-crlgen", ["SET", "revoca:ocsp:demo:01", "x"]),
    ("revoca-crlgen", ["SET", "revoca:cert:demo:01", "x"]),
    # the responder only reads
    ("revoca-nginx", ["SET", "revoca:ocsp:demo:01", "x"]),
    ("revoca-nginx", ["GET", "revoca:crlnumber:demo"]),
    # the ingest appends events, never reads the stream nor writes a
    # response
    ("revoca-ingest", ["SET", "revoca:ocsp:demo:01", "x"]),
    ("revoca-ingest", ["XRANGE", "revoca:events", "-", "+"]),
    ("revoca-ingest", ["XTRIM", "revoca:events", "MAXLEN", "0"]),
    # the audit chain reads the stream; it never appends to it or signs
    ("revoca-audit", ["XADD", "revoca:events", "*", "e", "x"]),
    ("revoca-audit", ["SET", "revoca:ocsp:demo:01", "x"]),
    # it trims the event stream, nothing else
    ("revoca-audit", ["XTRIM", "revoca:audit-not:x", "MAXLEN", "0"]),
    ("revoca-audit", ["DEL", "revoca:events"]),
    ("revoca-audit", ["XREADGROUP", "GROUP", "signer", "c", "STREAMS",
                      "revoca:events", ">"]),
    # nobody may reconfigure Redis or flush it
    ("revoca-signer", ["FLUSHALL"]),
    ("revoca-crlgen", ["CONFIG", "SET", "appendonly", "no"]),
])
def test_acl_refuses_what_a_component_does_not_own(make_stack, tls_pki,
                                                   user, command):
    import redis
    s = make_stack()
    admin = s.r()
    rules = documented_acls()[user]
    admin.execute_command("ACL", "SETUSER", user, ">pw", *rules)
    c = redis.Redis(host="127.0.0.1", port=s.redis.port, socket_timeout=5,
                    ssl=True, ssl_ca_certs=tls_pki["ca"], username=user,
                    password="pw")
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command(*command)
    assert admin.dbsize() == 0


# --- the transport itself -------------------------------------------------


def test_plain_unix_socket_still_works(tmp_path, pki_dir):
    sock = str(tmp_path / "redis.sock")
    s = Stack(tmp_path, pki_dir, redis_args=["--unixsocket", sock])
    try:
        conf = s.conf
        with open(conf) as f:
            text = f.read().replace('host = "127.0.0.1"', 'host = "%s"' % sock)
        with open(conf, "w") as f:
            f.write(text)
        s.start_signer()
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        st, _ = openssl_ocsp_status(s.response(s.serial_of(s.path("good.pem"))),
                                    s.pki, s.path("good.pem"))
        assert st == "good"
    finally:
        s.close()


def test_silent_server_times_out_the_handshake(tmp_path, tls_pki):
    # A peer that accepts the connection and never answers: the handshake
    # is bounded (5 s per wait), and the error says so and names it.
    import socket
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    conf = str(tmp_path / "revoca.conf")
    with open(conf, "w") as f:
        f.write(render_conf(port, [{"name": "demo", "cert": "%s" % tls_pki["ca"],
                                    "key": None, "responder_cert": None,
                                    "responder_key": None}],
                            "", "", tls_conf(tls_pki)))
    try:
        p = subprocess.run([os.path.join(BUILD, "feeds", "revoca"), "-c", conf,
                            "status", "--issuer", "demo", "--serial", "01"],
                           capture_output=True, text=True, timeout=60)
    finally:
        lsock.close()
    assert p.returncode != 0
    assert ("redis 127.0.0.1:%d: TLS handshake failed: timed out" % port
            in p.stderr), p.stderr
