"""Fixtures for the key tests: the harness of tests/integration (Redis,
signer, CLI), revoca-crlgen's (tests/crl) and nginx's (tests/nginx), loaded
under names of their own."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "nginx"))
sys.path.insert(0, HERE)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


crl_harness = _load("crl_harness", os.path.join(TESTS, "crl", "conftest.py"))
nginx_harness = _load("nginx_harness", os.path.join(TESTS, "nginx", "conftest.py"))
make_nginx = nginx_harness.make_nginx
