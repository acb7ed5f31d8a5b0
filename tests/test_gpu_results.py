"""The README's tables of recorded results (the GPU probe, the full-size
headline runs) are generated, never typed: each must equal what its
benchmark script prints from the committed JSON."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def printed_by(*command: str) -> str:
    return subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout.strip()


def readme_block(marker: str) -> str:
    """The README's text between <!-- marker --> and <!-- /marker -->."""
    readme = (REPO / "README.md").read_text()
    block = re.search(
        rf"<!-- {marker} -->\n(.*?)\n<!-- /{marker} -->", readme, re.S
    )
    assert block, f"README.md lost its generated block {marker!r}"
    return block.group(1).strip()


def test_readme_gpu_table_is_the_recorded_results():
    results = REPO / "benchmarks" / "results" / "gpu_probe_h200.json"
    printed = printed_by(
        str(REPO / "benchmarks" / "gpu_probe.py"), "--summarize", str(results)
    )
    assert readme_block("gpu_probe_h200") == printed
    # the table holds a row for every lab's model
    for lab in ("02", "03", "04", "05", "06"):
        assert f"({lab})" in printed


def test_readme_headline_table_is_the_recorded_results():
    printed = printed_by(
        str(REPO / "benchmarks" / "full_headlines.py"), "--table"
    )
    assert readme_block("full_headlines") == printed


@pytest.mark.parametrize("profile", ["full", "reproduce"])
def test_readme_plan_tables_are_the_cost_model(profile):
    from lab_utils.tools.run_all import find_notebooks, format_plan

    sources = find_notebooks(REPO / "notebooks")
    printed = format_plan(sources, profile, markdown=True)
    assert readme_block(f"plan_{profile}") == printed.strip()
