"""revoca-audit's archive (docs/audit.md "Archive") against a real
redis-server: chained entries go to segment files (read here with a parser
written from the documented format, not the C reader), the stream is
trimmed only after, never past what a consumer group still needs; a kill at
any step leaves every entry in the stream or in exactly one complete
segment; `revoca audit verify` covers the archive and the stream and names
the place of every kind of tampering."""
import hashlib
import os
import random
import signal
import struct
import subprocess
import threading
import time

from revoca_fixtures import BUILD, Daemon, wait_for

AUDIT = os.path.join(BUILD, "responder", "revoca-audit")
GENESIS = hashlib.sha256(b"revoca-audit-v1 genesis").digest()


# -- the segment format, version 1, from docs/audit.md ---------------------

def parse_segment(data):
    """(header dict, [(id, bytes, link)], checkpoint text, signature)."""
    assert data[:8] == b"RVAUDSEG"
    ver, first_count = struct.unpack(">IQ", data[8:20])
    assert ver == 1
    off = 20

    def var():
        nonlocal off
        (n,) = struct.unpack(">I", data[off:off + 4])
        v = data[off + 4:off + 4 + n]
        off += 4 + n
        return v
    prev_id = var().decode()
    prev_link = data[off:off + 32]
    off += 32
    recs = []
    while data[off:off + 1] == b"R":
        off += 1
        rid = var().decode()
        field = var()
        link = data[off:off + 32]
        off += 32
        recs.append((rid, field, link))
    assert data[off:off + 1] == b"T"
    (n,) = struct.unpack(">Q", data[off + 1:off + 9])
    off += 9
    assert n == len(recs)
    cp = var()
    sig = var()
    assert off == len(data)
    return ({"first_count": first_count, "prev_id": prev_id,
             "prev_link": prev_link}, recs, cp, sig)


def link(prev, rid, field):
    rid = rid.encode()
    return hashlib.sha256(prev + struct.pack(">I", len(rid)) + rid +
                          struct.pack(">I", len(field)) + field).digest()


def build_segment(first_count, prev_id, prev_link, entries, cp, sig):
    out = [b"RVAUDSEG", struct.pack(">IQ", 1, first_count)]

    def var(b):
        out.append(struct.pack(">I", len(b)) + b)
    var(prev_id.encode())
    out.append(prev_link)
    for rid, field, lk in entries:
        out.append(b"R")
        var(rid.encode())
        var(field)
        out.append(lk)
    out.append(b"T" + struct.pack(">Q", len(entries)))
    var(cp)
    var(sig)
    return b"".join(out)


def segments(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".seg"))


def archived_ids(d):
    """Every id in the segments of D, in order (each segment checked)."""
    out = []
    prev_link = GENESIS
    for n in segments(d):
        with open(os.path.join(d, n), "rb") as f:
            hdr, recs, cp, sig = parse_segment(f.read())
        assert hdr["prev_link"] == prev_link, n
        lk = prev_link
        for rid, field, stored in recs:
            lk = link(lk, rid, field)
            assert lk == stored, (n, rid)
            out.append(rid)
        prev_link = lk
        ms, seq = recs[0][0].split("-")
        assert n == "audit-%020d-%020d.seg" % (int(ms), int(seq))
    return out


# -- fixtures ---------------------------------------------------------------

def conf(stack, archive, after="0s", hook=None, extra=""):
    text = ('audit = { key = "%s"; cert = "%s"; checkpoint_events = 25; '
            'checkpoint_interval = "1s"; archive_dir = "%s"; '
            'archive_after = "%s"; archive_interval = "1s"; '
            'segment_events = 40; archive_hook_retries = 1; '
            'archive_hook_timeout = "120s"; %s%s};\n'
            % (stack.path("responder.key"), stack.path("responder.pem"),
               archive, after,
               'archive_hook = "%s"; ' % hook if hook else "", extra))
    stack.write_conf(stack.issuers, extra=text)


def start_audit(stack, env=None, n=[0]):
    n[0] += 1
    d = Daemon([AUDIT, "-c", stack.conf, "-v"],
               os.path.join(stack.tmp, "audit-ar%d.log" % n[0]))
    if env:
        d.logf = open(d.log, "ab")
        d.proc = subprocess.Popen(d.argv, stdout=d.logf, stderr=d.logf,
                                  env=dict(os.environ, **env))
        return d
    return d.start()


def add(r, n):
    p = r.pipeline(transaction=False)
    for _ in range(n):
        p.xadd("revoca:events", {"e": os.urandom(random.randint(1, 120))})
    return [i.decode() for i in p.execute()]


def archived_count(r):
    v = r.get("revoca:audit:archive")
    return int(v.split()[0]) if v else 0


def chained(r):
    v = r.get("revoca:audit:head")
    return int(v.split()[0]) if v else 0


def stream_ids(r):
    return [e[0].decode() for e in r.xrange("revoca:events")]


def verify(stack, *args):
    return stack.cli("audit", "verify", *args, check=False, timeout=120)


def check_invariant(r, archive, written):
    """Every id written is in the stream or in exactly one segment."""
    arch = archived_ids(archive)
    assert len(arch) == len(set(arch)), "an entry in two segments"
    have = set(arch) | set(stream_ids(r))
    lost = [i for i in written if i not in have]
    assert not lost, "lost %d entries, first %s" % (len(lost), lost[0])
    return arch


def archive_dir(stack):
    d = os.path.join(stack.tmp, "archive")
    os.makedirs(d, exist_ok=True)
    return d


# -- tests --------------------------------------------------------------------

def test_archive_trims_within_groups_and_verifies(stack):
    ar = archive_dir(stack)
    conf(stack, ar)
    r = stack.r()
    r.xgroup_create("revoca:events", "signer", id="0", mkstream=True)
    written = add(r, 200)
    # the group has read 50 and acknowledged none: nothing can be trimmed
    got = r.xreadgroup("signer", "c1", {"revoca:events": ">"}, count=50)
    d = start_audit(stack)
    wait_for(lambda: archived_count(r) == 200, what="200 entries archived")
    assert r.xlen("revoca:events") == 200
    assert archived_ids(ar) == written
    assert len(segments(ar)) == 5  # segment_events = 40
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "archive: 5 segments, 200 entries verified" in p.stdout
    assert "intact: 200 entries verified" in p.stdout

    # acknowledged: trimmed up to the group's next undelivered entry
    r.xack("revoca:events", "signer", *[e[0] for e in got[0][1]])
    wait_for(lambda: r.xlen("revoca:events") == 150, what="trim to the group")
    assert stream_ids(r)[0] == written[50]
    # the group reads the rest, acknowledges: the stream empties
    rest = r.xreadgroup("signer", "c1", {"revoca:events": ">"}, count=1000)
    r.xack("revoca:events", "signer", *[e[0] for e in rest[0][1]])
    wait_for(lambda: r.xlen("revoca:events") == 0, what="stream trimmed")
    # memory bounded: the chain records of archived entries are gone (the
    # last one kept), and the checkpoints they covered
    assert r.hlen("revoca:audit:chain") == 1
    assert r.xlen("revoca:audit:checkpoints") == 0
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr

    # more, archived after the first ones, chain continuing
    written += add(r, 30)
    r.xreadgroup("signer", "c1", {"revoca:events": ">"}, count=1000)
    r.xack("revoca:events", "signer", *written[200:])
    wait_for(lambda: archived_count(r) == 230 and
             r.xlen("revoca:events") == 0, what="230 archived and trimmed")
    assert archived_ids(ar) == written
    p = verify(stack)
    assert p.returncode == 0 and "230 entries verified" in p.stdout, p.stdout
    assert d.stop() == 0
    assert "[error]" not in d.output().lower()


def test_verify_names_tampering(stack):
    ar = archive_dir(stack)
    conf(stack, ar)
    r = stack.r()
    written = add(r, 130)  # 4 segments: 40, 40, 40, 10
    d = start_audit(stack)
    wait_for(lambda: archived_count(r) == 130, what="130 archived")
    d.stop()
    # some entries chained, not archived (archive_after 1h)
    conf(stack, ar, after="1h")
    d = start_audit(stack)
    written += add(r, 10)
    wait_for(lambda: chained(r) == 140, what="140 chained")
    d.stop()
    assert verify(stack).returncode == 0
    segs = segments(ar)
    assert len(segs) == 4
    path = lambda i: os.path.join(ar, segs[i])  # noqa: E731

    def read(i):
        with open(path(i), "rb") as f:
            return f.read()

    def write(i, b):
        with open(path(i), "wb") as f:
            f.write(b)

    def tampered(*want):
        p = verify(stack)
        assert p.returncode == 1, p.stdout + p.stderr
        for w in want:
            assert w in p.stdout, (w, p.stdout)
        return p.stdout

    # a byte of an archived event rewritten: the segment and the record
    orig = read(1)
    hdr, recs, cp, sig = parse_segment(orig)
    pos = orig.index(recs[6][1])
    b = bytearray(orig)
    b[pos] ^= 0x40
    write(1, bytes(b))
    tampered("segment %s" % path(1), "record 7 (id %s)" % recs[6][0],
             "changed")
    write(1, orig)

    # rewritten with every link recomputed: only the signature tells
    new = [(rid, f, None) for rid, f, _ in recs]
    new[3] = (new[3][0], b"forged", None)
    lk = hdr["prev_link"]
    out = []
    for rid, f, _ in new:
        lk = link(lk, rid, f)
        out.append((rid, f, lk))
    fcp = cp.replace(cp.split(b"head=")[1][:64], lk.hex().encode())
    write(1, build_segment(hdr["first_count"], hdr["prev_id"],
                           hdr["prev_link"], out, fcp, sig))
    tampered("segment %s" % path(1), "bad checkpoint signature")
    write(1, orig)

    # two records swapped (reordered)
    out = list(recs)
    out[2], out[3] = out[3], out[2]
    write(1, build_segment(hdr["first_count"], hdr["prev_id"],
                           hdr["prev_link"], out, cp, sig))
    tampered("segment %s" % path(1), "record 3 (id %s)" % recs[3][0],
             "reordered")
    write(1, orig)

    # a record removed
    out = recs[:5] + recs[6:]
    write(1, build_segment(hdr["first_count"], hdr["prev_id"],
                           hdr["prev_link"], out, cp, sig))
    tampered("segment %s" % path(1), "record 6 (id %s)" % recs[6][0])
    write(1, orig)

    # a segment deleted in the middle, and at the end
    os.rename(path(2), path(2) + ".away")
    tampered("segment %s" % path(3), "a segment is missing")
    os.rename(path(2) + ".away", path(2))
    os.rename(path(3), path(3) + ".away")
    tampered("ends at entry %s" % written[119], "a segment is missing "
             "(deleted)")
    os.rename(path(3) + ".away", path(3))

    # segments reordered by renaming
    a, b2 = read(1), read(2)
    write(1, b2)
    write(2, a)
    tampered("segment %s" % path(1))
    write(1, a)
    write(2, b2)
    assert verify(stack).returncode == 0

    # XDEL of an entry of the stream after the archive
    r.xdel("revoca:events", written[134])
    tampered("entry %s was chained after %s" % (written[135], written[134]),
             "deleted")
    # and XDEL of the first entry after the archive
    r.xadd("revoca:events", {"e": b"x"})  # keeps the stream's last id
    r2 = stack.r()
    r2.xdel("revoca:events", written[130])
    tampered("entry %s was chained after %s" % (written[131], written[130]))


def test_kill_during_hook_and_before_rename(stack):
    ar = archive_dir(stack)
    marker = os.path.join(stack.tmp, "hook-pid")
    hooklog = os.path.join(stack.tmp, "hook.log")
    block = os.path.join(stack.tmp, "block.sh")
    ok = os.path.join(stack.tmp, "ok.sh")
    with open(block, "w") as f:
        f.write("#!/bin/sh\necho $$ > %s\nexec sleep 300\n" % marker)
    with open(ok, "w") as f:
        f.write('#!/bin/sh\necho "$1" >> %s\n' % hooklog)
    os.chmod(block, 0o755)
    os.chmod(ok, 0o755)
    r = stack.r()
    written = add(r, 30)

    # killed while the hook runs: the segment is durable, not recorded,
    # the stream untouched
    conf(stack, ar, hook=block)
    d = start_audit(stack)
    wait_for(lambda: os.path.exists(marker), what="the hook running")
    d.stop(sig=signal.SIGKILL)
    with open(marker) as f:
        os.kill(int(f.read()), signal.SIGKILL)
    os.unlink(marker)
    assert segments(ar) and archived_ids(ar) == written
    assert r.get("revoca:audit:archive") is None
    assert r.xlen("revoca:events") == 30
    p = verify(stack)
    assert p.returncode == 0 and "not yet committed" in p.stdout, p.stdout

    # restarted: the segment found, hooked again, committed, no duplicate
    conf(stack, ar, hook=ok)
    d = start_audit(stack)
    wait_for(lambda: archived_count(r) == 30, what="committed at restart")
    wait_for(lambda: r.xlen("revoca:events") == 0, what="trimmed")
    seg = segments(ar)
    assert len(seg) == 1
    with open(hooklog) as f:
        assert f.read().split() == [os.path.join(ar, seg[0])]
    assert "found uncommitted" in d.output()
    d.stop()

    # killed between fsync and rename (crlgen's publication stall, which
    # the archive's segments share): only a temporary file; at restart it
    # is removed and the segment written once
    written += add(r, 30)
    d = start_audit(stack, env={"REVOCA_CRLGEN_TEST_STALL_MS": "30000"})
    wait_for(lambda: any(n.startswith(".audit-") for n in os.listdir(ar)),
             what="a temporary segment")
    time.sleep(0.2)  # inside the stall, after the fsync
    d.stop(sig=signal.SIGKILL)
    assert len(segments(ar)) == 1
    assert r.xlen("revoca:events") == 30
    d = start_audit(stack)
    wait_for(lambda: archived_count(r) == 60, what="archived after restart")
    wait_for(lambda: not any(n.startswith(".") for n in os.listdir(ar)),
             what="the temporary file removed")
    d.stop()
    assert check_invariant(r, ar, written) == written
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr


def test_sigkill_at_random_under_load(stack):
    ar = archive_dir(stack)
    conf(stack, ar, extra="segment_bytes = 65536; ")
    r = stack.r()
    written = []
    stop = threading.Event()

    def load():
        w = stack.r()
        while not stop.is_set():
            written.extend(add(w, 5))
            time.sleep(0.02)
    t = threading.Thread(target=load)
    t.start()
    rnd = random.Random(14)
    try:
        for _ in range(15):
            d = start_audit(stack)
            time.sleep(rnd.uniform(0.05, 1.2))
            d.stop(sig=signal.SIGKILL)
            check_invariant(r, ar, list(written))
    finally:
        stop.set()
        t.join()
    d = start_audit(stack)
    total = len(written)
    wait_for(lambda: archived_count(r) == total, timeout=120,
             what="all %d archived" % total)
    wait_for(lambda: r.xlen("revoca:events") == 0, what="stream trimmed")
    d.stop()
    assert check_invariant(r, ar, written) == written
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "intact: %d entries verified" % total in p.stdout


def test_archive_config_refused(stack):
    def check(extra, want):
        stack.write_conf(stack.issuers, extra="audit = { %s };\n" % extra)
        p = subprocess.run([AUDIT, "-c", stack.conf, "--check"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1 and want in p.stderr, p.stderr
    check('archive_dir = "rel/dir";', "audit.archive_dir: expected an "
          "absolute path")
    check('archive_after = "1d";', "audit.archive_after: needs "
          "audit.archive_dir")
    check('archive_dir = "/nonexistent/x";', "not a writable directory")
    check('archive_dir = "%s"; segment_events = 0;' % stack.tmp,
          "segment_events")
    check('archive_dir = "%s"; archive_hook = "hook.sh";' % stack.tmp,
          "audit.archive_hook: expected an absolute path")
