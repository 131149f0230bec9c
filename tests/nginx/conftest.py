"""Fixtures for ngx_http_revoca_module: Debian's own /usr/sbin/nginx loading
the built module, on a free loopback port, next to the shared Redis + signer
stack of tests/integration (revoca_fixtures.Stack)."""
import os
import re
import signal
import subprocess
import sys


import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from revoca_fixtures import (BUILD, Stack, free_port, make_pki_dir,  # noqa: E402,F401
                             pki_dir, pki_rsa_dir, stack, wait_for)

NGINX = "/usr/sbin/nginx"
MODULE = os.path.join(BUILD, "ngx_module", "ngx_http_revoca_module.so")

CONF = """\
{load}
{user}
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log {log_level};
daemon off;
events {{ worker_connections 1024; }}
{main_extra}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    {http}
    server {{
        listen 127.0.0.1:{port}{ssl};
        {server}
    }}
}}
"""

DEFAULT_HTTP = """
    revoca_config {revoca_conf};
    revoca_cache_zone 4m;
    revoca_redis_timeout 2s;
    revoca_redis_connect_timeout 2s;
"""

DEFAULT_SERVER = """
        location /ocsp {{
            revoca_ocsp;
            {loc}
        }}
        location = /metrics {{
            revoca_metrics;
        }}
"""


def nginx_env():
    """The environment nginx runs in: in the sanitizer build, the ASan
    runtime preloaded into Debian's uninstrumented nginx for the module.
    Leak checks are off (nginx leaves its pools to exit); any other report
    kills the worker, which the master logs as an [alert]."""
    env = dict(os.environ)
    preload = env.get("REVOCA_NGINX_PRELOAD")
    if preload:
        env["LD_PRELOAD"] = preload
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


class Nginx:
    """Debian's nginx with the module, from a template config, in a private
    prefix; stop() checks the error log for [alert], [crit] and [emerg]."""

    def __init__(self, prefix, revoca_conf=None, http=None, server=None,
                 loc="", workers=2, main_extra="", load=True,
                 log_level="info", ssl=False):
        self.prefix = str(prefix)
        self.port = free_port()
        self.proc = None
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        if http is None:
            http = DEFAULT_HTTP.format(revoca_conf=revoca_conf)
        if server is None:
            server = DEFAULT_SERVER.format(loc=loc)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.error_log = os.path.join(self.prefix, "error.log")
        with open(self.conf, "w") as f:
            f.write(CONF.format(
                load=("load_module %s;" % MODULE) if load else "",
                user="user root root;" if os.geteuid() == 0 else "",
                workers=workers, prefix=self.prefix, port=self.port,
                http=http, server=server, main_extra=main_extra,
                log_level=log_level, ssl=" ssl" if ssl else ""))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def check_config(self):
        return subprocess.run([NGINX, "-t", "-p", self.prefix, "-c", self.conf,
                               "-e", self.error_log],
                              capture_output=True, text=True, env=nginx_env())

    def start(self):
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.prefix, "-c", self.conf, "-e", self.error_log],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=nginx_env())
        wait_for(self._listening, 20, what="nginx to listen")
        return self

    def _listening(self):
        import socket
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited: %s\n%s" % (
                self.proc.stderr.read().decode(errors="replace"),
                self.log()))
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def bad_log_lines(self):
        return [l for l in self.log().splitlines()
                if re.search(r"\[(alert|crit|emerg)\]", l)]

    def stop(self, check=True):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("nginx did not exit on SIGQUIT")
        if check:
            bad = self.bad_log_lines()
            assert not bad, "nginx error log:\n" + "\n".join(bad)


@pytest.fixture
def make_nginx(tmp_path):
    """Factory: make_nginx(revoca_conf, **kw) -> started Nginx; all are
    stopped (and their logs checked) at the end of the test."""
    started = []

    def make(revoca_conf=None, start=True, name="nginx", **kw):
        n = Nginx(tmp_path / name, revoca_conf, **kw)
        started.append(n)
        return n.start() if start else n

    yield make
    errors = []
    for n in started:
        try:
            n.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
