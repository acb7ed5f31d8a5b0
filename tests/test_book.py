"""The book builds from a fresh checkout, warnings as errors, offline,
from the root configuration, and shows every lab with its figures."""

from pathlib import Path

import jupytext
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_book_config_is_the_root_config():
    for name in ("_config.yml", "_toc.yml"):
        link = REPO / "book" / name
        assert link.resolve() == (REPO / name).resolve(), (
            f"book/{name} must be a link to the root {name}"
        )
    assert (REPO / "book" / "notebooks").resolve() == REPO / "notebooks"


def test_every_lab_is_in_the_table_of_contents():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    labs = {
        f"notebooks/{p.stem}"
        for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py")
    }
    assert labs <= files
    assert "references" in files and "instructors" in files
    assert len([f for f in files if f.startswith("pitfalls/")]) == 6


def test_book_pages_show_the_committed_figures(built_book):
    assert (built_book / "intro.html").is_file()
    for source in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        page = (built_book / "notebooks" / f"{source.stem}.html").read_text()
        images = page.split("<img")[1:]
        assert len(images) >= 3, source.stem
        for tag in images:
            src = tag.split('src="', 1)[1].split('"', 1)[0]
            assert (built_book / "notebooks" / src).resolve().is_file(), src
    refs = (built_book / "references.html").read_text()
    assert "additive angular margin" in refs.lower() and "Krizhevsky" in refs


def test_only_solution_cells_are_folded_away():
    for source in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        for cell in jupytext.read(source).cells:
            hidden = "hide-input" in cell.metadata.get("tags", [])
            # The training loop's epoch stays in plain sight (Lab 2).
            solution = "# BEGIN SOLUTION" in cell.source and (
                "def train_one_epoch" not in cell.source
            )
            assert hidden == solution, (
                f"{source.name}: a cell with a solution must be tagged "
                f"hide-input, and no other cell (the book labels those "
                f"folds 'Show solution'):\n{cell.source[:200]}"
            )


def test_lab_pages_fold_each_solution_and_show_its_check(built_book):
    for source in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        page = (built_book / "notebooks" / f"{source.stem}.html").read_text()
        # One fold per solution cell (a class may hold two regions), but
        # for the training loop's epoch, shown in plain sight (Lab 2).
        cells = source.read_text().split("\n# %%")
        solutions = [c for c in cells if "# BEGIN SOLUTION" in c]
        folded = [c for c in solutions if "hide-input" in c.split("\n")[0]]
        shown = [c for c in solutions if c not in folded]
        assert [("def train_one_epoch" in c) for c in shown] == (
            [True] if source.stem.startswith("02") else []
        ), f"{source.stem}: only Lab 2's train_one_epoch is unfolded"
        n_solutions = len(folded)
        folds = page.split('<details class="admonition hide above-input">')
        assert len(folds) - 1 == n_solutions >= 2, source.stem
        for fold in folds[1:]:
            assert "Show solution" in fold.split("</summary>")[0]
            assert "BEGIN SOLUTION" in fold.split("</details>")[0]
        assert page.count("PASS ") >= len(solutions), (
            f"{source.stem}: the committed outputs lack the self-checks' "
            f"PASS lines; re-run the lab"
        )
    instructors = (built_book / "instructors.html").read_text()
    assert "For instructors" in instructors and "Show solution" in instructors
