"""The module loads into Debian's nginx and `nginx -t` accepts a complete
configuration; bad configurations are refused with a message."""
import os

from conftest import Nginx
from test_redis_tls import tls_pki  # noqa: F401 (a fixture)


def test_nginx_t_smoke(stack, tmp_path):
    n = Nginx(tmp_path / "t", stack.conf, loc="""
        revoca_cache_valid 30s;
        revoca_max_request_size 4k;
        revoca_max_singles 1;
        revoca_miss try_later;
        revoca_sign nonce unissued;
    """, http="""
        revoca_config %s;
        revoca_redis 127.0.0.1:%d;
        revoca_redis_connect_timeout 500ms;
        revoca_redis_timeout 1s;
        revoca_redis_keepalive 8;
        revoca_redis_keepalive_timeout 30s;
        revoca_cache_zone 16m;
        revoca_sign_rate 5r/s burst=10;
    """ % (stack.conf, stack.redis.port))
    p = n.check_config()
    assert p.returncode == 0, p.stderr
    assert "test is successful" in p.stderr


def check_fails(tmp_path, name, http, loc="", want=""):
    n = Nginx(tmp_path / name, None, http=http, loc=loc)
    p = n.check_config()
    assert p.returncode != 0, p.stderr
    assert want in p.stderr, p.stderr


def test_bad_configurations(stack, tmp_path):
    ok = "revoca_config %s;" % stack.conf
    # caught by nginx -t, not as a 500 on every request
    check_fails(tmp_path, "noconfig", "", want="needs \"revoca_config\"")
    check_fails(tmp_path, "nofile", "revoca_config /nonexistent.conf;",
                want="nonexistent.conf")
    bad = os.path.join(stack.tmp, "bad.conf")
    with open(bad, "w") as f:
        f.write("issuers = ( { name = \"Bad Name\"; } );\n")
    check_fails(tmp_path, "badconf", "revoca_config %s;" % bad, want="bad.conf")
    check_fails(tmp_path, "singles", ok, "revoca_max_singles 0;",
                "revoca_max_singles")
    # one pre-signed response answers one certificate
    check_fails(tmp_path, "singles2", ok, "revoca_max_singles 2;",
                "revoca_max_singles")
    check_fails(tmp_path, "miss", ok, "revoca_miss sometimes;", "\"sometimes\"")
    check_fails(tmp_path, "sign", ok, "revoca_sign always;", "invalid parameter")
    check_fails(tmp_path, "zone", ok + "revoca_cache_zone 1k;", "",
                "invalid revoca cache zone size")
    check_fails(tmp_path, "redis", ok + "revoca_redis 127.0.0.1:notaport;",
                "", "invalid port")
    check_fails(tmp_path, "rate", ok + "revoca_sign_rate fast;", "",
                "invalid rate")
    # request-path signing is always rate-limited
    check_fails(tmp_path, "rateoff", ok + "revoca_sign_rate off;", "",
                "invalid rate")


def test_signing_needs_loadable_keys(stack, tmp_path, pki_rsa_dir):
    # revoca_sign loads the responder keys at startup: a key that does not
    # match its certificate is a configuration error, not a runtime one
    conf = os.path.join(stack.tmp, "mismatch.conf")
    with open(stack.conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace('"pki/responder.key"', '"%s"' % os.path.join(
            pki_rsa_dir, "responder.key")))
    n = Nginx(tmp_path / "keys", conf, loc="revoca_sign nonce;")
    p = n.check_config()
    assert p.returncode != 0, p.stderr
    # without signing the keys are not even read
    n = Nginx(tmp_path / "nokeys", conf)
    assert n.check_config().returncode == 0


def test_reload_keeps_serving(stack, make_nginx):
    from ocsp_client import post, request_der
    from revoca_fixtures import py_ocsp, wait_for
    stack.start_signer()
    good = stack.path("good.pem")
    stack.cli("issue", "--issuer", "demo", "--cert", good)
    n = make_nginx(stack.conf)
    der = request_der(stack.pki, good)
    assert py_ocsp(post(n.port, der).body, stack.pki)
    n.reload()
    wait_for(lambda: "reconfiguring" in n.log(), 10, what="reload")
    for _ in range(10):
        assert py_ocsp(post(n.port, der).body, stack.pki)


def test_sanitizer_runtime_matches_the_build(stack, make_nginx):
    # the sanitizer build must really run the module under ASan (its
    # runtime preloaded into nginx), the normal build must not
    import glob
    from revoca_fixtures import wait_for
    n = make_nginx(stack.conf)

    def workers():
        found = []
        for p in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(p) as f:
                    if f.read().split()[3] == str(n.proc.pid):
                        found.append(p)
            except OSError:
                pass  # a process that ended meanwhile
        return found
    wait_for(workers, 20, what="an nginx worker")
    workers = workers()
    with open(os.path.join(os.path.dirname(workers[0]), "maps")) as f:
        maps = f.read()
    assert "ngx_http_revoca_module.so" in maps
    assert ("libasan" in maps) == bool(os.environ.get("REVOCA_NGINX_PRELOAD"))


def tls_file(stack, name, redis):
    """STACK's config file with REDIS more settings of its redis group."""
    conf = os.path.join(stack.tmp, name + ".conf")
    with open(stack.conf) as f:
        text = f.read()
    tls = text.replace('redis = { host = "127.0.0.1";',
                       'redis = { %s host = "127.0.0.1";' % redis, 1)
    assert tls != text
    with open(conf, "w") as f:
        f.write(tls)
    return conf


def test_redis_tls_in_the_file(stack, tmp_path, tls_pki):
    """redis.tls of the shared file is the module's too (one home for the
    settings, read from the core's ocsp_config_t): nginx -t loads the CA
    and the client certificate, and refuses, naming it, one that cannot be
    loaded, rather than going on without TLS."""
    ok = tls_file(stack, "tls", 'tls = true; tls_ca = "%s"; '
                  'tls_cert = "%s"; tls_key = "%s";'
                  % (tls_pki["ca"], tls_pki["client_cert"],
                     tls_pki["client_key"]))
    p = Nginx(tmp_path / "tls", ok).check_config()
    assert p.returncode == 0, p.stderr
    # and for servers named with revoca_redis
    p = Nginx(tmp_path / "tls2", ok,
              http="revoca_config %s; revoca_redis 127.0.0.1:%d; "
              "revoca_redis localhost:%d;"
              % (ok, stack.redis.port, stack.redis.port)).check_config()
    assert p.returncode == 0, p.stderr

    # a CA bundle that is not one
    bad_ca = tls_file(stack, "badca", 'tls = true; tls_ca = "%s";'
                      % os.path.join(stack.tmp, "revoca.conf"))
    p = Nginx(tmp_path / "badca", bad_ca).check_config()
    assert p.returncode != 0
    assert "revoca.conf" in p.stderr and "[emerg]" in p.stderr, p.stderr

    # a client key that is not the certificate's
    mismatch = tls_file(stack, "mismatch", 'tls = true; tls_ca = "%s"; '
                        'tls_cert = "%s"; tls_key = "%s";'
                        % (tls_pki["ca"], tls_pki["client_cert"],
                           tls_pki["rogue_key"]))
    p = Nginx(tmp_path / "mismatch", mismatch).check_config()
    assert p.returncode != 0
    assert "redis.tls_cert" in p.stderr and "mismatch.conf" in p.stderr, \
        p.stderr


def test_too_many_redis_servers(stack, tmp_path):
    http = "revoca_config %s;" % stack.conf + "".join(
        "revoca_redis 127.0.0.1:%d;" % (7000 + i) for i in range(9))
    check_fails(tmp_path, "nine", http, "", "more than 8")
