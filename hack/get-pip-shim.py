# -*- coding: utf-8 -*-
"""Stand-in for get-pip.py, used by hack/sanity.sh.

ansible-test creates its sanity virtualenvs without pip and puts pip in by running
a get-pip.py that it downloads from a host this project's machines cannot reach.
It first looks for a cached copy at ~/.ansible/test/cache/get_pip_<version>.py and
runs it (as __main__, in the new virtualenv) with pip-install arguments such as
``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``.

This does the same from what is at hand: the interpreter's bundled pip (ensurepip,
Debian package python3-venv), which then installs the requested pip from PyPI.
"""

import subprocess
import sys


def main():
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--upgrade"] + args)


if __name__ == "__main__":
    main()
