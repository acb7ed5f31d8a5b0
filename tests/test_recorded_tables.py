"""No run time is typed by hand: the book's intro and the README show the
committed notebooks' recorded times, and the intro the cost model's
`full` plan, as generated blocks that must equal what the outputs and the
model give now."""

import json
import re
import shutil
from pathlib import Path

import pytest

from lab_utils.tools import recorded
from lab_utils.tools.run_all import find_notebooks, format_plan

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def block(path: Path, marker: str) -> str:
    found = re.search(
        rf"<!-- {marker} -->\n(.*?)\n<!-- /{marker} -->",
        path.read_text(),
        re.S,
    )
    assert found, f"{path.name} lost its generated block {marker!r}"
    return found.group(1).strip()


@pytest.mark.parametrize("page", ["book/intro.md", "README.md"])
def test_run_times_are_the_notebooks_recorded_ones(page):
    assert block(REPO / page, "recorded_times") == recorded.times_table(
        NOTEBOOKS
    )


def test_the_intros_full_plan_is_the_cost_models():
    printed = format_plan(find_notebooks(NOTEBOOKS), "full", markdown=True)
    assert block(REPO / "book/intro.md", "plan_full") == printed.strip()


@pytest.mark.parametrize("page", ["book/intro.md", "README.md"])
def test_no_table_types_a_result_outside_generated_blocks(page):
    # A table row with a percentage, or with minutes, seconds or hours
    # to a decimal, outside a generated block is a result typed by hand
    # (a whole "120 s" is a setting, such as a claim's timeout).
    text = (REPO / page).read_text()
    text = re.sub(r"<!-- (\w+) -->.*?<!-- /\1 -->", "", text, flags=re.S)
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("|")
        and re.search(r"\d(\.\d+)? ?%|\d\.\d+ ?(min|s|h)\b", line)
    ]
    assert not rows, rows


def test_the_readmes_full_size_accuracies_are_only_in_the_table():
    text = (REPO / "README.md").read_text()
    start = text.index("**Accuracy at full size.**")
    section = text[start : text.index("<!-- full_headlines -->", start)]
    typed = re.findall(r"\d+\.\d+ ?%", section)
    assert not typed, typed


def test_a_changed_output_changes_the_table(tmp_path):
    for source in NOTEBOOKS.glob("0[12]_*.ipynb"):
        shutil.copy(source, tmp_path / source.name)
    before = recorded.times_table(tmp_path)
    path = next(tmp_path.glob("01_*.ipynb"))
    path.write_text(
        re.sub(r"finished in [\d.]+ s", "finished in 60.0 s", path.read_text())
    )
    after = recorded.times_table(tmp_path)
    assert after != before
    assert "| 01_data_exploration | cpu, cpu | 1.0 |" in after


def test_a_notebook_without_its_finish_line_is_named(tmp_path):
    nb = json.loads(next(NOTEBOOKS.glob("05_*.ipynb")).read_text())
    for cell in nb["cells"]:
        cell["outputs"] = [] if cell["cell_type"] == "code" else None
        if cell["outputs"] is None:
            del cell["outputs"]
    path = tmp_path / "05_fashion_pca_tsne.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="05_fashion_pca_tsne.ipynb has no"):
        recorded.recorded_run(path)
    assert recorded.main(["--notebooks", str(tmp_path)]) == 1
