"""Tables of the committed notebooks' own runs, read from their outputs:
the wall time each lab printed in its last cell ("Lab ... finished in
687.4 s (profile cpu, ...)") beside what its banner predicted before it
ran ("predicted: 10.6 min on this CPU, ..."). The book's intro and the
README show these tables between ``<!-- recorded_times -->`` markers, so
that no run time is typed by hand; ``tests/test_recorded_tables.py``
keeps them equal.

    python -m lab_utils.tools.recorded             # print the table
    python -m lab_utils.tools.recorded --write book/intro.md README.md
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

MARKER = "recorded_times"
_FINISHED = re.compile(
    r"Lab (\S+) finished in ([\d.]+) s \(profile (\w+), device ([^)]+)\)"
)
_PREDICTED = re.compile(r"predicted: ([\d.]+) min on this CPU")


@dataclass
class Recorded:
    """One notebook's recorded run."""

    notebook: str
    profile: str
    device: str
    seconds: float
    predicted_minutes: float | None


def _outputs(path: Path) -> str:
    """All the text a notebook's code cells printed, in order."""
    nb = json.loads(path.read_text())
    texts = []
    for cell in nb["cells"]:
        for output in (
            cell.get("outputs", []) if cell["cell_type"] == "code" else ()
        ):
            text = output.get("text") or output.get("data", {}).get(
                "text/plain", ""
            )
            texts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(texts)


def recorded_run(path: Path) -> Recorded:
    """What ``path`` (an executed .ipynb) says of its own run."""
    text = _outputs(path)
    finished = _FINISHED.search(text)
    if finished is None:
        raise ValueError(
            f"{path} has no recorded run: its last cell's output (print("
            f"run.finish())) is missing. Run it with "
            f"`python -m lab_utils.tools.run_all --inplace --only "
            f"{path.stem[:2]}`."
        )
    predicted = _PREDICTED.search(text)
    return Recorded(
        notebook=path.stem,
        profile=finished.group(3),
        device=finished.group(4),
        seconds=float(finished.group(2)),
        predicted_minutes=float(predicted.group(1)) if predicted else None,
    )


def times_table(folder: Path) -> str:
    """The markdown table of every lab notebook's recorded run in
    ``folder``, with a total row."""
    runs = [recorded_run(p) for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
    if not runs:
        raise ValueError(f"No lab notebooks (NN_name.ipynb) in {folder}.")
    lines = [
        "| notebook | profile, device | recorded run (min) | "
        "its banner predicted (min) | recorded / predicted |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        predicted, ratio = "", ""
        if run.predicted_minutes:
            predicted = f"{run.predicted_minutes:.1f}"
            ratio = f"{run.seconds / 60 / run.predicted_minutes:.2f}"
        lines.append(
            f"| {run.notebook} | {run.profile}, {run.device} | "
            f"{run.seconds / 60:.1f} | {predicted} | {ratio} |"
        )
    total = sum(r.seconds for r in runs) / 60
    lines.append(f"| total | | {total:.1f} | | |")
    return "\n".join(lines)


def replace_block(text: str, marker: str, block: str) -> str:
    """``text`` with what stands between ``<!-- marker -->`` and
    ``<!-- /marker -->`` replaced by ``block``."""
    pattern = re.compile(
        rf"(<!-- {marker} -->\n)(?:.*?\n)?(<!-- /{marker} -->)", re.S
    )
    if not pattern.search(text):
        raise ValueError(
            f"No block <!-- {marker} --> ... <!-- /{marker} --> to replace."
        )
    return pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print (or write into markdown files) the table of the "
        "committed notebooks' recorded run times."
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "notebooks",
    )
    parser.add_argument(
        "--write",
        nargs="+",
        type=Path,
        metavar="FILE",
        help=f"replace the <!-- {MARKER} --> block of these files",
    )
    args = parser.parse_args(argv)
    try:
        table = times_table(args.notebooks)
        for path in args.write or ():
            path.write_text(replace_block(path.read_text(), MARKER, table))
    except (OSError, ValueError) as err:
        print(f"recorded: {err}", file=sys.stderr)
        return 1
    if not args.write:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
