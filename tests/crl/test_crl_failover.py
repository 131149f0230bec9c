"""CRL numbers never go backwards across a Redis failover, even when the
last increments on the primary never reached the replica: a number is at
least Redis's clock in milliseconds (docs/crl.md, "CRL numbers").  And the
daemon follows a restart or a failover of its Redis, with what it had in
hand (the shared state the promoted replica lacks is written again).

Every number is read from the published CRLs by `openssl crl -text`, never
from the generator's own state."""
import datetime
import glob
import os
import shutil
import signal

from conftest import (CrlStack, Forwarder, crl_group, new_leaf,
                      openssl_crl_numbers, openssl_crl_verify, wait_for)
from revoca_fixtures import RedisServer, render_conf

ISSUERS = [{"name": "demo", "crl": '{ update_interval = "1s"; }'}]
KEY = "revoca:crlnumber:demo"
STATE = "revoca:crlgen-state:demo"


def start_replica(s):
    r = RedisServer(os.path.join(s.tmp, "replica"),
                    args=["--replicaof", "127.0.0.1", str(s.redis.port)]).start()
    wait_for(lambda: r.client().info("replication").get(
        "master_link_status") == "up", what="the replica's link")
    assert s.r().wait(1, 10000) == 1
    return r


def archive(s, pub, tag):
    """Copies of the CRLs now in PUB, with what OpenSSL reads in them:
    [(copy, name, number, base)]."""
    out = []
    for name in ("demo.crl", "demo-delta.crl"):
        copy = os.path.join(s.tmp, "seen-%s-%s" % (tag, name))
        shutil.copy(os.path.join(pub, name), copy)
        number, base = openssl_crl_numbers(copy)
        openssl_crl_verify(copy, s.path("issuer.pem"))
        out.append((copy, name, number, base))
    full, delta = out
    # the delta's DeltaCRLIndicator is the full CRL published with it
    assert full[3] is None and delta[3] == full[2] < delta[2], out
    return out


def numbers(crls):
    return [c[2] for c in crls]


def conf_at(s, port, pub, name):
    path = os.path.join(s.tmp, name)
    with open(path, "w") as f:
        f.write(render_conf(port, ISSUERS, crl_group(pub)))
    return path


def test_number_after_a_failover_that_lost_the_last_increments(tmp_path,
                                                                pki_dir):
    s = CrlStack(tmp_path, pki_dir, issuers=ISSUERS)
    replica = None
    try:
        replica = start_replica(s)
        s.start_signer()
        s.issue_revoke("revoked")
        s.once()
        before = archive(s, s.pub, "1")
        assert s.r().wait(1, 10000) == 1     # the replica has all of it

        # The link is cut without the primary noticing anything wrong: the
        # CRLs published next exist on the primary only.
        replica.client().execute_command("REPLICAOF", "NO", "ONE")
        s.once()
        before += archive(s, s.pub, "2")
        published = max(numbers(before))
        lost = int(replica.client().get(KEY))
        assert lost < published, (lost, published)   # the case under test

        # The primary dies; the replica is the primary now.  A generator
        # that knows nothing (its own publish dir) publishes first, then
        # the one that published before, each from the replica.
        for d in s.signers:
            d.stop()
        s.redis.kill()
        pub2 = os.path.join(s.tmp, "pub2")
        s.once(conf=conf_at(s, replica.port, pub2, "fresh.conf"))
        after = archive(s, pub2, "3")
        assert min(numbers(after)) > published, (before, after)
        s.once(conf=conf_at(s, replica.port, s.pub, "same.conf"))
        after2 = archive(s, s.pub, "4")
        assert min(numbers(after2)) > max(numbers(after)), (after, after2)
        # one sequence for both kinds, strictly increasing in the order of
        # publication, whichever primary handed the number out
        order = numbers(before + after + after2)
        assert order == sorted(set(order)), order
        # every number within RFC 5280 5.2.3's 20 octets
        assert max(order) < 1 << (8 * 20 - 1)
        assert int(replica.client().get(KEY)) == max(order)
    finally:
        if replica is not None:
            replica.stop()
        s.close()


def legacy_crl(s, serial, number):
    """A CRL of an older release (a small number), signed by the issuer's
    key with Python cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    import demo_pki
    ca, key = demo_pki.load(s.pki, "issuer")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(ca.subject)
           .last_update(now - datetime.timedelta(hours=1))
           .next_update(now + datetime.timedelta(days=1))
           .add_revoked_certificate(
               x509.RevokedCertificateBuilder().serial_number(serial)
               .revocation_date(now - datetime.timedelta(hours=2)).build())
           .add_extension(x509.CRLNumber(number), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.
                          from_issuer_subject_key_identifier(ski.value),
                          critical=False)
           .sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.DER)


def test_small_numbers_of_an_existing_deployment_move_up(crlstack):
    s = crlstack
    serial = s.issue_revoke("revoked")
    os.makedirs(s.pub, exist_ok=True)
    with open(s.file("demo.crl"), "wb") as f:
        f.write(legacy_crl(s, serial, 7))
    s.r().set(KEY, 7)
    s.once()
    full, _ = openssl_crl_numbers(s.file("demo.crl"))
    delta, base = openssl_crl_numbers(s.file("demo-delta.crl"))
    this_update = s.crl("demo.crl").last_update.replace(
        tzinfo=datetime.timezone.utc).timestamp()
    # up to the clock at once, past the old CRL (the pre-publish check
    # let it replace the old one): at least thisUpdate in milliseconds
    assert full > 7 and full >= this_update * 1000, full
    assert delta > full == base
    assert int(s.r().get(KEY)) == delta

    # A sequence ahead of the clock (raised by hand, as the runbook says)
    # goes on from where it is, one by one: never back to the clock.
    ahead = delta + 10 ** 9
    s.r().set(KEY, ahead)
    s.once()
    assert openssl_crl_numbers(s.file("demo.crl")) == (ahead + 1, None)
    assert openssl_crl_numbers(s.file("demo-delta.crl")) == (ahead + 2,
                                                             ahead + 1)

    # Not a number: refused, and the error names the key.
    s.r().set(KEY, "12abc")
    p = s.once(check=False)
    assert p.returncode == 1 and KEY in p.stderr, p.stderr
    assert openssl_crl_numbers(s.file("demo.crl"))[0] == ahead + 1


def log_numbers(gen):
    import re
    return [int(n) for n in
            re.findall(r"published .* number=(\d+)", gen.output())]


def delta_lists(s, serial):
    try:
        return s.crl("demo-delta.crl").get_revoked_certificate_by_serial_number(
            serial) is not None
    except (FileNotFoundError, ValueError):
        return False


def test_daemon_follows_a_primary_restart(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir, issuers=ISSUERS)
    try:
        s.start_signer()
        g = s.start_crlgen()
        first = s.issue_revoke("revoked")
        wait_for(lambda: delta_lists(s, first), what="the first delta")

        # Killed mid-run and started again on its AOF: the generator and the
        # signer reconnect and carry on.
        s.redis.kill(signal.SIGKILL)
        wait_for(lambda: "redis lost" in g.output(), what="the lost connection")
        s.redis.start()
        leaf = new_leaf(s, "after-restart")
        s.cli("issue", "--issuer", "demo", "--cert", leaf)
        s.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
        from conftest import cert
        serial = cert(leaf).serial_number
        wait_for(lambda: delta_lists(s, serial), timeout=60,
                 what="a delta with the revocation made after the restart")
        assert delta_lists(s, first) or first in s.serials("demo.crl")
        published = log_numbers(g)
        assert published == sorted(set(published)), published
        assert g.alive()
        openssl_crl_verify(s.file("demo-delta.crl"), s.path("issuer.pem"))
    finally:
        s.close()


def archived_delta_lists(arch, serial):
    from cryptography import x509
    for f in sorted(glob.glob(os.path.join(arch, "*-demo-delta.crl")))[-1:]:
        with open(f, "rb") as h:
            crl = x509.load_der_x509_crl(h.read())
        return crl.get_revoked_certificate_by_serial_number(serial) is not None
    return False


def test_daemon_follows_a_failover_with_what_it_had_in_hand(tmp_path, pki_dir):
    """One generator, its signer and the CLI reach Redis through an address
    that moves to the replica when it is promoted.  The last delta before
    the failover never reached the replica (nor its numbers, nor the shared
    state): the generator writes the state it has again and goes on, every
    CRL it publishes newer than every one before."""
    arch = os.path.join(str(tmp_path), "archive")
    os.makedirs(arch)
    hook = os.path.join(str(tmp_path), "archive.sh")
    with open(hook, "w") as f:
        # every CRL published, in order, copied whole (then renamed)
        f.write('#!/bin/sh\nset -e\n[ "$REVOCA_CRL_KIND" = shards ] && exit 0\n'
                'n=$(ls "%s" | wc -l)\n'
                'cp "$1" "%s/.tmp"\n'
                'mv "%s/.tmp" "%s/$(printf %%04d "$n")-$(basename "$1")"\n'
                % (arch, arch, arch, arch))
    os.chmod(hook, 0o755)
    s = CrlStack(tmp_path, pki_dir, issuers=ISSUERS)
    replica = fwd = None
    try:
        replica = start_replica(s)
        fwd = Forwarder(s.redis.port)
        with open(s.conf, "w") as f:
            f.write(render_conf(fwd.port, ISSUERS,
                                crl_group(s.pub,
                                          post_publish='"%s \\"$1\\""' % hook),
                                s.signer_conf, s.redis_conf))
        s.start_signer()
        g = s.start_crlgen()
        first = s.issue_revoke("revoked")
        wait_for(lambda: delta_lists(s, first), what="the first delta")
        assert s.r().wait(1, 10000) == 1

        replica.client().execute_command("REPLICAOF", "NO", "ONE")
        leaf = new_leaf(s, "before-failover")
        s.cli("issue", "--issuer", "demo", "--cert", leaf)
        s.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
        from conftest import cert
        lost = cert(leaf).serial_number
        wait_for(lambda: archived_delta_lists(arch, lost),
                 what="a delta on the primary only")
        top = max(log_numbers(g))
        # its state written (on the primary only) before the primary dies
        wait_for(lambda: s.r().hget(STATE, "delta_number") == b"%d" % top,
                 what="the state of the last delta")
        assert int(replica.client().get(KEY)) < top

        s.redis.kill(signal.SIGKILL)
        fwd.switch(replica.port)
        leaf = new_leaf(s, "after-failover")
        s.cli("issue", "--issuer", "demo", "--cert", leaf)
        s.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
        serial = cert(leaf).serial_number
        wait_for(lambda: archived_delta_lists(arch, serial), timeout=60,
                 what="a delta from the promoted replica")
        assert "state restored" in g.output(), g.output()

        files = sorted(glob.glob(os.path.join(arch, "*.crl")))
        seen = [(os.path.basename(f),) + openssl_crl_numbers(f) for f in files]
        for f in files:
            openssl_crl_verify(f, s.path("issuer.pem"))
        order = [n for _, n, _ in seen]
        assert order == sorted(set(order)), seen
        assert [n for n in order if n > top], seen
        # each delta names the full CRL published before it
        full = None
        for name, n, base in seen:
            if name.endswith("-demo.crl"):
                full = n
            else:
                assert base == full, seen
        assert g.alive()
    finally:
        if fwd is not None:
            fwd.close()
        if replica is not None:
            replica.stop()
        s.close()
