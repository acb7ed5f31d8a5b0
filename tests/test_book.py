"""The book builds from a fresh checkout, warnings as errors, offline."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_book_config_is_the_root_config():
    for name in ("_config.yml", "_toc.yml"):
        link = REPO / "book" / name
        assert link.resolve() == (REPO / name).resolve(), (
            f"book/{name} must be a link to the root {name}")


def test_book_builds_with_warnings_as_errors(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c",
         "from jupyter_book.cli.main import main; main()", "build", "-W",
         "-n",
         "--keep-going", "--path-output", str(tmp_path), "book/"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    html = tmp_path / "_build" / "html"
    page = (html / "notebooks" / "01_data_exploration.html").read_text()
    assert "Lab 1: Looking at the data" in page
    # Every committed figure is on the page as an image file that exists.
    images = [line for line in page.split("<img")[1:]]
    assert len(images) >= 10
    for tag in images:
        src = tag.split('src="', 1)[1].split('"', 1)[0]
        assert (html / "notebooks" / src).resolve().is_file(), src
    assert (html / "intro.html").is_file()
