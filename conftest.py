"""Test-wide defaults: notebooks run in the smoke profile without progress
bars unless the caller's environment says otherwise."""

import os

os.environ.setdefault("LAB_PROFILE", "smoke")
os.environ.setdefault("LAB_PROGRESS", "0")
# Notebook kernels run inside notebooks/: a relative data folder given on
# the command line means relative to where pytest was started.
if os.environ.get("LAB_DATA_DIR"):
    os.environ["LAB_DATA_DIR"] = os.path.abspath(os.environ["LAB_DATA_DIR"])
# Notebook runs under test train from scratch: sweeps never reuse results
# a previous run (or another profile) left behind.
if not os.environ.get("LAB_RESULTS_DIR"):
    import atexit
    import shutil
    import tempfile

    os.environ["LAB_RESULTS_DIR"] = tempfile.mkdtemp(prefix="lab-results-")
    atexit.register(shutil.rmtree, os.environ["LAB_RESULTS_DIR"], True)
