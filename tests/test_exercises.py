"""The exercise notebooks: generated from the labs and in sync with them;
as generated they stop at the first stub with its hint; with the lab's
solutions pasted back in they pass every self-check."""

import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from lab_utils.tools import exercises
from lab_utils.tools.selfcheck import CHECKS

REPO = Path(__file__).resolve().parents[1]
LABS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
FILES, FOUND = exercises.generate(REPO)
STUB = re.compile(
    r"^[ \t]*# Exercise (?P<number>\d+\.\d+): write this "
    r"part.*\n[ \t]*raise NotImplementedError\(\n"
    r"(?:[ \t]*\".*\"\n)*[ \t]*\".*\"\)$",
    re.M,
)
SOLUTION = re.compile(
    r"^[ \t]*# BEGIN SOLUTION\n.*?# END SOLUTION$", re.M | re.S
)


def test_exercises_folder_is_in_sync_with_the_labs():
    assert exercises.stale(REPO) == [], (
        "exercises/ is out of date: run `python -m lab_utils.tools.exercises` "
        "and commit exercises/"
    )
    committed = {p.name for p in (REPO / "exercises").iterdir()}
    assert committed == {p.name for p in FILES}, (
        "exercises/ holds files the generator does not write"
    )


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_every_lab_has_two_to_four_exercises_with_a_check(lab):
    found = FOUND[lab.stem]
    assert 2 <= len(found) <= 4, f"{lab.stem}: {len(found)} exercises"
    text = lab.read_text()
    checks = [c for c in jupytext.read(lab).cells if "self_check(" in c.source]
    assert len(checks) == len(found)
    for cell in checks:  # CI compares their PASS lines in the solved lab
        assert "nbval-check-output" in cell.metadata.get("tags", [])
    for exercise in found:
        assert exercise.name in CHECKS, f"no self-check for {exercise.name}"
        assert len(exercise.hint) > 20, exercise
        assert f"### Exercise {exercise.number}:" in text, (
            f"{lab.name}: the heading of exercise {exercise.number} is "
            f"missing or numbered differently"
        )


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_exercise_notebook_keeps_the_lab_but_not_the_solutions(lab):
    solved = jupytext.read(lab)
    student = jupytext.read(REPO / "exercises" / lab.name)
    paired = nbformat.read(REPO / "exercises" / f"{lab.stem}.ipynb", 4)
    assert [c.source for c in paired.cells] == [
        c.source for c in student.cells
    ], "the .py and .ipynb differ"
    assert all(
        not c.get("outputs") and c.get("execution_count") is None
        for c in paired.cells
        if c.cell_type == "code"
    )
    # The same cells, in the same order, plus the intro under the title.
    assert len(student.cells) == len(solved.cells) + 1
    code = [c for c in student.cells if c.cell_type == "code"]
    solved_code = [c for c in solved.cells if c.cell_type == "code"]
    # The parameters, but for the switch to the student's own code.
    assert code[0].source == exercises.YOUR_CODE.sub(
        "YOUR_CODE = True", solved_code[0].source
    )
    assert "parameters" in code[0].metadata["tags"]
    if "YOUR_CODE" in solved_code[0].source:
        assert re.search(r"^YOUR_CODE = False$", solved_code[0].source, re.M)
        assert re.search(r"^YOUR_CODE = True$", code[0].source, re.M)
    assert code[1].source == solved_code[1].source  # Colab setup
    assert "REPOSITORY = " in code[1].source
    solved_text = [c.source for c in solved.cells if c.cell_type == "markdown"]
    student_text = [
        c.source for c in student.cells if c.cell_type == "markdown"
    ]
    assert all(t in student_text for t in solved_text[1:])  # badge differs
    text = (REPO / "exercises" / lab.name).read_text()
    assert "SOLUTION" not in text and "hide-input" not in text
    # One stub per solution region; a class may have two (its __init__
    # and forward), both under its exercise's number.
    numbers = STUB.findall(text)
    assert len(numbers) == len(SOLUTION.findall(lab.read_text()))
    assert sorted(set(numbers)) == [e.number for e in FOUND[lab.stem]]
    for region in SOLUTION.findall(lab.read_text()):
        code_lines = [
            line.strip()
            for line in region.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        leaked = [
            line for line in code_lines if len(line) > 25 and line in text
        ]
        assert not leaked, f"solution lines left in the exercise: {leaked}"
    badge = student.cells[0].source
    assert f"/exercises/{lab.stem}.ipynb" in badge


def paste_solutions(exercise_source: str, lab_source: str) -> str:
    """The exercise notebook's source with the lab's solutions put back in
    place of the stubs, in order."""
    solutions = iter(SOLUTION.findall(lab_source))
    return STUB.sub(lambda _: next(solutions), exercise_source)


def _execute(nb):
    """Run ``nb`` in a fresh kernel from exercises/, as a student would;
    outputs land in ``nb``."""
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "exercises")}},
    ).execute()


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_solutions_pasted_back_pass_every_self_check(lab):
    source = paste_solutions(
        (REPO / "exercises" / lab.name).read_text(), lab.read_text()
    )
    assert not STUB.search(source)
    nb = jupytext.reads(source, "py:percent")
    code = [c for c in nb.cells if c.cell_type == "code"]
    # The set-up cells (parameters, install, start_lab), then only each
    # exercise and its self-check: the rest of the lab is nbval's job.
    keep = code[:3]
    for i, cell in enumerate(code):
        if "self_check(" in cell.source:
            keep += [code[i - 1], cell]
    nb.cells = keep
    _execute(nb)
    printed = "\n".join(
        out.get("text", "") for cell in keep for out in cell.get("outputs", [])
    )
    for exercise in FOUND[lab.stem]:
        assert f"PASS {exercise.name}:" in printed, printed
    assert "FAIL" not in printed


SWITCHED = [lab for lab in LABS if "\nYOUR_CODE = False" in lab.read_text()]


@pytest.mark.parametrize("lab", SWITCHED, ids=lambda p: p.stem)
def test_the_exercise_version_runs_the_whole_lab_on_the_students_code(
    lab, tmp_path
):
    """With the solutions pasted back and YOUR_CODE = True, every cell of
    the lab runs (smoke profile), and the cells that use the student's
    functions print what the solved lab prints."""
    source = paste_solutions(
        (REPO / "exercises" / lab.name).read_text(), lab.read_text()
    )
    source = source.replace('PROFILE = "auto"', 'PROFILE = "smoke"', 1)
    source = source.replace(
        "RESULTS_DIR = None", f"RESULTS_DIR = {str(tmp_path)!r}", 1
    )
    nb = jupytext.reads(source, "py:percent")
    assert (
        "YOUR_CODE = True"
        in nb.cells[
            next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        ].source
    )
    _execute(nb)  # raises on the first cell that fails
    printed = "\n".join(
        out.get("text", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )
    assert "FAIL" not in printed
    for exercise in FOUND[lab.stem]:
        assert f"PASS {exercise.name}:" in printed


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_generated_notebook_stops_at_the_first_stub_with_its_hint(lab):
    nb = nbformat.read(REPO / "exercises" / f"{lab.stem}.ipynb", 4)
    with pytest.raises(CellExecutionError) as failure:
        _execute(nb)
    first = FOUND[lab.stem][0]
    assert failure.value.ename == "ExerciseNotDone", (
        f"{lab.stem} stopped with {failure.value.ename}: "
        f"{failure.value.evalue}"
    )
    assert failure.value.evalue == (
        f"Exercise {first.number} ({first.name}): {first.hint}"
    )
    # The hint alone: no frames of the self-check's own code.
    assert "lab_utils" not in failure.value.traceback
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [
        i
        for i, c in enumerate(code)
        if any(o.output_type == "error" for o in c.get("outputs", []))
    ]
    first_check = next(
        i for i, c in enumerate(code) if "self_check(" in c.source
    )
    assert errors == [first_check], "it stopped somewhere else"
    ran = [c.execution_count for c in code[:first_check]]
    assert None not in ran, "cells before the first exercise did not run"


def _lab_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", root)
    shutil.copy(REPO / "jupytext.toml", root)
    shutil.copy(LABS[0], root / "notebooks")
    return root


def test_generator_writes_then_check_reports_a_stale_file(tmp_path, capsys):
    root = _lab_copy(tmp_path)
    assert exercises.main(["--root", str(root), "--check"]) == 1
    assert exercises.main(["--root", str(root)]) == 0
    assert "01: 2" in capsys.readouterr().out
    assert exercises.main(["--root", str(root), "--check"]) == 0
    student = root / "exercises" / LABS[0].name
    student.write_text(student.read_text() + "\n# a hand edit\n")
    assert exercises.main(["--root", str(root), "--check"]) == 1
    assert f"out of date: {student}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "broken, message",
    [
        (
            "    # BEGIN SOLUTION\n    # hint: h\n    return 1\n",
            "END SOLUTION",
        ),
        (
            "    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n",
            "# hint:",
        ),
        ("    return 1\n    # END SOLUTION\n", "without a '# BEGIN"),
        ("    # BEGIN SOLUTION\n    # hint: h\n    # END SOLUTION\n", "empty"),
    ],
)
def test_malformed_markers_are_named(broken, message):
    with pytest.raises(exercises.ExerciseMarkupError, match=message):
        exercises.strip_solutions("def f(x):\n" + broken, 1, 1, "lab, cell")


def test_a_solution_without_its_self_check_cell_is_refused(tmp_path):
    root = _lab_copy(tmp_path)
    lab = root / "notebooks" / LABS[0].name
    text = lab.read_text()
    lab.write_text(
        text.replace(
            'self_check("channel_stats", channel_stats, run.data_dir)',
            "print(channel_stats)",
        )
    )
    assert exercises.main(["--root", str(root)]) == 2
    with pytest.raises(
        exercises.ExerciseMarkupError, match='self_check\\("channel_stats"'
    ):
        exercises.generate(root)


def test_stub_hint_wraps_within_79_columns():
    hint = "a long hint " * 20
    source, found = exercises.strip_solutions(
        "def f(x):\n    if x:\n        # BEGIN SOLUTION\n        # hint: "
        f"{hint}\n        return 1\n        # END SOLUTION\n",
        3,
        2,
        "c",
    )
    assert found[0].number == "3.2" and found[0].name == "f"
    assert max(len(line) for line in source.splitlines()) <= 79
    namespace = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError) as err:
        namespace["f"](1)
    assert str(err.value) == f"Exercise 3.2 (f): {hint.strip()}"
