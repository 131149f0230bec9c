"""The shared cache read without a lock (a seqlock per bucket, issue 10):
two workers read entries while they store and evict others in a zone far
too small for the serials asked for, and every answer is byte for byte the
one Redis gives for its serial.  This checks the lock-free path's answers
and eviction with its per-bucket marks under churn; the window of a torn
read is far narrower than Python clients can aim at, so the proof that none
is served is the reasoning at the top of ngx_http_revoca_cache.c, not this
test."""
import base64
import http.client
import random
import threading
import urllib.parse

from cryptography.x509 import ocsp

from ocsp_client import post
from revoca_fixtures import py_ocsp, wait_for
from test_cache_hot import HTTP, SERVER, metric, request_for


def test_reads_during_eviction_are_never_torn(stack, make_nginx, tmp_path):
    serials = [0x7000 + i for i in range(60)]
    index = tmp_path / "index.txt"
    index.write_text("".join("V\t301231235959Z\t\t%X\tunknown\t/CN=c%d\n"
                             % (s, s) for s in serials))
    stack.start_signer()
    stack.cli("import", "--issuer", "demo", "--openssl-index", str(index))
    n = make_nginx(stack.conf, workers=2,
                   http=HTTP.format(conf=stack.conf, zone="32k"),
                   server=SERVER.format(valid="1h"))
    reqs = {s: request_for(stack.pki, s) for s in serials}

    def signed():
        return all(post(n.port, d, path="/direct").ocsp_status ==
                   ocsp.OCSPResponseStatus.SUCCESSFUL for d in reqs.values())
    wait_for(signed, 60, 0.5, "every serial to be signed")
    # the answer Redis gives for each serial, checked once
    want = {}
    for s, d in reqs.items():
        body = post(n.port, d, path="/direct").body
        assert py_ocsp(body, stack.pki).serial_number == s
        want[s] = body
    paths = {s: "/ocsp/" + urllib.parse.quote(base64.b64encode(d).decode(),
                                              safe="")
             for s, d in reqs.items()}
    hot = serials[:4]  # asked for most: found while the rest churn
    bad = []
    count = [0]
    lock = threading.Lock()
    hits = metric(n, "revoca_ocsp_cache_hits_total")

    def client(seed):
        rnd = random.Random(seed)
        c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
        for _ in range(150):
            s = rnd.choice(hot) if rnd.random() < 0.5 else rnd.choice(serials)
            if rnd.random() < 0.5:
                c.request("GET", paths[s])
            else:
                c.request("POST", "/ocsp", reqs[s],
                          {"Content-Type": "application/ocsp-request"})
            r = c.getresponse()
            body = r.read()
            with lock:
                count[0] += 1
                if r.status != 200 or body != want[s]:
                    bad.append((s, r.status, body[:32]))
        c.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count[0] == 12 * 150
    assert not bad, bad[:5]
    # the cache was used, and churned: hits and misses both
    assert metric(n, "revoca_ocsp_cache_hits_total") > hits + 100
    assert metric(n, "revoca_ocsp_cache_misses_total") > len(serials)
