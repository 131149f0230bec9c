"""revoca-signer against Redis servers that misbehave: a hostile server
whose replies would make an unbounded client allocate gigabytes, and a real
redis-server answering LOADING while it loads its data.  The signer must
refuse such replies, drop the connection and back off, never spin, and log
a repeated failure once per interval with a count."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from revoca_fixtures import (REVOCA, SIGNER, Daemon, RedisServer, Stack, render_conf,
                             wait_for, free_port)


class HostileServer:
    """Answers every connection's first command with PAYLOAD, then (with
    STREAM) keeps sending filler bytes, else holds the connection open."""

    def __init__(self, payload, stream=0):
        self.payload = payload
        self.stream = stream
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.answered = 0
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if not c.recv(65536):
                return
            self.answered += 1
            c.sendall(self.payload)
            filler = b"x" * 65536
            sent = 0
            while sent < self.stream:
                c.sendall(filler)
                sent += len(filler)
            while c.recv(65536):
                pass
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closing = True
        self.sock.close()


def proc_status(pid):
    """VmPeak and VmHWM (peak virtual size, peak resident set) in kB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmPeak", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def sanitized(pid):
    """Whether the process runs under AddressSanitizer, whose shadow memory
    is terabytes of address space and whose redzones and quarantine make a
    heap some three times larger."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def signer_on(tmp_path, pki_dir, port, name="signer"):
    if not os.path.exists(str(tmp_path / "pki")):
        shutil.copytree(pki_dir, str(tmp_path / "pki"))
    conf = str(tmp_path / (name + ".conf"))
    with open(conf, "w") as f:
        f.write(render_conf(port, [{"name": "demo"}]))
    os.chdir(str(tmp_path))
    return Daemon([SIGNER, "-c", conf], str(tmp_path / (name + ".log"))).start()


def baseline(tmp_path, pki_dir):
    """The memory of a signer that has started and found no Redis."""
    sig = signer_on(tmp_path, pki_dir, free_port(), "baseline")
    try:
        wait_for(lambda: " started consumer=" in sig.output(), 20,
                 what="the baseline signer started")
        return proc_status(sig.proc.pid)
    finally:
        sig.stop()


HOSTILE = [
    # 13 bytes that make hiredis 0.14 reserve 16 GB for the array
    ("array", b"*2000000000\r\n", 0, "array of 2000000000 elements"),
    # a bulk string hiredis would buffer whole, as it arrives
    ("string", b"$1000000000\r\n", 96 << 20, "string announced as 1000000000 bytes"),
    # arrays within arrays
    ("nested", b"*1\r\n" * 7 + b":1\r\n", 0, "arrays nested 7 deep"),
    # many small objects, each array under the element bound (built below)
    ("objects", None, 0, "reply of more than"),
]


@pytest.mark.parametrize("name,payload,stream,logged", HOSTILE,
                         ids=[h[0] for h in HOSTILE])
def test_signer_bounds_hostile_replies(tmp_path, pki_dir, name, payload,
                                       stream, logged):
    if name == "objects":
        # 200000 arrays of 10: 2.2 M objects, some 150 MB built whole; the
        # bound is 512 K objects
        payload = b"*200000\r\n" + (b"*10\r\n" + b":1\r\n" * 10) * 200000
    base = baseline(tmp_path, pki_dir)
    hostile = HostileServer(payload, stream)
    sig = signer_on(tmp_path, pki_dir, hostile.port)
    t0 = time.monotonic()
    try:
        # refused, dropped, reconnected, refused again (hang guard only)
        wait_for(lambda: hostile.answered >= 3, 60, what="reconnections")
        assert sig.alive()
        st = proc_status(sig.proc.pid)
        elapsed = time.monotonic() - t0
        # Nothing near the 16 GB of the array, the 96 MB streamed or the
        # 150 MB of objects (the bound, 512 K objects, is some 35 MB).
        heap = (3 if sanitized(sig.proc.pid) else 1) * 48 * 1024
        assert st["VmPeak"] - base["VmPeak"] < 2 * 1024 * 1024, (st, base)
        assert st["VmHWM"] - base["VmHWM"] < heap, (st, base)
        # Backoff, not a spin: at most three connections (one per
        # connection of the signer) a round, rounds 100 ms apart at first
        # and doubling.  A spinning client makes thousands a second.
        assert hostile.connections <= 3 * (8 + elapsed), \
            (hostile.connections, elapsed)
        wait_for(lambda: logged in sig.output(), 20, what="the refusal logged")
        lost = [l for l in sig.output().splitlines() if "redis lost" in l]
        assert lost and logged in lost[0]
        assert sig.stop() == 0
    finally:
        if sig.alive():
            sig.stop()
        hostile.close()


def test_signer_backs_off_while_redis_loads(tmp_path, pki_dir):
    """A real redis-server loading its data answers LOADING to every
    command: the signer backs off and logs it once per interval, with the
    count of repeats, then works as soon as Redis has loaded."""
    rdir = str(tmp_path / "redis")
    os.makedirs(rdir)
    port = free_port()
    base = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", rdir, "--appendonly", "no", "--save", ""]
    seed = subprocess.Popen(base, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import redis
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    wait_for(lambda: _ping(r), 10, what="redis-server")
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set("filler:%d" % i, "x")
    pipe.execute()
    r.save()
    r.shutdown(nosave=True)
    seed.wait(10)

    # 2000 keys, 3 ms each: several seconds of LOADING, answered between
    # keys (the events interval at its smallest).
    loading = subprocess.Popen(
        base + ["--key-load-delay", "3000",
                "--loading-process-events-interval-bytes", "1024"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sig = None
    try:
        wait_for(lambda: _loading(r), 10, what="redis-server loading")
        shutil.copytree(pki_dir, str(tmp_path / "pki"))
        conf = str(tmp_path / "revoca.conf")
        with open(conf, "w") as f:
            f.write(render_conf(port, [{"name": "demo"}]))
        os.chdir(str(tmp_path))
        t0 = time.monotonic()
        sig = Daemon([SIGNER, "-c", conf],
                     str(tmp_path / "signer.log")).start()
        wait_for(lambda: "LOADING" in sig.output(), 20,
                 what="LOADING logged")
        wait_for(lambda: not _loading(r), 120, what="redis-server loaded")
        loaded = time.monotonic() - t0
        assert sig.alive()
        lines = [l for l in sig.output().splitlines() if "LOADING" in l]
        # Once per 10 s per connection (and the recovery line): a few
        # lines whatever the load time.  Without backoff it was hundreds
        # a second.
        assert len(lines) <= 3 * (1 + loaded / 10) + 3, (loaded, len(lines))
        wait_for(lambda: "redis recovered" in sig.output(), 30,
                 what="the signer working again")
        out = sig.output()
        # The failures in between were counted, not lost: how many the
        # recovery line says (one per backoff round at least two here:
        # the first try and one after 100 ms) and none in between logged.
        rec = re.search(r"redis recovered .*failures=(\d+)", out)
        assert rec and int(rec.group(1)) >= 2, out[-2000:]
        # and it signs again: the CLI returns once the response is stored
        p = subprocess.run([REVOCA, "-c", conf, "issue", "--issuer", "demo",
                            "--cert", "pki/good.pem"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert sig.stop() == 0
    finally:
        if sig is not None and sig.alive():
            sig.stop()
        loading.terminate()
        loading.wait(10)


def _ping(r):
    try:
        return r.ping()
    except Exception:
        return False


def _loading(r):
    import redis
    try:
        r.ping()
        return False
    except redis.exceptions.BusyLoadingError:
        return True
    except Exception:
        return False
