"""revoca import --openssl-index: progress without a terminal, bad rows named
by line with nothing written, and a summary line."""
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


def test_bad_row_named_and_nothing_written(stack):
    idx = os.path.join(stack.tmp, "index.txt")
    write_index(idx, 3000, bad_at=2500)
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", idx, check=False)
    assert p.returncode == 2
    assert "index.txt:2500: status must be V, E or R" in p.stderr
    assert stream_len(stack) == 0


def test_bad_progress_value(stack):
    p = stack.cli("import", "--issuer", "demo", "--openssl-index", "/x",
                  "--progress", "soon", check=False)
    assert p.returncode == 2 and "--progress soon: must be 0..3600" in p.stderr
