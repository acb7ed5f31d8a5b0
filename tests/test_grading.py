"""Grading with nbgrader, round trip in a throw-away course folder: the
labs' nbgrader source versions released with nbgrader's own
generate_assignment, submissions autograded with its autograde (smoke
profile): solved labs score full marks, untouched ones zero on every
exercise, one typical mistake loses exactly that exercise's points."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lab_utils.tools import grading

REPO = Path(__file__).resolve().parents[1]
LABS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
ASSIGNMENTS = [f"lab{lab.name[:2]}" for lab in LABS]
SOLUTION = re.compile(
    r"^[ \t]*# BEGIN SOLUTION\n(.*?)^[ \t]*# END SOLUTION$", re.M | re.S
)
STUB = re.compile(
    r"^[ \t]*# YOUR CODE HERE.*\n[ \t]*raise NotImplementedError\(.*\)$",
    re.M,
)
# One student's one typical slip (Lab 6's objective with the KL term
# subtracted), and the exercise whose points it must cost.
MISTAKE = (
    "lab06",
    "vae_objective",
    "(recon + beta * kl_divergence(mean, log_var)).mean()",
    "(recon - beta * kl_divergence(mean, log_var)).mean()",
)


def nbgrader(*args, cwd):
    """Run nbgrader's own command line in the course folder."""
    env = {**os.environ, "LAB_PROFILE": "smoke", "LAB_PROGRESS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def answered(release, source):
    """The released notebook with every stub replaced by the source's
    solution, as a student who solved everything would hand it in."""
    nb = nbformat.from_dict(release)
    for cell, solved in zip(nb.cells, source.cells, strict=True):
        solutions = iter(SOLUTION.findall(solved.source))
        cell.source = STUB.sub(
            lambda _, found=solutions: next(found).rstrip("\n"), cell.source
        )
        assert "YOUR CODE HERE" not in cell.source
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with every lab released, and three students'
    submissions autograded: solved, untouched and one_mistake."""
    root = tmp_path_factory.mktemp("course")
    totals = grading.write_course(root, REPO)
    for assignment in ASSIGNMENTS:
        nbgrader("generate_assignment", assignment, "--force", cwd=root)
        (source,) = (root / "source" / assignment).glob("*.ipynb")
        release = nbformat.read(root / "release" / assignment / source.name, 4)
        solved = answered(release, nbformat.read(source, 4))
        submissions = {"solved": solved, "untouched": release}
        if assignment == MISTAKE[0]:
            wrong = nbformat.from_dict(solved)
            cell = next(c for c in wrong.cells if MISTAKE[2] in c.source)
            cell.source = cell.source.replace(MISTAKE[2], MISTAKE[3])
            submissions["one_mistake"] = wrong
        for student, nb in submissions.items():
            folder = root / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / source.name)
        nbgrader("autograde", assignment, "--force", cwd=root)
    return root, totals


def scores(root, assignment, student):
    """{grade cell: (score, max score)} of one autograded submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        (notebook,) = gradebook.find_submission(assignment, student).notebooks
        return {
            grade.name: (grade.score, grade.max_score)
            for grade in notebook.grades
        }


def test_source_notebooks_carry_nbgrader_metadata(tmp_path):
    grading.write_course(tmp_path, REPO)
    for lab, assignment in zip(LABS, ASSIGNMENTS):
        nb = nbformat.read(
            tmp_path / "source" / assignment / f"{lab.stem}.ipynb", 4
        )
        kinds = [c.metadata["nbgrader"] for c in nb.cells]
        solutions = [k for k in kinds if k["solution"]]
        checks = [k for k in kinds if k["grade"]]
        assert len(solutions) == len(checks) >= 2
        assert all(k["locked"] and k["points"] >= 1 for k in checks)
        others = [k for k in kinds if not k["solution"] and not k["grade"]]
        assert all(k["locked"] for k in others)  # text and setup: read-only
        ids = [k["grade_id"] for k in kinds]
        assert len(set(ids)) == len(ids)
        parameters = next(c for c in nb.cells if c.cell_type == "code")
        if "YOUR_CODE" in lab.read_text():  # the lab runs on theirs
            assert "\nYOUR_CODE = True" in parameters.source
    assert (tmp_path / "nbgrader_config.py").is_file()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_labs_score_full_marks(course, assignment):
    root, totals = course
    got = scores(root, assignment, "solved")
    assert got and all(score == top for score, top in got.values()), got
    assert sum(top for _, top in got.values()) == totals[assignment]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_exercises_score_zero_on_every_exercise(course, assignment):
    root, _ = course
    got = scores(root, assignment, "untouched")
    assert got and all(score == 0 for score, _ in got.values()), got


def test_one_typical_mistake_loses_exactly_that_exercises_points(course):
    root, _ = course
    assignment, exercise = MISTAKE[:2]
    got = scores(root, assignment, "one_mistake")
    for grade, (score, top) in got.items():
        assert score == (0 if grade == f"check-{exercise}" else top), got
    assert got[f"check-{exercise}"][1] == grading.POINTS[exercise]


def test_feedback_is_generated(course):
    root, _ = course
    nbgrader("generate_feedback", MISTAKE[0], "--force", cwd=root)
    (page,) = (root / "feedback" / "one_mistake" / MISTAKE[0]).glob("*.html")
    text = page.read_text()
    assert "FAIL vae_objective" in text and "KL term is subtracted" in text
    shutil.rmtree(root / "feedback")
