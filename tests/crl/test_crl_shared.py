"""Two generators, each with its own publish directory, reach one shared
location through their post-publish commands; one generator's command
always fails.  Whoever holds the lease, every delta at the shared location
names as its base a full CRL that is there, numbers increase strictly
across everything that arrives there, and every CRL verifies
(docs/crl.md, "Two or more generators")."""
import os
import re

from conftest import (CrlStack, cert, crl_group, new_leaf, openssl_crl_numbers,
                      openssl_crl_verify, openssl_verify, to_pem, wait_for)
from revoca_fixtures import render_conf

ISSUERS = [{"name": "demo", "crl": '{ update_interval = "1s"; }'}]

# Copies the CRL into SHARED under a lock (two generators may run it),
# keeps every arrival in SHARED/history in order, and logs it.
COPY = r'''#!/bin/sh
set -e
S="%s"
exec 9>"$S/.lock"
flock 9
base=$(basename "$1")
if [ "$REVOCA_CRL_KIND" != shards ]; then
    n=$(cat "$S/.count" 2>/dev/null || echo 0)
    n=$((n + 1))
    echo "$n" > "$S/.count"
    cp "$1" "$S/history/$(printf %%04d "$n")-$base"
    echo "$n $REVOCA_CRL_KIND $REVOCA_CRL_NUMBER $base" >> "$S/log"
fi
cp "$1" "$S/.tmp"
mv "$S/.tmp" "$S/$base"
'''

# Fails for every CRL (the shard list, which it does not copy, passes).
FAIL = '''#!/bin/sh
[ "$REVOCA_CRL_KIND" = shards ] && exit 0
echo "no route to the shared location" >&2
exit 3
'''


def write_hook(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return '"%s \\"$1\\""' % path


def arrivals(shared):
    """[(kind, number, DeltaCRLIndicator, history copy)] in arrival order,
    numbers as OpenSSL reads them (and as the hook was told)."""
    out = []
    try:
        with open(os.path.join(shared, "log")) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    for l in lines:
        n, kind, told, base = l.split()
        copy = os.path.join(shared, "history", "%04d-%s" % (int(n), base))
        number, delta_base = openssl_crl_numbers(copy)
        assert number == int(told), l
        out.append((kind, number, delta_base, copy))
    return out


def shared_lists(shared, serial):
    from cryptography import x509
    got = arrivals(shared)
    if not got or got[-1][0] != "delta":
        return False
    with open(got[-1][3], "rb") as f:
        crl = x509.load_der_x509_crl(f.read())
    return crl.get_revoked_certificate_by_serial_number(serial) is not None


def revoke_new(s, stem):
    leaf = new_leaf(s, stem)
    s.cli("issue", "--issuer", "demo", "--cert", leaf)
    s.cli("revoke", "--issuer", "demo", "--cert", leaf, "--wait")
    return leaf, cert(leaf).serial_number


def log_numbers(gen):
    return [int(n) for n in
            re.findall(r"published .* number=(\d+)", gen.output())]


def test_delta_base_is_at_the_shared_location(tmp_path, pki_dir):
    tmp = str(tmp_path)
    shared = os.path.join(tmp, "shared")
    os.makedirs(os.path.join(shared, "history"))
    good = write_hook(os.path.join(tmp, "copy.sh"), COPY % shared)
    bad = write_hook(os.path.join(tmp, "fail.sh"), FAIL)
    s = CrlStack(tmp_path, pki_dir, issuers=ISSUERS,
                 crl={"lease_ttl": '"2s"', "post_publish": good})
    try:
        s.start_signer()
        pub_b = os.path.join(tmp, "pub-b")
        conf_b = os.path.join(tmp, "b.conf")
        with open(conf_b, "w") as f:
            f.write(render_conf(s.redis.port, ISSUERS,
                                crl_group(pub_b, lease_ttl='"2s"',
                                          post_publish=bad)))

        # A (its command works) leads and reaches the shared location.
        a = s.start_crlgen()
        wait_for(lambda: [k for k, *_ in arrivals(shared)] == ["full", "delta"],
                 what="A's first CRLs at the shared location")
        b = s.start_crlgen(conf=conf_b)
        _, first = revoke_new(s, "first")
        wait_for(lambda: shared_lists(shared, first), what="A's delta")

        # A stops; B takes over.  B publishes a full CRL into its own
        # directory, since it has none, but its command fails: the shared
        # state stays, B's delta (published into its own directory, its
        # command failing again) names the old base, and B lets the lease
        # go.  Nothing new reaches the shared location.
        a.stop()
        _, second = revoke_new(s, "second")
        wait_for(lambda: "lease released" in b.output(), what="B yielding")
        assert "full CRL not shared" in b.output()
        b_full = openssl_crl_numbers(os.path.join(pub_b, "demo.crl"))[0]
        assert openssl_crl_numbers(os.path.join(pub_b, "demo-delta.crl"))[1] \
            == arrivals(shared)[0][1] < b_full

        # A comes back and takes the lease while B backs off.  Its delta
        # names the base clients have, A's full CRL, not B's.
        a2 = s.start_crlgen()
        wait_for(lambda: shared_lists(shared, second), timeout=60,
                 what="the second revocation at the shared location")

        # Once more the other way: A stops, B fails again, A returns.
        yielded = b.output().count("lease released")
        a2.stop()
        _, third = revoke_new(s, "third")
        wait_for(lambda: b.output().count("lease released") > yielded,
                 timeout=90, what="B failing again")
        a3 = s.start_crlgen()
        wait_for(lambda: shared_lists(shared, third), timeout=90,
                 what="the third revocation at the shared location")
        a3.stop()
        b.stop()

        got = arrivals(shared)
        fulls = set()
        for kind, number, base, copy in got:
            openssl_crl_verify(copy, s.path("issuer.pem"))
            if kind == "full":
                fulls.add(number)
            else:
                # the delta's base is a full CRL that arrived before it
                assert base in fulls, (got, base)
        # ... and it is the full CRL at the shared location when it came
        full = None
        for kind, number, base, _ in got:
            if kind == "full":
                full = number
            else:
                assert base == full, got
        numbers = [n for _, n, _, _ in got]
        assert numbers == sorted(set(numbers)), numbers
        # B published, only never where clients read
        assert b_full in log_numbers(b)
        assert not set(log_numbers(b)) & set(numbers)
        assert "post_publish failed" in b.output()

        # A client with the shared full and delta CRLs sees every
        # revocation (OpenSSL combines them: the delta's base must be
        # that full CRL or older).
        full_pem = to_pem(os.path.join(shared, "demo.crl"),
                          os.path.join(tmp, "full.pem"))
        delta_pem = to_pem(os.path.join(shared, "demo-delta.crl"),
                           os.path.join(tmp, "delta.pem"))
        for stem in ("first", "second", "third"):
            ok, out = openssl_verify(s.path(stem + ".pem"), s.path("chain.pem"),
                                     [full_pem, delta_pem], deltas=True)
            assert not ok and "revoked" in out, (stem, out)
        ok, out = openssl_verify(s.path("good.pem"), s.path("chain.pem"),
                                 [full_pem, delta_pem], deltas=True)
        assert ok, out
    finally:
        s.close()


def test_a_shard_that_does_not_get_out_stops_the_round(tmp_path, pki_dir):
    """The shards go out before the full CRL: a shard whose command fails
    stops the round before the full CRL is even published, the base stays,
    and the delta published instead names it."""
    tmp = str(tmp_path)
    shared = os.path.join(tmp, "shared")
    os.makedirs(os.path.join(shared, "history"))
    flag = os.path.join(tmp, "shards-fail")
    hook = write_hook(os.path.join(tmp, "copy.sh"),
                      '#!/bin/sh\n[ "$REVOCA_CRL_KIND" = shard ] && '
                      '[ -e "%s" ] && exit 3\n' % flag +
                      (COPY % shared).split("\n", 1)[1])
    issuers = [{"name": "demo", "shards": 2,
                "crl": '{ update_interval = "1s"; }'}]
    s = CrlStack(tmp_path, pki_dir, issuers=issuers,
                 crl={"post_publish": hook})
    try:
        s.start_signer()
        s.once()
        kinds = [k for k, *_ in arrivals(shared)]
        assert kinds == ["shard", "shard", "full", "delta"], kinds
        base = arrivals(shared)[2][1]

        open(flag, "w").close()
        _, serial = revoke_new(s, "after")
        p = s.once(check=False)
        assert p.returncode == 1 and "post_publish" in p.stderr, p.stderr
        # the full CRL was not even published here, the base stayed
        assert openssl_crl_numbers(s.file("demo.crl"))[0] == base
        assert int(s.r().hget("revoca:crlgen-state:demo",
                              "full_number")) == base
        got = arrivals(shared)
        assert [k for k, *_ in got][4:] == ["delta"], got
        assert got[-1][2] == base and shared_lists(shared, serial)

        os.remove(flag)
        s.once()
        got = arrivals(shared)
        assert [k for k, *_ in got][5:] == ["shard", "shard", "full", "delta"]
        assert got[-1][2] == got[-2][1] > base
        numbers = [n for _, n, _, _ in got]
        assert numbers == sorted(set(numbers)), numbers
        for _, _, _, copy in got:
            openssl_crl_verify(copy, s.path("issuer.pem"))
    finally:
        s.close()
