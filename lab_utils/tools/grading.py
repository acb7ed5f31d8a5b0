"""The labs as an nbgrader course, for teaching staff who grade.

    python -m lab_utils.tools.grading COURSE_DIR

writes, for each lab NN, the nbgrader *source* version of an assignment
``labNN`` (``COURSE_DIR/source/labNN/NN_name.ipynb``) and a course
``nbgrader_config.py``. In a source notebook every exercise keeps its
solution between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (nbgrader's
own delimiters) with its hint as a comment above; its cell is an nbgrader
solution cell; the self-check cell under it is an autograded test cell
worth :data:`POINTS` (it fails, and scores 0, while the function does not
match the reference); every other cell, teaching text, parameters, setup
and the lab's own code, is locked read-only. ``YOUR_CODE`` is True, as in
the exercise version: the lab trains and measures with the student's
functions. From there on it is nbgrader's own workflow, in COURSE_DIR:

    nbgrader generate_assignment lab01          # release/: the stubs
    nbgrader collect lab01                      # from the exchange
    LAB_PROFILE=smoke nbgrader autograde lab01  # score the self-checks
    nbgrader generate_feedback lab01            # an HTML page each

Autograding runs each submitted notebook whole; ``LAB_PROFILE=smoke``
makes that seconds per notebook (the self-checks are the same in every
profile, and ``PROFILE = "auto"`` reads the variable). The student
notebooks in ``exercises/`` stay what students open in Colab; the
release differs only in the stub (nbgrader's "YOUR CODE HERE").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .exercises import (
    FUNCTION,
    SELF_CHECK,
    ExerciseMarkupError,
    make_exercise_notebook,
)

# Points per self-check: the core of each assignment (the network, the
# training loop, early stopping, prediction, the VAE's loss) counts
# double.
POINTS = {
    "ThreeConvClassifier": 2,
    "train_one_epoch": 2,
    "early_stopping": 2,
    "margin_head_accuracy": 2,
    "vae_objective": 2,
}
DEFAULT_POINTS = 1

CONFIG = """c = get_config()  # noqa: F821 (defined by nbgrader)

c.CourseDirectory.course_id = "deep-learning-labs"
# The stub that replaces each solution; the hint is the comment above it.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE (the hint is just above)\\n"
    'raise NotImplementedError("write this part, then run the self-check")'
}
# Seconds per cell when autograding (run with LAB_PROFILE=smoke: a whole
# lab then takes well under a minute).
c.Execute.timeout = 600
"""


def _metadata(grade_id: str, **kind) -> dict:
    return {
        "grade": False,
        "solution": False,
        "locked": False,
        "grade_id": grade_id,
        "schema_version": 3,
        **kind,
    }


def source_notebook(lab: Path, root: Path):
    """The nbgrader source version of one lab, and its exercises."""
    nb, exercises = make_exercise_notebook(lab, root, keep=True)
    nb.cells = [
        c for c in nb.cells if "remove-cell" not in c.metadata.get("tags", [])
    ]
    solutions = {e.name for e in exercises}
    checked = {}
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        check = SELF_CHECK.search(cell.source)
        if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
            # The exercise is the last top-level def or class of its cell.
            name = FUNCTION.findall(cell.source)[-1]
            nbgrader = _metadata(f"solution-{name}", solution=True)
        elif cell.cell_type == "code" and check:
            name = check["name"]
            checked[name] = POINTS.get(name, DEFAULT_POINTS)
            nbgrader = _metadata(
                f"check-{name}", grade=True, locked=True, points=checked[name]
            )
        else:
            nbgrader = _metadata(f"cell-{i:03d}", locked=True)
        cell.metadata = {
            **({"tags": tags} if tags else {}),
            "nbgrader": nbgrader,
        }
    if set(checked) != solutions:
        raise ExerciseMarkupError(
            f"{lab.name}: exercises without a self-check cell: "
            f"{', '.join(sorted(solutions - set(checked)))}."
        )
    return nb, exercises


def write_course(course: Path, root: Path) -> dict[str, int]:
    """COURSE/source/labNN/NN_name.ipynb for every lab, and the course's
    nbgrader_config.py (kept if it exists: staff may have edited it).
    Returns the total points of each assignment."""
    import jupytext

    labs = sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))
    if not labs:
        raise FileNotFoundError(
            f"No notebooks/NN_name.py under {root}: run this from the "
            f"repository root, or pass --root."
        )
    totals = {}
    for lab in labs:
        nb, exercises = source_notebook(lab, root)
        assignment = f"lab{lab.name[:2]}"
        folder = course / "source" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        jupytext.write(nb, folder / f"{lab.stem}.ipynb")
        totals[assignment] = sum(
            POINTS.get(e.name, DEFAULT_POINTS) for e in exercises
        )
    config = course / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab_utils.tools.grading",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("course", type=Path, help="the nbgrader course folder")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="repository root (holds notebooks/)",
    )
    args = parser.parse_args(argv)
    try:
        totals = write_course(args.course, args.root)
    except ImportError as err:
        print(
            f"error: {err.name} is needed: python3 -m pip install -r "
            f"requirements.txt",
            file=sys.stderr,
        )
        return 2
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for assignment, points in totals.items():
        print(f"{args.course / 'source' / assignment}: {points} points")
    print(
        f"next, in {args.course}: nbgrader generate_assignment lab01 "
        f"(then collect, LAB_PROFILE=smoke nbgrader autograde lab01, "
        f"generate_feedback)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
