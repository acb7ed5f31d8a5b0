"""Hygiene of the committed notebook pairs: in sync, parameters first,
clean outputs from a named profile."""

import json
import re
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
ABSOLUTE = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\\\)")


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_name.py found"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} is missing: run jupytext --sync"
    py = jupytext.read(source)
    nb = jupytext.read(paired)
    assert [(c.cell_type, c.source) for c in py.cells] == [
        (c.cell_type, c.source) for c in nb.cells
    ], (
        f"{source.name} and {paired.name} differ: edit the .py, then "
        f"run `jupytext --sync {source.relative_to(REPO)}`"
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_is_first_and_tagged(source):
    code = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", [])
    assert re.search(r'^PROFILE = "auto"', first.source, re.M)
    assert re.search(r"^SEED = \d+", first.source, re.M)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_outputs_are_clean_and_name_their_profile(source):
    nb = json.loads(source.with_suffix(".ipynb").read_text())
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", (
                f"{source.stem} has a committed error output"
            )
            texts.append("".join(out.get("text", "")))
            texts.append("".join(out.get("data", {}).get("text/plain", "")))
    printed = "\n".join(texts)
    assert not ABSOLUTE.search(printed), (
        f"{source.stem} outputs contain a machine-specific path: "
        f"{ABSOLUTE.search(printed).group(0)}"
    )
    assert re.search(r"profile (smoke|cpu|full) \|", printed), (
        "outputs must come from a named profile (the banner)"
    )
    assert "finished in" in printed, "the notebook did not run to the end"
    assert "papermill" not in nb["metadata"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_some_outputs_are_regression_checked(source):
    cells = jupytext.read(source).cells
    checked = [
        c for c in cells if "nbval-check-output" in c.metadata.get("tags", [])
    ]
    assert checked, (
        f"{source.name}: tag the cells whose output does not "
        f"depend on the profile with nbval-check-output"
    )


def test_colab_badges_and_installs_follow_the_config():
    from lab_utils.tools import colab

    assert colab.sync(REPO, check=True) == [], (
        "run `python -m lab_utils.tools.colab` to update the badges"
    )
    url, branch = colab.repository(REPO / "_config.yml")
    for source in SOURCES:
        text = source.read_text()
        link = colab.colab_link(url, branch, f"notebooks/{source.stem}.ipynb")
        assert link in text and f'REPOSITORY = "{url}"' in text


@pytest.mark.parametrize(
    "source", sorted(REPO.glob("notebooks/0*.py")), ids=lambda p: p.stem
)
def test_no_cell_shows_its_figure_twice(source):
    """A cell ending in a bare ``plots.*(...)`` call shows the returned
    Figure and the inline backend's copy of it: assign it (fig = ...)."""
    import ast

    for cell in jupytext.read(source).cells:
        if cell.cell_type != "code":
            continue
        body = ast.parse(cell.source).body
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            call = ast.unparse(last.value.func)
            assert not call.startswith("plots."), (
                f"{source.name}: a cell ends in a bare {call}(...) call: "
                f"write fig = {call}(...)"
            )
