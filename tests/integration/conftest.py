import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from revoca_fixtures import Stack, make_pki_dir  # noqa: E402


@pytest.fixture(scope="session")
def pki_dir():
    d = make_pki_dir("ec")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pki_rsa_dir():
    d = make_pki_dir("rsa")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def stack(tmp_path, pki_dir):
    s = Stack(tmp_path, pki_dir)
    yield s
    s.close()
