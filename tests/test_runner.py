"""The papermill runner on small real notebooks: table, failures, inplace."""

import json
import os
import re

import jupytext
import pytest

from lab_utils.tools import run_all

OK = """# %% tags=["parameters"]
PROFILE = "auto"

# %%
import os
print("profile from env:", os.environ["LAB_PROFILE"])
"""

FAILS = """# %% tags=["parameters"]
PROFILE = "auto"

# %%
x = 1

# %%
1 / 0
"""


def smoke_run(notebooks, output, *options):
    return run_all.main(
        [
            "--profile",
            "smoke",
            "--notebooks",
            str(notebooks),
            "--output",
            str(output),
            *options,
        ]
    )


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "01_ok.py").write_text(OK)
    (folder / "02_fails.py").write_text(FAILS)
    return folder


def test_runner_reports_table_and_names_failing_cell(
    notebooks, tmp_path, capsys
):
    code = smoke_run(notebooks, tmp_path / "out")
    out, err = capsys.readouterr()
    assert code == 1
    assert re.search(r"^01_ok +ok +\d+\.\d$", out, re.M)
    assert re.search(r"^02_fails +FAILED +\d+\.\d$", out, re.M)
    assert "02_fails failed at cell 2" in err
    assert "ZeroDivisionError" in err
    ran = json.loads((tmp_path / "out/smoke/01_ok.ipynb").read_text())
    printed = "".join(ran["cells"][1]["outputs"][0]["text"])
    assert "profile from env: smoke" in printed
    # The failed run is kept beside, for reading, under its own name.
    assert (tmp_path / "out/smoke/02_fails.failed.ipynb").exists()


def test_only_selects_and_unknown_names_are_listed(
    notebooks, tmp_path, capsys
):
    args = [
        "--profile",
        "smoke",
        "--notebooks",
        str(notebooks),
        "--output",
        str(tmp_path / "out"),
    ]
    assert run_all.main(args + ["--only", "01"]) == 0
    assert run_all.main(args + ["--only", "lab9"]) == 2
    assert "Available: 01_ok, 02_fails" in capsys.readouterr().err


def test_inplace_writes_clean_pair_and_protects_newer_edits(notebooks):
    (notebooks / "02_fails.py").unlink()
    assert (
        run_all.main(
            ["--profile", "smoke", "--notebooks", str(notebooks), "--inplace"]
        )
        == 0
    )
    paired = notebooks / "01_ok.ipynb"
    nb = json.loads(paired.read_text())
    assert nb["cells"][1]["outputs"], "outputs were not written back"
    assert "papermill" not in nb["metadata"]
    assert all("papermill" not in c["metadata"] for c in nb["cells"])
    assert nb["cells"][0]["metadata"]["tags"] == ["parameters"]
    assert len(nb["cells"]) == 2  # no injected-parameters cell
    # Inputs match the .py source exactly.
    source = jupytext.read(notebooks / "01_ok.py")
    assert [c.source for c in source.cells] == [
        "".join(c["source"]) for c in nb["cells"]
    ]

    # An edit made in the .ipynb after the .py is never overwritten.
    edited = jupytext.read(paired)
    edited.cells[1].source += "\nprint('my edit')"
    jupytext.write(edited, paired)
    before = paired.read_text()
    assert (
        run_all.main(
            ["--profile", "smoke", "--notebooks", str(notebooks), "--inplace"]
        )
        == 2
    )
    assert paired.read_text() == before


WHERE = """# %% tags=["parameters"]
PROFILE = "auto"

# %%
import os
print("kernel of", os.getppid(), "data", os.environ["LAB_DATA_DIR"])
"""


def test_jobs_run_notebooks_at_once_with_the_same_table(
    notebooks, tmp_path, capsys
):
    pytest.importorskip("distributed")
    (notebooks / "03_where.py").write_text(WHERE)
    (notebooks / "04_where.py").write_text(WHERE)
    code = smoke_run(notebooks, tmp_path / "out", "--jobs", "2")
    out, err = capsys.readouterr()
    assert code == 1  # 02_fails fails, as when run one at a time
    assert "Notebooks run on the Dask cluster" in out and "2 workers" in out
    table = out[out.index("notebook  ") :]
    names = re.findall(r"^(\d\d_\w+) +(ok|FAILED) +\d+\.\d$", table, re.M)
    assert names == [
        ("01_ok", "ok"),
        ("02_fails", "FAILED"),
        ("03_where", "ok"),
        ("04_where", "ok"),
    ]
    assert "02_fails failed at cell 2" in err and "ZeroDivisionError" in err
    printed = []
    for name in ("03_where", "04_where"):
        ran = json.loads((tmp_path / f"out/smoke/{name}.ipynb").read_text())
        printed.append("".join(ran["cells"][1]["outputs"][0]["text"]))
    # The runner's data folder reached each worker's kernel.
    assert all("data /" in p for p in printed)
    parents = {p.split()[2] for p in printed}
    assert str(os.getpid()) not in parents


def test_jobs_and_scheduler_are_checked(notebooks, capsys):
    for argv, message in (
        (["--jobs", "0"], "--jobs 0"),
        (["--jobs", "2", "--scheduler", "tcp://x:1"], "not both"),
        (["--plan", "--jobs", "2"], "--plan runs nothing"),
    ):
        code = run_all.main(["--notebooks", str(notebooks), *argv])
        assert code == 2 and message in capsys.readouterr().err
