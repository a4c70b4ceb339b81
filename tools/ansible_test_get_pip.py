"""A stand-in for ansible-test's pip bootstrap script (get-pip.py), for `make sanity` on a
machine that reaches PyPI but not ci-files.testing.ansible.com, where ansible-test downloads
its get-pip. ansible-test runs it in each sanity test's new virtualenv (created without pip)
with pip's install options and the packages it wants (``pip==24.2``): pip comes from the
interpreter's own ensurepip, then installs those packages from the package index.
``--no-setuptools`` / ``--no-wheel`` are get-pip's own options: they are honoured by not
asking for those packages."""

import ensurepip
import os
import ssl
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

if __name__ == "__main__":
    ensurepip.bootstrap(upgrade=True)
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY]
    # The system's CA bundle (a proxy's CA lives there), not pip's own certifi copy.
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and os.path.isfile(cafile):
        arguments = ["--cert", cafile, *arguments]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *arguments]))  # noqa: S603
