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

# Every figure the notebook runs draw is checked where its cell ends
# (lab_utils/tools/figcheck.py: overlapping titles, labels and tick
# labels, empty axes); the problems go to one log, and the session fails
# if it has any. This process keeps its own backend: pick it before the
# kernels' variable is set.
import matplotlib  # noqa: E402

matplotlib.use("Agg")
if "MPLBACKEND" not in os.environ:
    import tempfile

    os.environ["MPLBACKEND"] = "module://lab_utils.tools.figcheck"
    _log, os.environ["LAB_FIGCHECK_LOG"] = tempfile.mkstemp(
        prefix="lab-figcheck-", suffix=".txt"
    )
    os.close(_log)


def pytest_sessionfinish(session, exitstatus):
    log = os.environ.get("LAB_FIGCHECK_LOG")
    if not log or not os.path.isfile(log):
        return
    with open(log) as f:
        problems = f.read().strip()
    os.remove(log)
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.section("figures with overlapping text or empty axes")
            reporter.write_line(problems)
        session.exitstatus = 1
