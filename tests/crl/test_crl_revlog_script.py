"""The Lua script that swaps a rebuilt revoked log in (crl_revlog_rebuild.c,
crl_revlog_script()), run as crlgen runs it, against a real Redis, in the
interleavings a test of the whole generator cannot time: changes appended
while the scan ran, a log started by a signer meanwhile, and a rebuild by
another generator meanwhile."""
import subprocess

import pytest

from conftest import SEED
from revoca_fixtures import RedisServer

LOG, TMP = "revoca:revlog:demo:0", "revoca:revlog:demo:0:rebuild:1:1"


def rebuild_script():
    """The script as crlgen sends it, the header's layout formatted in from
    revlog.h's macros (crl_revlog_script())."""
    return subprocess.run([SEED, "--revlog-script"], check=True,
                          capture_output=True).stdout


def header(origin, gen):
    return b"RVLOG\x01\x00" + bytes([origin]) + gen


def rec(kind, serial):
    return bytes([ord(kind), len(serial), 0, 0]) + serial.encode()


NEW = header(1, b"N" * 8) + rec("D", "aa")  # what the scan rebuilt


@pytest.fixture
def r(tmp_path):
    srv = RedisServer(str(tmp_path / "redis")).start()
    yield srv.client()
    srv.stop()


def swap(r, mark_len, mark_header, tmp=NEW):
    r.set(TMP, tmp)
    return r.eval(rebuild_script(), 2, TMP, LOG, mark_len, len(tmp),
                  mark_header)


def test_changes_appended_during_the_scan_follow_the_rebuilt_log(r):
    old = header(0, b"O" * 8) + rec("D", "01")
    r.set(LOG, old + rec("D", "02"))  # appended after the mark
    assert swap(r, len(old), old[:16]) == 1
    assert r.get(LOG) == NEW + rec("D", "02")
    assert r.ttl(LOG) == -1 and not r.exists(TMP)


def test_a_log_rebuilt_meanwhile_by_another_generator_is_left_alone(r):
    old = header(0, b"O" * 8) + rec("D", "01")
    other = header(1, b"X" * 8) + rec("D", "03")
    r.set(LOG, other)
    assert swap(r, len(old), old[:16]) == 2
    assert r.get(LOG) == other and not r.exists(TMP)


def test_a_log_started_by_a_signer_during_the_scan_keeps_its_records(r):
    # no log when the scan began (mark 0, no header)
    started = header(0, b"S" * 8) + rec("D", "04")
    r.set(LOG, started)
    assert swap(r, 0, b"") == 1
    assert r.get(LOG) == NEW + rec("D", "04")


def test_a_log_rebuilt_where_there_was_none_is_left_alone(r):
    other = header(1, b"X" * 8) + rec("D", "05")
    r.set(LOG, other)
    assert swap(r, 0, b"") == 2
    assert r.get(LOG) == other


def test_a_headerless_log_keeps_what_was_appended_after_the_mark(r):
    junk = rec("D", "06")
    r.set(LOG, junk + rec("D", "07"))
    assert swap(r, len(junk), b"") == 1
    assert r.get(LOG) == NEW + rec("D", "07")


def test_a_log_of_another_type_is_replaced(r):
    r.hset(LOG, "not", "a log")
    assert swap(r, 0, b"") == 1
    assert r.get(LOG) == NEW


def test_an_incomplete_rebuild_changes_nothing(r):
    r.set(LOG, b"kept")
    r.set(TMP, NEW[:-1])
    assert r.eval(rebuild_script(), 2, TMP, LOG, 0, len(NEW), b"") == 0
    assert r.get(LOG) == b"kept" and not r.exists(TMP)
