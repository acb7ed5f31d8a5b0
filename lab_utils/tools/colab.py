"""Keep every notebook's Colab badge and install URL in step with the
repository address in ``_config.yml`` (the one place it is written).

    python -m lab_utils.tools.colab          # rewrite notebooks/*.py and sync
    python -m lab_utils.tools.colab --check  # exit 1 if any notebook disagrees
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE = re.compile(r"^# \[!\[Open In Colab\]\(.*\)\]\(.*\)$", re.M)
_REPOSITORY = re.compile(r'^REPOSITORY = ".*"$', re.M)
_HEADER_END = re.compile(r"^# ---\n\n", re.M)


def repository(config: Path) -> tuple[str, str]:
    """(url, branch) of the repository in the book's _config.yml."""
    import yaml

    settings = yaml.safe_load(config.read_text())
    repo = settings.get("repository") or {}
    if not repo.get("url"):
        raise ValueError(
            f"{config} has no repository.url: add it, it is "
            f"the address the badges and installs use."
        )
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def colab_link(url: str, branch: str, path: str) -> str:
    """The Colab address that opens ``path`` (a .ipynb) of a GitHub repo."""
    github = url.removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{github}/blob/"
        f"{branch}/{path}"
    )


def badge_cell(url: str, branch: str, path: str) -> str:
    """The percent-format cell with the badge; the book removes it (its
    own launch button does the same job, and needs no remote image)."""
    return (
        f'# %% [markdown] tags=["remove-cell"]\n'
        f"# [![Open In Colab]({BADGE_IMAGE})]"
        f"({colab_link(url, branch, path)})\n\n"
    )


def expected_text(text: str, url: str, branch: str, path: str) -> str:
    """``text`` of a notebook source with its badge and REPOSITORY line
    pointing at ``url``/``branch`` (the badge cell added if missing)."""
    cell = badge_cell(url, branch, path)
    badge_line = cell.splitlines()[1]
    if _BADGE.search(text):
        text = _BADGE.sub(lambda _: badge_line, text)
    else:
        match = _HEADER_END.search(text)
        if match is None:
            raise ValueError(f"{path} has no jupytext header.")
        text = text[: match.end()] + cell + text[match.end() :]
    return _REPOSITORY.sub(lambda _: f'REPOSITORY = "{url}"', text)


def sync(root: Path, check: bool = False) -> list[Path]:
    """Bring every notebooks/NN_*.py in line; returns those that were (or,
    with check, would be) changed. Paired .ipynb files keep their outputs."""
    url, branch = repository(root / "_config.yml")
    changed = []
    for source in sorted((root / "notebooks").glob("[0-9][0-9]_*.py")):
        path = source.relative_to(root).with_suffix(".ipynb").as_posix()
        text = source.read_text()
        new = expected_text(text, url, branch, path)
        if new != text:
            changed.append(source)
            if not check:
                source.write_text(new)
                from jupytext.cli import jupytext as jupytext_cli

                jupytext_cli(["--sync", str(source)])
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab_utils.tools.colab",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only report notebooks that disagree",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="repository root (holds _config.yml)",
    )
    args = parser.parse_args(argv)
    try:
        changed = sync(args.root, args.check)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{'out of date' if args.check else 'updated'}: {path}")
    if changed and not args.check:
        print(
            "exercises/ is generated from these: run `python -m "
            "lab_utils.tools.exercises` to update it."
        )
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
