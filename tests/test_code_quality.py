"""The repository's own rules, checked like any other test: ruff's lint
and format, and the package's layers (import-linter contracts in
pyproject.toml)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff missing")
def test_ruff_lint_is_clean():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff missing")
def test_ruff_format_is_clean():
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, (
        "run `ruff format .` and commit:\n" + result.stdout + result.stderr
    )


LINT_IMPORTS = shutil.which("lint-imports")
needs_import_linter = pytest.mark.skipif(
    LINT_IMPORTS is None, reason="import-linter missing"
)


@needs_import_linter
def test_layers_are_kept():
    result = run(LINT_IMPORTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@needs_import_linter
def test_a_core_module_importing_the_tooling_breaks_the_contract(tmp_path):
    """The contract can fail: a copy of the package whose plots import
    lab_utils.tools is refused."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "lab_utils", copy / "lab_utils")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    plots = copy / "lab_utils" / "plots.py"
    plots.write_text(plots.read_text() + "\nfrom .tools import selfcheck\n")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run(
        [LINT_IMPORTS], cwd=copy, capture_output=True, text=True, env=env
    )
    assert result.returncode != 0
    assert "lab_utils.plots -> lab_utils.tools" in result.stdout


def test_importing_the_package_loads_no_course_tooling():
    """What a student's notebook imports pulls in none of the tooling or
    its dependencies, whatever the contracts list."""
    code = (
        "import sys, lab_utils, lab_utils.recipes, lab_utils.sweep;"
        "bad = {'lab_utils.tools', 'papermill', 'jupytext', 'nbformat',"
        " 'yaml', 'nbgrader'} & set(sys.modules);"
        "print(sorted(bad))"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_core_module_is_under_the_contract():
    """A new module in lab_utils/ must be added to the forbidden contract
    in pyproject.toml (or live in tools/)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "importlinter"
    ]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    listed = set(forbidden["source_modules"])
    package = ROOT / "lab_utils"
    core = {f"lab_utils.{p.stem}" for p in package.glob("*.py")}
    core |= {
        f"lab_utils.{p.name}"
        for p in package.iterdir()
        if (p / "__init__.py").is_file()
    }
    core -= {"lab_utils.__init__", "lab_utils.tools"}
    assert core <= listed, f"not in the contract: {sorted(core - listed)}"
