#!/usr/bin/python3
"""Load client of loadtest/ingest_bench.sh (not a test): PROCS processes,
each with one HTTPS keep-alive connection and a client certificate (wrk
has no option for one), POSTing issue events to the ingest endpoint, BATCH
per request, for SECONDS.  Every event has an id of its own.  Prints
"requests events seconds refused" summed over the processes; any answer
but 200 counts as refused (and stops that process).

  ingest_client.py PORT CERT KEY CA PROCS BATCH SECONDS"""
import multiprocessing
import socket
import ssl
import sys
import time

PORT, CERT, KEY, CA = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
PROCS, BATCH, SECONDS = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
NOT_AFTER = int(time.time()) + 86400 * 30


def body(proc, seq):
    base = (proc << 40) | (seq * BATCH) | (1 << 60)
    evs = ",".join('{"kind":"issue","issuer":"bench","serial":"%x",'
                   '"id":"b%x","not_after":%d}' % (base + i, base + i,
                                                  NOT_AFTER)
                   for i in range(BATCH))
    return ("[%s]" % evs).encode()


def run(proc, out):
    ctx = ssl.create_default_context(cafile=CA)
    ctx.load_cert_chain(CERT, KEY)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT)),
                        server_hostname="127.0.0.1")
    f = s.makefile("rb")
    n = refused = 0
    t0 = time.monotonic()
    end = t0 + SECONDS
    while time.monotonic() < end:
        b = body(proc, n)
        s.sendall(b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(b), b))
        status = f.readline()
        length = 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        f.read(length)
        if b" 200 " not in status:
            refused += 1
            break
        n += 1
    out.put((n, n * BATCH, time.monotonic() - t0, refused))
    s.close()


if __name__ == "__main__":
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=run, args=(i, q))
          for i in range(PROCS)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    print(sum(r[0] for r in res), sum(r[1] for r in res),
          max(r[2] for r in res), sum(r[3] for r in res))
