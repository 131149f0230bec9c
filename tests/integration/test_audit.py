"""revoca-audit against a real redis-server, events written with the real
`revoca` CLI: the chain verifies while intact; `revoca audit verify` exits 1
naming the entry when one is deleted, inserted (a chain record removed:
a stream takes no new id below its last one) or changed (its chain record
rewritten); a restart resumes the chain, and a SIGKILL leaves it whole."""
import os
import signal
import subprocess

from revoca_fixtures import BUILD, Daemon, wait_for

AUDIT = os.path.join(BUILD, "responder", "revoca-audit")


def write_events(stack, start, n):
    for i in range(start, start + n):
        stack.cli("issue", "--issuer", "demo", "--serial", "%x" % (0x1000 + i),
                  "--not-after", "2030-01-01", "--no-wait")


def start_audit(stack, n=[0]):
    n[0] += 1
    return Daemon([AUDIT, "-c", stack.conf, "-v"],
                  os.path.join(stack.tmp, "audit%d.log" % n[0])).start()


def chained(stack):
    head = stack.r().get("revoca:audit:head")
    return int(head.split()[0]) if head else 0


def verify(stack, *args):
    return stack.cli("audit", "verify", *args, check=False)


def ids(stack):
    return [e[0].decode() for e in stack.r().xrange("revoca:events")]


def test_intact_then_tampered(stack):
    d = start_audit(stack)
    write_events(stack, 0, 6)
    wait_for(lambda: chained(stack) == 6, what="6 entries chained")
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "intact: 6 entries verified" in p.stdout
    r = stack.r()
    all_ids = ids(stack)

    # --since starts from the chained link of the entry before it
    p = verify(stack, "--since", all_ids[3])
    assert p.returncode == 0 and "intact: 3 entries" in p.stdout, p.stdout

    # changed: the chain record of entry 2 rewritten
    saved = r.hget("revoca:audit:chain", all_ids[2])
    prev = saved.split()[0]
    r.hset("revoca:audit:chain", all_ids[2], prev + b" " + b"0" * 64)
    p = verify(stack)
    assert p.returncode == 1
    assert "entry %s" % all_ids[2] in p.stdout and "changed" in p.stdout
    r.hset("revoca:audit:chain", all_ids[2], saved)
    assert verify(stack).returncode == 0

    # inserted: an entry the chain never saw
    r.hdel("revoca:audit:chain", all_ids[4])
    p = verify(stack)
    assert p.returncode == 1
    assert "entry %s" % all_ids[4] in p.stdout and "inserted" in p.stdout
    r.hset("revoca:audit:chain", all_ids[4], saved)  # wrong record
    p = verify(stack)
    assert p.returncode == 1 and all_ids[4] in p.stdout

    d.stop()


def test_deleted_entry_and_head(stack):
    d = start_audit(stack)
    write_events(stack, 0, 5)
    wait_for(lambda: chained(stack) == 5, what="5 entries chained")
    d.stop()
    r = stack.r()
    all_ids = ids(stack)
    r.xdel("revoca:events", all_ids[1])
    p = verify(stack)
    assert p.returncode == 1
    assert "entry %s was chained after %s" % (all_ids[2], all_ids[1]) \
        in p.stdout and "deleted" in p.stdout
    # the last entry deleted: the head names it
    r2 = stack.r()
    r2.xdel("revoca:events", all_ids[4])
    p = verify(stack, "--since", all_ids[3])
    assert p.returncode == 1
    assert "head entry %s is missing" % all_ids[4] in p.stdout


def test_restart_resumes_and_sigkill(stack):
    d = start_audit(stack)
    write_events(stack, 0, 3)
    wait_for(lambda: chained(stack) == 3, what="3 entries chained")
    assert d.stop() == 0
    write_events(stack, 3, 3)  # while it is down: not chained yet
    p = verify(stack)
    assert p.returncode == 0 and "3 not yet chained" in p.stdout, p.stdout
    d = start_audit(stack)
    wait_for(lambda: chained(stack) == 6, what="resumed to 6")
    assert "audit resumed count=3" in d.output()
    # killed repeatedly while events come: the chain stays whole
    for k in range(3):
        write_events(stack, 6 + 2 * k, 2)
        d.stop(sig=signal.SIGKILL)
        d = start_audit(stack)
    wait_for(lambda: chained(stack) == 12, what="12 chained")
    d.stop()
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "intact: 12 entries verified" in p.stdout
    assert stack.r().hlen("revoca:audit:chain") == 12


def test_usage(stack):
    p = stack.cli("audit", check=False)
    assert p.returncode == 2 and "verify" in p.stderr
    p = stack.cli("audit", "verify", "--since", "01-0", check=False)
    assert p.returncode == 2 and "--since 01-0" in p.stderr
    p = verify(stack)
    assert p.returncode == 1 and "no chain yet" in p.stderr


def test_signed_checkpoints(stack):
    stack.write_conf(stack.issuers, extra=(
        'audit = { key = "%s"; cert = "%s"; checkpoint_events = 2; '
        'checkpoint_interval = "1s"; };\n'
        % (stack.path("responder.key"), stack.path("responder.pem"))))
    d = start_audit(stack)
    write_events(stack, 0, 5)
    wait_for(lambda: chained(stack) == 5, what="5 entries chained")
    r = stack.r()
    # every 2 entries, or after 1 s with new ones: the last covers all 5
    wait_for(lambda: any(b"count=5\n" in e[1][b"c"]
                         for e in r.xrange("revoca:audit:checkpoints")),
             what="a checkpoint of all 5")
    d.stop()
    p = verify(stack)
    assert p.returncode == 0, p.stdout + p.stderr
    n = r.xlen("revoca:audit:checkpoints")
    assert "checkpoints: %d verified" % n in p.stdout

    # a signature altered (a stream entry cannot be rewritten: deleted and
    # added again, altered)
    cid, fields = r.xrange("revoca:audit:checkpoints")[0]
    sig = bytearray(fields[b"s"])
    sig[len(sig) // 2] ^= 1
    r.xdel("revoca:audit:checkpoints", cid)
    r.xadd("revoca:audit:checkpoints", {"c": fields[b"c"], "s": bytes(sig)})
    p = verify(stack)
    assert p.returncode == 1 and "bad signature" in p.stdout, p.stdout
    new_id = r.xrange("revoca:audit:checkpoints")[-1][0].decode()
    assert "checkpoint %s" % new_id in p.stdout
    r.xdel("revoca:audit:checkpoints", new_id)
    assert verify(stack).returncode == 0

    # the chain record a checkpoint covers rewritten along with its
    # successor's: the checkpoint's head names it
    cid, fields = r.xrange("revoca:audit:checkpoints")[-1]
    last = fields[b"c"].split(b"last=")[1].split(b"\n")[0].decode()
    rec = r.hget("revoca:audit:chain", last)
    r.hset("revoca:audit:chain", last, rec.split()[0] + b" " + b"1" * 64)
    p = verify(stack)
    assert p.returncode == 1 and last in p.stdout

    # a bad key is refused at start, naming the key
    stack.write_conf(stack.issuers, extra=(
        'audit = { key = "%s"; cert = "%s"; };\n'
        % (stack.path("issuer.key"), stack.path("responder.pem"))))
    p = subprocess.run([AUDIT, "-c", stack.conf, "--check"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "audit.key" in p.stderr, p.stderr
