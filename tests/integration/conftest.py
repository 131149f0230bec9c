import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the shared fixtures: pytest finds them by name in this module
from revoca_fixtures import pki_dir, pki_rsa_dir, stack  # noqa: E402,F401
