"""revoca import --openssl-index: progress without a terminal, bad rows named
by line and skipped (with --strict: nothing written), --wait, and a summary
line."""
import os

from test_cli import stream_len


def write_index(path, n, bad_at=None):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            if i == bad_at:
                f.write("X\t301231235959Z\t\t%X\tunknown\t/CN=x\n" % i)
            elif i % 10 == 0:
                f.write("R\t301231235959Z\t260101000000Z,keyCompromise\t%X\tunknown\t/CN=r%d\n" % (i, i))
            else:
                f.write("V\t301231235959Z\t\t%X\tunknown\t/CN=v%d\n" % (i, i))


def test_progress_lines_without_terminal(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    write_index(idx, 5000)
    # stderr is a pipe here: progress comes as plain lines
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  "--progress", "0")
    lines = [l for l in p.stderr.splitlines() if " progress rows=" in l]
    assert lines, p.stderr
    assert all(l.startswith("revoca: " + idx + ": progress rows=") for l in lines)
    assert "/5000 events=" in lines[0] and "events_per_s=" in lines[0]
    assert "\r" not in p.stderr
    assert "certificates=5000 events=5500" in p.stdout, p.stdout
    assert stream_len(stack) == 5500


def test_bad_row_strict_nothing_written(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    write_index(idx, 3000, bad_at=2500)
    with open(idx, "a") as f:
        f.write("V\t301231235959Z\t\tZZ\tunknown\t/CN=bad serial\n")
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx,
                  "--strict", check=False)
    assert p.returncode == 2
    # every bad row named, by file and line, before anything is sent
    assert "index.txt:2500: status must be V, E or R\n" in p.stderr, p.stderr
    assert "index.txt:3001: bad serial\n" in p.stderr, p.stderr
    assert "2 bad rows, nothing sent (--strict)" in p.stderr
    assert stream_len(stack) == 0


def test_bad_row_skipped_by_line(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    write_index(idx, 3000, bad_at=2500)
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    assert "index.txt:2500: status must be V, E or R (skipped)" in p.stderr
    assert "certificates=2999 events=3298 released=0 skipped=1" in p.stdout, \
        p.stdout
    assert stream_len(stack) == 3298


def test_bad_progress_value(stack):
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", "/x",
                  "--progress", "soon", check=False)
    assert p.returncode == 2 and "--progress soon: must be 0..3600" in p.stderr


def record_status(stack, serial):
    out = stack.cli("status", "--issuer", "demo", "--serial", serial).stdout
    return [l.split()[1] for l in out.splitlines() if l.startswith("record ")][0]


def wait_status(stack, serial, want):
    import time
    deadline = time.time() + 60
    while record_status(stack, serial) != want and time.time() < deadline:
        time.sleep(0.1)
    return record_status(stack, serial)


def test_resync_releases_a_hold_the_index_no_longer_shows(stack):
    stack.start_signer()
    idx = os.path.join(stack.tmp, "index.txt")
    with open(idx, "w") as f:
        f.write("V\t301231235959Z\t\t0A\tunknown\t/CN=a\n")
        f.write("R\t301231235959Z\t260101000000Z,certificateHold\t0B\tunknown\t/CN=b\n")
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    assert "released=0" in p.stdout
    assert wait_status(stack, "0b", "hold") == "hold"
    assert wait_status(stack, "0a", "good") == "good"
    # the CA lifts the hold: the row is V again
    with open(idx, "w") as f:
        f.write("V\t301231235959Z\t\t0A\tunknown\t/CN=a\n")
        f.write("V\t301231235959Z\t\t0B\tunknown\t/CN=b\n")
    before = stream_len(stack)
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx)
    assert "released=1" in p.stdout, p.stdout
    assert stream_len(stack) == before + 3  # two issued, one release
    assert wait_status(stack, "0b", "good") == "good"
    assert record_status(stack, "0a") == "good"


def test_certs_import_never_releases(stack):
    stack.start_signer()
    serial = stack.serial_of(stack.path("good.pem"))
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("good.pem"), "--wait")
    stack.cli("hold", "--issuer", "demo", "--serial", serial, "--wait")
    p = stack.cli("import", "--issuer", "demo", "--certs", stack.path("good.pem"))
    assert "released=0" in p.stdout, p.stdout
    assert record_status(stack, serial) == "hold"
