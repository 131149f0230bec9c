"""The revoked log (responder/revlog.h): a full CRL read from
P:revlog:ISSUER:SHARD instead of a scan of the hash.  The log is trusted
only when it starts with a header and its replay has exactly the hash's
HLEN entries; otherwise the hash is scanned and the log rebuilt."""
import shutil

from conftest import CrlStack, cert, openssl_crl_verify, wait_for
from test_crl_full import seed

LOG = "revoca:revlog:demo:0"
HASH = "revoca:revoked:demo:0"
NOT_USED = "revoked log not used"


def fresh(s):
    """As on a new machine: no snapshot, no CRL published before."""
    shutil.rmtree(s.pub, ignore_errors=True)
    shutil.rmtree(s.pub + ".state", ignore_errors=True)


def delete(s, serials):
    """What the signer does when a serial leaves the hash (a release, an
    expiry past retention): HDEL and a 'D' record."""
    with s.r().pipeline(transaction=False) as p:
        for serial in serials:
            h = "%x" % serial
            p.hdel(HASH, h)
            p.append(LOG, bytes([ord("D"), len(h), 0, 0]) + h.encode())
        p.execute()


def from_log(s, want):
    """A first CRL on a new machine is read from the log and lists WANT."""
    fresh(s)
    p = s.once("-v")
    assert NOT_USED not in p.stderr, p.stderr
    assert s.serials("demo.crl") == want
    return p


def records(s):
    """The log's records as (kind, serial hex), in order."""
    raw = s.r().get(LOG)
    assert raw[:6] == b"RVLOG\x01", raw[:16]
    out, i = [], 16
    while i < len(raw):
        kind, slen = chr(raw[i]), raw[i + 1]
        vlen = raw[i + 2] << 8 | raw[i + 3]
        out.append((kind, raw[i + 4:i + 4 + slen].decode()))
        i += 4 + slen + vlen
    assert i == len(raw)
    return out


def test_signer_appends_every_change_and_crlgen_reads_it(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    s.start_signer()
    try:
        rev = s.issue_revoke("revoked")
        s.cli("issue", "--issuer", "demo", "--cert", s.path("good.pem"))
        s.cli("hold", "--issuer", "demo", "--cert", s.path("good.pem"), "--wait")
        s.cli("release", "--issuer", "demo", "--cert", s.path("good.pem"),
              "--wait")
        held = "%x" % cert(s.path("good.pem")).serial_number
        log = records(s)
        kinds = [k for k, _ in log]
        # revoke; hold, then release (deleted from the hash)
        assert kinds == ["A", "A", "D"], log
        assert log[0][1] == "%x" % rev
        assert [x for _, x in log[1:]] == [held] * 2
        p = from_log(s, [rev])
        assert "from=redis" in p.stderr, p.stderr
        openssl_crl_verify(s.file("demo.crl"), s.path("issuer.pem"))
    finally:
        s.close()


def test_log_and_scan_give_the_same_crl(tmp_path, pki_dir):
    # 60,000 records make a log of ~5.6 MB: read in more than one piece
    # (4 MB), with a record cut across the boundary
    s = CrlStack(tmp_path, pki_dir)
    try:
        want = seed(s, "--count", "60000", "--seed", "21")
        delete(s, want[:100])
        want = want[100:]
        assert s.r().strlen(LOG) > 4 << 20
        from_log(s, want)
        openssl_crl_verify(s.file("demo.crl"), s.path("issuer.pem"))

        fresh(s)
        s.r().delete(LOG)
        p = s.once("-v")
        assert NOT_USED in p.stderr and "no log header" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        # rebuilt: one 'A' per entry, no 'D'
        log = records(s)
        assert len(log) == len(want) and {k for k, _ in log} == {"A"}
        from_log(s, want)
    finally:
        s.close()


def test_log_out_of_step_with_the_hash_is_not_trusted(tmp_path, pki_dir):
    s = CrlStack(tmp_path, pki_dir)
    try:
        want = seed(s, "--count", "500", "--seed", "22")
        # a field removed behind the log's back (an operator's HDEL): the
        # log still lists it, so its count differs and the hash wins
        gone = want.pop(7)
        s.r().hdel(HASH, "%x" % gone)
        p = s.once("-v")
        assert "log has 500 entries, hash 499" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        from_log(s, want)

        # a corrupt record: scanned instead, never published without it
        s.r().append(LOG, b"Zjunk")
        fresh(s)
        p = s.once("-v")
        assert "invalid record" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        assert records(s)  # rebuilt and valid again
    finally:
        s.close()


def test_log_without_header_is_rebuilt(tmp_path, pki_dir):
    # A log whose header is missing (its key was lost and a signer
    # appended to a new one) is scanned and rebuilt.
    s = CrlStack(tmp_path, pki_dir)
    try:
        want = seed(s, "--count", "50", "--seed", "23")
        s.r().set(LOG, s.r().get(LOG)[16:])  # header gone
        p = s.once("-v")
        assert "no log header" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        assert len(records(s)) == 50
    finally:
        s.close()


def test_mostly_superseded_log_is_compacted(tmp_path, pki_dir):
    # 60,000 entries, then 59,000 of them deleted (expired past retention,
    # say): 119,000 records for 1,000 entries is past the slack of 100,000
    s = CrlStack(tmp_path, pki_dir)
    try:
        want = seed(s, "--count", "60000", "--seed", "24")
        delete(s, want[1000:])
        want = want[:1000]
        p = s.once("-v")
        assert "compacting" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        log = records(s)
        assert len(log) == 1000 and {k for k, _ in log} == {"A"}
        from_log(s, want)
    finally:
        s.close()


def test_log_of_another_type_is_replaced(tmp_path, pki_dir):
    # The hash is the record of truth: a log key holding something else
    # does not stop CRLs, it is scanned around and replaced.
    s = CrlStack(tmp_path, pki_dir)
    try:
        want = seed(s, "--count", "50", "--seed", "25")
        s.r().delete(LOG)
        s.r().hset(LOG, "not", "a log")
        p = s.once("-v")
        assert NOT_USED in p.stderr and "WRONGTYPE" in p.stderr, p.stderr
        assert s.serials("demo.crl") == want
        assert len(records(s)) == 50
        from_log(s, want)
    finally:
        s.close()


def test_signer_drops_a_log_it_could_not_append_to(tmp_path, pki_dir):
    # An append that fails inside the signer's transaction (here: the key
    # holds a hash) would leave the log one change short: the signer
    # deletes it, and the generator rebuilds it from the hash.
    s = CrlStack(tmp_path, pki_dir)
    sig = s.start_signer()
    try:
        s.r().hset(LOG, "not", "a log")
        rev = s.issue_revoke("revoked")
        wait_for(lambda: not s.r().exists(LOG), what="the log dropped")
        assert "command failed in transaction" in sig.output()
        assert s.r().hexists(HASH, "%x" % rev)
        p = s.once("-v")
        assert "no log header" in p.stderr, p.stderr
        assert s.serials("demo.crl") == [rev]
        assert records(s) == [("A", "%x" % rev)]
        from_log(s, [rev])
    finally:
        s.close()
