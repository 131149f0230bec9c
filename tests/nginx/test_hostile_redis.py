"""Redis replies are untrusted input.  A proxy in front of the real Redis
answers the query about one serial with a hostile reply (lengths that make
hiredis 0.14 reserve gigabytes, nesting) and relays everything else: the
query gets tryLater at once, the worker's memory stays put, a concurrent
good request in the same worker is answered, and the log names the
problem."""
import os
import select
import socket
import threading

import pytest
from cryptography.x509 import ocsp

from ocsp_client import post, request_der
from revoca_fixtures import py_ocsp

HOSTILE = [
    # 16 GB of element pointers in hiredis 0.14, and seconds to free them
    (b"*2000000000\r\n", "array of 2000000000 elements"),
    # a gigabyte announced: the old reader waited for it to arrive
    (b"$1000000000\r\n", "string announced as 1000000000 bytes"),
    (b"*1\r\n*1\r\n*1\r\n:1\r\n", "arrays nested 2 deep"),
    (b"*5\r\n", "array of 5 elements"),
]


class HostileProxy:
    """Relays to Redis; a connection whose client sends TRIGGER gets
    PAYLOAD instead of Redis's reply, then silence."""

    def __init__(self, upstream_port, trigger, payload):
        self.upstream_port = upstream_port
        self.trigger = trigger
        self.payload = payload
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.stop = threading.Event()
        self.hostile_sent = 0
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        self.srv.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._relay, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _relay(self, client):
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        hostile = False
        try:
            while not self.stop.is_set():
                ready, _, _ = select.select([client, up], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is up:
                        if not hostile:
                            client.sendall(data)
                    elif hostile:
                        pass  # swallowed: nothing more is answered here
                    elif self.trigger in data:
                        hostile = True
                        self.hostile_sent += 1
                        client.sendall(self.payload)
                    else:
                        up.sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            up.close()

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.srv.close()


def worker_pids(n):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/status" % d) as f:
                st = f.read()
        except OSError:
            continue
        if "\nPPid:\t%d\n" % n.proc.pid in st:
            pids.append(int(d))
    return pids


def vm_peak_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmPeak:"):
                return int(line.split()[1])
    raise AssertionError("no VmPeak")


@pytest.mark.parametrize("payload,logged", HOSTILE,
                         ids=["array-2e9", "bulk-1GB", "nested", "array-5"])
def test_hostile_reply_refused(stack, make_nginx, payload, logged):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    victim = stack.path("unissued.pem")
    proxy = HostileProxy(stack.redis.port, stack.serial_of(victim).encode(),
                         payload)
    try:
        # one worker: the good request below shares it with the hostile one
        n = make_nginx(workers=1, http="""
            revoca_config %s;
            revoca_redis 127.0.0.1:%d;
            revoca_cache_zone 1m;
        """ % (stack.conf, proxy.port), loc="revoca_cache off;")
        r = post(n.port, request_der(stack.pki, good))
        assert py_ocsp(r.body, stack.pki).certificate_status == \
            ocsp.OCSPCertStatus.GOOD
        (worker,) = worker_pids(n)
        peak = vm_peak_kb(worker)

        results = {}

        def ask(name, leaf):
            results[name] = post(n.port, request_der(stack.pki, leaf))
        threads = [threading.Thread(target=ask, args=("hostile", victim))]
        threads += [threading.Thread(target=ask, args=("good%d" % i, good))
                    for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert proxy.hostile_sent >= 1
        assert results["hostile"].ocsp_status == \
            ocsp.OCSPResponseStatus.TRY_LATER
        for i in range(4):
            resp = py_ocsp(results["good%d" % i].body, stack.pki)
            assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        # the worker goes on serving, and reserved nothing near a gigabyte
        r = post(n.port, request_der(stack.pki, good))
        assert py_ocsp(r.body, stack.pki).certificate_status == \
            ocsp.OCSPCertStatus.GOOD
        assert worker_pids(n) == [worker]
        assert vm_peak_kb(worker) - peak < 256 * 1024
        assert "reply refused: " + logged in n.log(), n.log()
    finally:
        proxy.close()
