"""Copy a compact part of the offline datasets into a folder of their own.

    python benchmarks/stage_data.py OUT [--mnist N] [--cifar-per-class K]
        [--lfw-images M] [--fashion N] [--full NAME ...] [--tar-parts MIB]

The GPU machine that the `device` tool lends sees only this repository
(and what a call carries, at most 64 MiB), not ../shared. This writes the
same layouts as ../shared/datasets (see its README) under OUT, small
enough to carry: MNIST and Fashion-MNIST as IDX files holding their first
N training and N/4 test images; CIFAR-10 as the first K JPEGs of each
class of each split; LFW as whole people, in name order, until M images.
``--full NAME`` copies a dataset whole instead. ``--tar-parts MIB``
writes all four whole as gzipped tars of about MIB each, one per call
(``benchmarks/gpu_full.sh``). Prints the bytes written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
from pathlib import Path

SOURCE = Path(
    os.environ.get("LAB_DATA_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "datasets"
)


def idx_head(src: Path, dst: Path, n: int) -> None:
    """The first ``n`` records of an IDX file, with its count rewritten."""
    with open(src, "rb") as f:
        magic = f.read(4)
        dims = magic[3]
        shape = list(struct.unpack(f">{dims}I", f.read(4 * dims)))
        n = min(n, shape[0])
        record = 1
        for d in shape[1:]:
            record *= d
        body = f.read(n * record)
    shape[0] = n
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as f:
        f.write(magic + struct.pack(f">{dims}I", *shape) + body)


def stage_idx(folder: str, out: Path, n: int) -> None:
    for split, count in (("train", n), ("t10k", max(1, n // 4))):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte"
            idx_head(
                SOURCE / folder / "raw" / name,
                out / folder / "raw" / name,
                count,
            )


def stage_cifar(out: Path, per_class: int | None) -> None:
    for split in ("train", "test"):
        for cls in sorted((SOURCE / "cifar10" / split).iterdir()):
            files = sorted(cls.iterdir())
            dst = out / "cifar10" / split / cls.name
            dst.mkdir(parents=True, exist_ok=True)
            for f in files if per_class is None else files[:per_class]:
                shutil.copyfile(f, dst / f.name)


def stage_lfw(out: Path, images: int | None) -> None:
    copied = 0
    for person in sorted((SOURCE / "lfw").iterdir()):
        if images is not None and copied >= images:
            break
        shutil.copytree(person, out / "lfw" / person.name, dirs_exist_ok=True)
        copied += len(list(person.iterdir()))


def tar_parts(out: Path, max_mib: float) -> list[Path]:
    """All four datasets, whole, as gzipped tars of at most about
    ``max_mib`` each (out/part1/data.tar.gz, part2, ...): one part per
    device call, which carries at most 64 MiB with the repository. Many
    small JPEGs count far above their bytes in a call; a tar of them
    does not, and their repeated headers compress."""
    import tarfile

    files = [
        f
        for folder in ("MNIST", "FashionMNIST", "cifar10", "lfw")
        for f in sorted((SOURCE / folder).rglob("*"))
        if f.is_file()
    ]
    parts, raw, tar = [], None, None
    for f in files:
        if tar is None or raw.tell() > max_mib * 2**20:
            if tar is not None:
                tar.close()
                raw.close()
            part = out / f"part{len(parts) + 1}" / "data.tar.gz"
            part.parent.mkdir(parents=True, exist_ok=True)
            parts.append(part)
            raw = open(part, "wb")
            tar = tarfile.open(fileobj=raw, mode="w:gz")
        tar.add(f, arcname=str(f.relative_to(SOURCE)))
    if tar is not None:
        tar.close()
        raw.close()
    return parts


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--mnist", type=int, default=6000)
    p.add_argument("--fashion", type=int, default=0)
    p.add_argument("--cifar-per-class", type=int, default=100)
    p.add_argument("--lfw-images", type=int, default=2500)
    p.add_argument(
        "--full",
        nargs="*",
        default=[],
        choices=["mnist", "fashion_mnist", "cifar10", "lfw"],
    )
    p.add_argument(
        "--tar-parts",
        type=float,
        metavar="MIB",
        help="instead: every dataset whole, as gzipped tars of about MIB "
        "each (OUT/partN/data.tar.gz), one per device call",
    )
    args = p.parse_args()
    out = args.out
    if args.tar_parts:
        for part in tar_parts(out, args.tar_parts):
            print(f"{part}: {part.stat().st_size / 2**20:.1f} MiB")
        return
    full = set(args.full)
    if "mnist" in full:
        shutil.copytree(SOURCE / "MNIST", out / "MNIST", dirs_exist_ok=True)
    elif args.mnist:
        stage_idx("MNIST", out, args.mnist)
    if "fashion_mnist" in full:
        shutil.copytree(
            SOURCE / "FashionMNIST", out / "FashionMNIST", dirs_exist_ok=True
        )
    elif args.fashion:
        stage_idx("FashionMNIST", out, args.fashion)
    if "cifar10" in full or args.cifar_per_class:
        stage_cifar(out, None if "cifar10" in full else args.cifar_per_class)
    if "lfw" in full or args.lfw_images:
        stage_lfw(out, None if "lfw" in full else args.lfw_images)
    print(f"{out}: {size(out) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
