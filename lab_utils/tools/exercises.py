"""Generate the student version of every lab from the solved one.

    python -m lab_utils.tools.exercises          # write exercises/
    python -m lab_utils.tools.exercises --check  # exit 1 if stale

A lab marks each exercise inside a function or class with

    # BEGIN SOLUTION
    # hint: one sentence that points the way, wrapped over
    # as many comment lines as it needs.
    ...the solution...
    # END SOLUTION

and follows that cell with a self-check cell,
``self_check("<function name>", <function name>, run.data_dir)``.
The exercise version replaces each marked region with a stub that raises
NotImplementedError carrying the hint, drops every output, un-hides the
solution cells (the book folds them away with ``hide-input``), points the
Colab badge at the exercise notebook, and adds a short "how to work"
cell under the title. Teaching text, parameters and setup cells are kept
as they are, except that a parameters cell's ``YOUR_CODE = False`` becomes
``YOUR_CODE = True``: where a lab uses an exercise's function to train or
measure (Labs 2, 3, 4 and 6), the exercise version uses the student's, so
a wrong answer shows in the results as well as in the self-check.
exercises/README.md lists the exercises.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
HINT = re.compile(r"^[ \t]*# hint:[ \t]*(?P<text>.*)$")
COMMENT = re.compile(r"^[ \t]*#[ \t]?(?P<text>.*)$")
FUNCTION = re.compile(r"^(?:def|class) (?P<name>\w+)\b", re.M)
# The parameter that makes a lab train and measure with the student's
# exercise functions instead of the references in lab_utils: off in the
# solved lab, on in its exercise version.
YOUR_CODE = re.compile(r"^YOUR_CODE = False\b", re.M)
SELF_CHECK = re.compile(r"self_check\(\s*\"(?P<name>\w+)\",\s*(?P<fn>\w+)")
# Tags that only mean something for the solved lab: the book's folding of
# solutions, nbval's output comparison.
SOLVED_ONLY_TAGS = {"hide-input", "nbval-check-output"}


class ExerciseMarkupError(ValueError):
    """A lab's solution markers are malformed."""


@dataclass
class Exercise:
    """One marked region: its number (lab.k), function and hint."""

    number: str
    name: str
    hint: str


def _stub(indent: str, number: str, name: str, hint: str) -> list[str]:
    """The lines that replace a solution: a comment and a raise whose
    message (the hint) is wrapped to fit 79 columns."""
    message = f"Exercise {number} ({name}): {hint}"
    width = 79 - len(indent) - 8
    chunks = textwrap.wrap(message, width, break_long_words=False)
    literals = [json.dumps(c + " ") for c in chunks[:-1]]
    literals.append(json.dumps(chunks[-1]) + ")")
    return [
        f"{indent}# Exercise {number}: write this part, then run the "
        f"self-check cell below.",
        f"{indent}raise NotImplementedError(",
    ] + [f"{indent}    {literal}" for literal in literals]


def strip_solutions(
    source: str, lab: int, first: int, where: str, keep: bool = False
) -> tuple[str, list[Exercise]]:
    """``source`` of one code cell with every marked solution replaced by
    a stub; exercises are numbered ``lab.first``, ``lab.first + 1``, ...
    keep=True (nbgrader's source version): the solution stays between
    its markers, which nbgrader's ClearSolutions replaces, and the hint
    moves above the BEGIN marker, as a comment the release keeps."""
    lines = source.split("\n")
    out: list[str] = []
    exercises: list[Exercise] = []
    i = 0
    while i < len(lines):
        begin = BEGIN.match(lines[i])
        if not begin:
            if END.match(lines[i]):
                raise ExerciseMarkupError(
                    f"{where}: '# END SOLUTION' without"
                    f" a '# BEGIN SOLUTION' before it."
                )
            out.append(lines[i])
            i += 1
            continue
        end = next(
            (
                j
                for j in range(i + 1, len(lines))
                if END.match(lines[j]) or BEGIN.match(lines[j])
            ),
            None,
        )
        if end is None or BEGIN.match(lines[end]):
            raise ExerciseMarkupError(
                f"{where}: '# BEGIN SOLUTION' needs a "
                f"'# END SOLUTION' before the next "
                f"BEGIN or the end of the cell."
            )
        hint_match = HINT.match(lines[i + 1]) if i + 1 < end else None
        if not hint_match:
            raise ExerciseMarkupError(
                f"{where}: the line after '# BEGIN "
                f"SOLUTION' must be '# hint: ...', the "
                f"one-line hint the stub raises."
            )
        hint = [hint_match["text"]]
        k = i + 2
        while k < end and COMMENT.match(lines[k]):
            hint.append(COMMENT.match(lines[k])["text"].strip())
            k += 1
        if k == end:
            raise ExerciseMarkupError(
                f"{where}: the solution after the hint is empty."
            )
        functions = FUNCTION.findall("\n".join(lines[:i]))
        if not functions:
            raise ExerciseMarkupError(
                f"{where}: a solution must sit inside "
                f"a top-level `def` or `class` in its cell."
            )
        hint = " ".join(hint).strip()
        if exercises and exercises[-1].name == functions[-1]:
            # A second region of the same function or class (a module's
            # __init__ and forward): the same exercise, its own hint.
            number = exercises[-1].number
        else:
            number = f"{lab}.{first + len(exercises)}"
            exercises.append(Exercise(number, functions[-1], hint))
        if keep:
            indent = begin["indent"]
            out += [
                f"{indent}# {line}"
                for line in textwrap.wrap(
                    f"Exercise {number} ({functions[-1]}): {hint}",
                    77 - len(indent),
                    break_long_words=False,
                )
            ]
            out += [lines[i], *lines[k:end], lines[end]]
        else:
            out += _stub(begin["indent"], number, functions[-1], hint)
        i = end + 1
    return "\n".join(out), exercises


def intro_cell(lab_path: str, exercises: list[Exercise]) -> str:
    """Markdown shown under the title of an exercise notebook."""
    listing = ", ".join(f"{e.number} `{e.name}`" for e in exercises)
    text = (
        f"**This is the exercise version of the lab.** It has "
        f"{len(exercises)} exercises: {listing}. Each is a function whose "
        f"body raises `NotImplementedError` with a hint. Write the body, "
        f"run its cell, then run the self-check cell under it: the check "
        f"compares your function with the reference in `lab_utils` on a "
        f"little real data and says what differs (shape, values, "
        f"tolerance), never what the answer is. *Run all* stops at the "
        f"first exercise not done yet; everything else runs as in the "
        f"solved lab.\n\n"
        f"*Generated from `{lab_path}` by `python -m "
        f"lab_utils.tools.exercises`; instructors edit the lab and "
        f"regenerate, never this file.*"
    )
    # Wrapped so that the .py twin stays within 79 columns.
    return "\n\n".join(
        textwrap.fill(
            paragraph, 77, break_long_words=False, break_on_hyphens=False
        )
        for paragraph in text.split("\n\n")
    )


def make_exercise_notebook(lab: Path, root: Path, keep: bool = False):
    """(exercise notebook, its exercises) for the lab source ``lab``.
    keep=True: the solutions stay, between their markers (the source
    version of an nbgrader assignment: see ``grading``)."""
    import jupytext
    from nbformat.v4 import new_markdown_cell

    nb = jupytext.read(lab)
    number = int(lab.name[:2])
    stem = lab.stem
    exercises: list[Exercise] = []
    cells = nb.cells
    for index, cell in enumerate(cells):
        tags = [
            t
            for t in cell.metadata.get("tags", [])
            if t not in SOLVED_ONLY_TAGS
        ]
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "markdown" and "colab-badge" in cell.source:
            cell.source = cell.source.replace(
                f"/notebooks/{stem}.ipynb", f"/exercises/{stem}.ipynb"
            )
        if cell.cell_type != "code":
            continue
        if "parameters" in tags:
            cell.source = YOUR_CODE.sub("YOUR_CODE = True", cell.source)
        where = f"{lab.relative_to(root)}, code cell {index}"
        cell.source, found = strip_solutions(
            cell.source, number, len(exercises) + 1, where, keep
        )
        if found:
            following = next(
                (c for c in cells[index + 1 :] if c.cell_type == "code"), None
            )
            check = SELF_CHECK.search(following.source if following else "")
            if (
                not check
                or check["name"] != found[-1].name
                or check["fn"] != found[-1].name
            ):
                raise ExerciseMarkupError(
                    f"{where}: the next code cell must be the self-check "
                    f'`self_check("{found[-1].name}", {found[-1].name}, '
                    f"run.data_dir)`."
                )
        exercises += found
        cell.outputs, cell.execution_count = [], None
    if not exercises:
        raise ExerciseMarkupError(
            f"{lab.relative_to(root)} marks no exercise ('# BEGIN SOLUTION')."
        )
    title = next(
        i
        for i, c in enumerate(cells)
        if c.cell_type == "markdown"
        and "remove-cell" not in c.metadata.get("tags", [])
    )
    if not keep:
        cells.insert(
            title + 1,
            new_markdown_cell(
                intro_cell(lab.relative_to(root).as_posix(), exercises)
            ),
        )
    for i, cell in enumerate(cells):
        cell.id = f"ex{number:02d}-{i:03d}"  # stable: no diff on regenerate
    return nb, exercises


def readme(labs: dict[str, list[Exercise]], url: str, branch: str) -> str:
    """exercises/README.md: every exercise, with Colab links."""
    from .colab import colab_link

    lines = [
        "# Exercises",
        "",
        "The student version of each lab, generated from "
        "`notebooks/` by `python -m lab_utils.tools.exercises` (do "
        "not edit these files; edit the lab and regenerate). Open "
        "one in Colab or Jupyter, fill in each function that raises "
        "`NotImplementedError`, and run the self-check cell under it.",
        "",
        "| lab | exercises | open |",
        "|---|---|---|",
    ]
    for stem, exercises in labs.items():
        listing = "<br>".join(f"{e.number} `{e.name}`" for e in exercises)
        link = colab_link(url, branch, f"exercises/{stem}.ipynb")
        lines.append(
            f"| [{stem}]({stem}.ipynb) | {listing} | [Colab]({link}) |"
        )
    return "\n".join(lines) + "\n"


def generate(root: Path) -> tuple[dict[Path, str], dict[str, list[Exercise]]]:
    """Every file of exercises/ (path -> text), from notebooks/NN_*.py,
    and the exercises of each lab (by notebook stem)."""
    import jupytext

    from .colab import repository

    files: dict[Path, str] = {}
    labs: dict[str, list[Exercise]] = {}
    sources = sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))
    if not sources:
        raise FileNotFoundError(
            f"No notebooks/NN_name.py under {root}: run "
            f"this from the repository root."
        )
    for lab in sources:
        nb, exercises = make_exercise_notebook(lab, root)
        labs[lab.stem] = exercises
        target = root / "exercises" / lab.stem
        files[target.with_suffix(".py")] = jupytext.writes(nb, "py:percent")
        # With the final newline that `jupytext --sync` writes, so that a
        # sync of the pair changes nothing.
        files[target.with_suffix(".ipynb")] = (
            jupytext.writes(nb, "ipynb").rstrip("\n") + "\n"
        )
    url, branch = repository(root / "_config.yml")
    files[root / "exercises" / "README.md"] = readme(labs, url, branch)
    return files, labs


def stale(root: Path) -> list[Path]:
    """Files of exercises/ that differ from what the labs generate."""
    return [
        path
        for path, text in generate(root)[0].items()
        if not path.is_file() or path.read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab_utils.tools.exercises",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if exercises/ is stale",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="repository root (holds notebooks/)",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            out_of_date = stale(args.root)
            for path in out_of_date:
                print(f"out of date: {path}")
            if out_of_date:
                print(
                    "run `python -m lab_utils.tools.exercises` and commit "
                    "exercises/.",
                    file=sys.stderr,
                )
            return 1 if out_of_date else 0
        files, labs = generate(args.root)
    except ImportError as err:
        print(
            f"error: {err.name} is needed to generate the exercises: "
            f"python3 -m pip install -r requirements.txt",
            file=sys.stderr,
        )
        return 2
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, text in files.items():
        path.parent.mkdir(exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    print(
        "exercises per lab: "
        + ", ".join(
            f"{stem[:2]}: {len(found)}" for stem, found in labs.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
