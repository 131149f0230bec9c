"""The metrics location: Prometheus text format, counts by method, issuer,
response status and certificate status, cache and Redis."""
import re

from ocsp_client import get, get_raw, http, post, request_der


def samples(n):
    r = get_raw(n.port, "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for line in r.body.decode().splitlines():
        if line.startswith("#"):
            assert re.match(r"# (HELP|TYPE) revoca_\w+ ", line), line
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_metrics(stack, make_nginx, pki_rsa_dir):
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    stack.cli("issue", "--issuer", "demo", "--cert", stack.path("revoked.pem"))
    stack.cli("revoke", "--issuer", "demo", "--cert",
              stack.path("revoked.pem"), "--wait")
    n = make_nginx(stack.conf)
    der = request_der(stack.pki, good)
    post(n.port, der)
    get(n.port, der)
    get(n.port, der)
    post(n.port, request_der(stack.pki, stack.path("revoked.pem")))
    post(n.port, b"junk")
    post(n.port, request_der(pki_rsa_dir, pki_rsa_dir + "/good.pem"))
    http(n.port, "PUT", "/ocsp", b"x")
    m = samples(n)
    assert m['revoca_ocsp_http_requests_total{method="GET"}'] == 2
    assert m['revoca_ocsp_http_requests_total{method="POST"}'] == 4
    assert m['revoca_ocsp_http_requests_total{method="other"}'] == 1
    ok = 'revoca_ocsp_responses_total{issuer="demo",status="successful",'
    assert m[ok + 'cert_status="good"}'] == 3
    assert m[ok + 'cert_status="revoked"}'] == 1
    assert m['revoca_ocsp_responses_total{issuer="",status="malformedRequest",'
             'cert_status="none"}'] == 1
    assert m['revoca_ocsp_responses_total{issuer="",status="unauthorized",'
             'cert_status="none"}'] == 1
    assert m["revoca_ocsp_cache_hits_total"] >= 1
    assert m["revoca_ocsp_cache_misses_total"] >= 2
    assert m["revoca_ocsp_redis_latency_seconds_count"] == \
        m['revoca_ocsp_redis_latency_seconds_bucket{le="+Inf"}'] >= 2
    assert m["revoca_ocsp_redis_errors_total"] == 0


def test_reload_keeps_counters_unless_issuers_change(stack, make_nginx):
    from revoca_fixtures import render_conf, wait_for
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf)
    post(n.port, request_der(stack.pki, good))
    key = 'revoca_ocsp_http_requests_total{method="POST"}'

    def reload(times):
        n.reload()
        # one "start worker processes" at start, one per reload
        wait_for(lambda: n.log().count("start worker processes") == times + 1,
                 10, what="reload")

    reload(1)  # same issuers: kept
    assert samples(n)[key] == 1
    with open(stack.conf, "w") as f:  # renamed: the labels would be wrong
        f.write(render_conf(stack.redis.port, [{"name": "other"}]))
    for i in range(2, 8):  # a reused zone must not run out of memory
        reload(i)
        assert samples(n)[key] == 0
        with open(stack.conf, "w") as f:
            f.write(render_conf(stack.redis.port,
                                [{"name": "demo" if i % 2 else "other"}]))


def test_counters_sum_over_workers(stack, make_nginx, tmp_path):
    """Each worker counts in its own slot; the page sums them: N requests
    served by both of 2 workers (their pids in an access log) are counted
    exactly N times, whichever worker counted them."""
    import base64
    import http.client
    import threading
    import urllib.parse
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    pids_log = str(tmp_path / "pids.log")
    n = make_nginx(stack.conf, workers=2, http="""
        revoca_config %s;
        revoca_cache_zone 4m;
        log_format pids "$pid $status";
    """ % stack.conf, loc="access_log %s pids;" % pids_log)
    path = "/ocsp/" + urllib.parse.quote(
        base64.b64encode(request_der(stack.pki, good)).decode(), safe="")
    sent = []
    lock = threading.Lock()

    def client():
        c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=10)
        c.connect()
        barrier.wait()  # all connected at once: both workers accept
        for _ in range(5):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            assert r.status == 200
            with lock:
                sent.append(1)
        c.close()

    def pids():
        with open(pids_log) as f:
            return {line.split()[0] for line in f if line.strip()}

    for _ in range(20):  # until both workers have served some
        barrier = threading.Barrier(16)
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(pids()) == 2:
            break
    assert len(pids()) == 2, "one worker served every request"
    m = samples(n)
    total = len(sent)
    assert total >= 80
    assert m['revoca_ocsp_http_requests_total{method="GET"}'] == total
    assert m['revoca_ocsp_responses_total{issuer="demo",status="successful",'
             'cert_status="good"}'] == total
    hits = m["revoca_ocsp_cache_hits_total"]
    misses = m["revoca_ocsp_cache_misses_total"]
    # misses: the first round's requests, before one of them stored it
    assert hits + misses == total and 1 <= misses <= 16
    # one Redis query per miss, each in the histogram once
    assert m["revoca_ocsp_redis_latency_seconds_count"] == misses
