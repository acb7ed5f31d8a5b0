"""Training throughput: our tensor pipeline vs a DataLoader + PIL one, and
``lab_utils.fit`` vs a bare training loop.

    LAB_DATA_DIR=../shared/datasets python benchmarks/train_throughput.py \
        [--n-images N] [--batch-size B] [--repeats R] [--only-fit]
        [--compile]

``--compile``: torch.compile as an option, measured alone: compile
seconds, then the bare loop's images/s on the compiled and the plain
model (median of R, alternating). lab_utils does not compile: on the
H100 (benchmarks/results/gpu_probe_h100.json) it gained nothing that
lasts, and on a CPU see the README's figures.

Part 2, fit vs bare: the same model, data and batches (a TensorLoader, no
augmentation), trained for one epoch by ``lu.fit`` (no validation, no
callbacks) and by a bare loop (forward, cross-entropy, zero_grad,
backward, Adam step; nothing read to the host), alternating R times;
prints the median images/s of each and fit/bare. The goal is 0.95 or
better: fit's bookkeeping (metrics summed on the device, a finite check
every lab_utils.engine.CHECK_EVERY batches) must cost almost nothing.

Part 1:

For the "small" and "wide" ThreeConvNet presets, times one training epoch
over the same CIFAR-10 images with
  ours:     uint8 tensors on the device, crop+flip and normalisation as
            batched tensor ops (lab_utils.TensorLoader + Augment);
  DataLoader: the pipeline of the past reports, torchvision-style: a
            Dataset that turns each stored image into a PIL image and runs
            RandomCrop(32, 4) + RandomHorizontalFlip + ToTensor + Normalize
            per item, batched by torch.utils.data.DataLoader (the better
            of num_workers 0 and 2 is kept).
Same model, batch size, optimizer (Adam) and images; prints images/second
and the ratio. Runs on CUDA when available (then with AMP and
channels_last, as lab_utils.fit does), else on the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import lab_utils as lu


class PILImages(Dataset):
    """Like torchvision.datasets.CIFAR10: a uint8 array, PIL per item."""

    def __init__(self, data: lu.LabData, transform):
        self.images = data.X.permute(0, 2, 3, 1).numpy()
        self.labels = data.y.numpy()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return (
            self.transform(Image.fromarray(self.images[i])),
            int(self.labels[i]),
        )


def train_epoch(model, batches, device, amp: bool) -> tuple[int, float]:
    """One epoch over ``batches``; returns (images, seconds)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    fmt = (
        torch.channels_last
        if device.type == "cuda"
        else torch.contiguous_format
    )
    n = 0
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for X, y in batches:
        X = X.to(device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(X), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n, time.perf_counter() - start


def bare_epoch(model, loader, device, amp: bool) -> tuple[int, float]:
    """The loop a course writes by hand, with nothing read to the host."""
    return train_epoch(model, loader, device, amp)


def fit_epoch_time(model, loader, device) -> tuple[int, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    lu.fit(
        model,
        loader,
        epochs=1,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        device=device,
        progress=False,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(loader.y), time.perf_counter() - start


def fit_vs_bare(preset, data, batch_size, device, repeats: int):
    """Median images/s of fit and of the bare loop, alternating."""
    amp = device.type == "cuda"
    rates = {"fit": [], "bare": []}
    for _ in range(repeats):
        for kind in ("bare", "fit"):
            loader = lu.TensorLoader(
                data, batch_size, shuffle=True, device=device, seed=0
            )
            model = make_model(preset, device)
            if kind == "fit":
                count, seconds = fit_epoch_time(model, loader, device)
            else:
                count, seconds = bare_epoch(model, loader, device, amp)
            rates[kind].append(count / seconds)
    return {k: statistics.median(v) for k, v in rates.items()}


def compiled_vs_plain(preset, data, batch_size, device, repeats: int):
    """torch.compile as an option: seconds to compile (the first epoch's
    extra time), then the median images/s of the bare loop on the
    compiled and on the plain model, alternating."""
    amp = device.type == "cuda"
    plain = make_model(preset, device)
    compiled = torch.compile(make_model(preset, device))
    warm = lu.TensorLoader(
        lu.balanced_subset(data, 512), batch_size, device=device
    )
    _, plain_first = train_epoch(plain, warm, device, amp)
    _, compiled_first = train_epoch(compiled, warm, device, amp)
    rates = {"plain": [], "compiled": []}
    for _ in range(repeats):
        for kind, model in (("plain", plain), ("compiled", compiled)):
            loader = lu.TensorLoader(
                data, batch_size, shuffle=True, device=device, seed=0
            )
            count, seconds = train_epoch(model, loader, device, amp)
            rates[kind].append(count / seconds)
    result = {k: statistics.median(v) for k, v in rates.items()}
    result["compile_seconds"] = compiled_first - plain_first
    return result


def make_model(preset, device):
    lu.seed_everything(0)
    fmt = (
        torch.channels_last
        if device.type == "cuda"
        else torch.contiguous_format
    )
    return lu.ThreeConvNet(lu.PRESETS[preset]).to(device, memory_format=fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="training images per epoch (default: 4096 on "
        "CPU, all 50,000 on CUDA)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["small", "wide"])
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="alternating fit/bare epochs per model (median kept)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="only measure torch.compile against the plain model",
    )
    parser.add_argument(
        "--only-fit",
        action="store_true",
        help="skip part 1 (our pipeline vs DataLoader + PIL)",
    )
    args = parser.parse_args()

    device = lu.default_device()
    amp = device.type == "cuda"
    n = args.n_images or (50_000 if device.type == "cuda" else 4096)
    try:
        data = lu.load_dataset("cifar10", "train", n_samples=n, seed=0)
    except lu.DatasetNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    mean, std = lu.NORMALIZATION["cifar10"]
    pil_transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    print(
        f"device {device} | {len(data):,} CIFAR-10 images | batch "
        f"{args.batch_size} | torch {torch.__version__} | "
        f"{torch.get_num_threads()} CPU threads"
    )

    if args.compile:
        print("\ntorch.compile vs the plain model (bare loop):")
        for preset in args.models:
            r = compiled_vs_plain(
                preset, data, args.batch_size, device, args.repeats
            )
            print(
                f"  {preset}: compiled {r['compiled']:,.0f} img/s, plain "
                f"{r['plain']:,.0f} img/s, compiled/plain "
                f"{r['compiled'] / r['plain']:.3f}, compiling took "
                f"{r['compile_seconds']:.0f} s",
                flush=True,
            )
        return

    print("\nfit vs a bare loop (same model, data and batches):")
    for preset in args.models:
        warm = lu.TensorLoader(
            lu.balanced_subset(data, 512), 64, device=device
        )
        train_epoch(make_model(preset, device), warm, device, amp)
        rates = fit_vs_bare(
            preset, data, args.batch_size, device, args.repeats
        )
        print(
            f"  {preset}: fit {rates['fit']:,.0f} img/s, bare "
            f"{rates['bare']:,.0f} img/s, fit/bare "
            f"{rates['fit'] / rates['bare']:.3f}",
            flush=True,
        )
    if args.only_fit:
        return

    print("\nour pipeline vs DataLoader + PIL:")
    rows = []
    for preset in args.models:
        # Warm-up (kernel selection, allocator), not timed.
        warm = lu.TensorLoader(
            lu.balanced_subset(data, 512), 64, device=device
        )
        train_epoch(make_model(preset, device), warm, device, amp)

        ours = lu.TensorLoader(
            data,
            args.batch_size,
            shuffle=True,
            augment=lu.get_augment("crop+flip"),
            device=device,
            seed=0,
        )
        count, seconds = train_epoch(
            make_model(preset, device), ours, device, amp
        )
        ours_rate = count / seconds
        theirs_rate = 0.0
        for workers in (0, 2):
            loader = DataLoader(
                PILImages(data, pil_transform),
                batch_size=args.batch_size,
                shuffle=True,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=False,
            )
            count, seconds = train_epoch(
                make_model(preset, device), loader, device, amp
            )
            rate = count / seconds
            print(
                f"  {preset}: DataLoader+PIL, num_workers={workers}: "
                f"{rate:,.0f} images/s"
            )
            theirs_rate = max(theirs_rate, rate)
        print(f"  {preset}: ours: {ours_rate:,.0f} images/s")
        rows.append((preset, ours_rate, theirs_rate))

    print()
    print(
        f"{'model':<6}  {'ours img/s':>10}  {'DataLoader img/s':>16}  "
        f"{'ratio':>5}"
    )
    for preset, ours_rate, theirs_rate in rows:
        print(
            f"{preset:<6}  {ours_rate:>10,.0f}  {theirs_rate:>16,.0f}  "
            f"{ours_rate / theirs_rate:>5.2f}x"
        )


if __name__ == "__main__":
    main()
