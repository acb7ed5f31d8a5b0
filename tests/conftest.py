"""Shared fixtures: the real datasets from LAB_DATA_DIR, never noise."""

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline dataset folder ($LAB_DATA_DIR, else ../shared/datasets
    beside the repository)."""
    path = Path(
        os.environ.get("LAB_DATA_DIR") or REPO.parent / "shared" / "datasets"
    )
    if not (path / "MNIST" / "raw").is_dir():
        pytest.fail(
            f"The tests need the real datasets: {path} has no "
            f"MNIST/raw. Set LAB_DATA_DIR to the offline dataset "
            f"folder (e.g. ../shared/datasets)."
        )
    return path


@pytest.fixture(scope="session")
def mnist_small(data_dir):
    """600 real MNIST training images, balanced, plus 300 test images."""
    from lab_utils import load_dataset

    train = load_dataset(
        "mnist",
        "train",
        data_dir=data_dir,
        n_samples=600,
        seed=0,
        download=False,
    )
    test = load_dataset(
        "mnist",
        "test",
        data_dir=data_dir,
        n_samples=300,
        seed=0,
        download=False,
    )
    return train, test


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built once per session, warnings as errors (-W) and
    nitpicky (-n), into a temporary folder; returns its html folder."""
    import subprocess
    import sys
    import time

    out = tmp_path_factory.mktemp("book")
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from jupyter_book.cli.main import main; main()",
            "build",
            "-W",
            "-n",
            "--keep-going",
            "--path-output",
            str(out),
            "book/",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(
            "jupyter-book build failed:\n"
            + result.stdout[-4000:]
            + result.stderr[-2000:]
        )
    print(f"book built in {time.perf_counter() - start:.0f} s")
    return out / "_build" / "html"


def _printed(notebook: Path) -> str:
    cells = json.loads(Path(notebook).read_text())["cells"]
    return "".join(
        "".join(out.get("text", ""))
        for cell in cells
        for out in cell.get("outputs", [])
    )


@pytest.fixture
def printed():
    """printed(path): everything an executed notebook printed, as text."""
    return _printed
