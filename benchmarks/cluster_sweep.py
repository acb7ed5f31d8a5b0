"""A small CPU sweep, serial against a 2-worker local Dask cluster.

    LAB_DATA_DIR=../shared/datasets python benchmarks/cluster_sweep.py \
        [--workers W] [--runs R] [--n-images N] [--epochs E]

R runs of the ``small`` ThreeConvNet (R/2 learning rates x 2 seeds) on N
CIFAR-10 training images, E epochs each, trained twice into fresh
folders: by ``lu.run_sweep`` in this process (torch's default threads:
every core), on a ``LocalCluster`` of W single-threaded worker
processes (``executor=client``), and in this process again at one torch
thread, as a worker has. Prints each wall time, the cluster's start-up
apart, the ratio cluster / serial, and how the tables compare: the
cluster's equals the one-thread serial table exactly; against the
default threads, float sums add up in another order, and the small
differences grow over the epochs.

A run of a small net on a few thousand images barely uses two threads,
so two runs side by side use the cores better than one run on both;
with a wide net or a GPU per worker the gain comes from more machines,
not this one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import pandas as pd
import torch

import lab_utils as lu


def train_run(config, seed, train, val, device=None):
    return lu.train_classifier(config, seed, train, val, None, "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--n-images", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client

    train = lu.load_dataset(
        "cifar10", n_samples=args.n_images, seed=0, download=False
    )
    train, val = lu.train_val_split(train, 0.2)
    lrs = [1e-3 * 2**i for i in range(max(args.runs // 2, 1))]
    configs = {
        f"lr {lr:g}": {"preset": "small", "epochs": args.epochs, "lr": lr}
        for lr in lrs
    }
    train_fn = partial(train_run, train=train, val=val)
    print(
        f"{len(configs) * 2} runs: small net, {len(train):,} training "
        f"images, {args.epochs} epochs each; this machine: "
        f"{torch.get_num_threads()} torch threads."
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        serial = lu.run_sweep(
            configs, [0, 1], train_fn, Path(tmp) / "serial", progress=False
        )
        serial_s = time.perf_counter() - start

        start = time.perf_counter()
        cluster = lu.cluster.local_cluster(args.workers)
        client = Client(cluster)
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        spread = lu.run_sweep(
            configs,
            [0, 1],
            train_fn,
            Path(tmp) / "cluster",
            progress=False,
            executor=client,
        )
        cluster_s = time.perf_counter() - start
        client.close()
        cluster.close()

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        start = time.perf_counter()
        one_thread = lu.run_sweep(
            configs, [0, 1], train_fn, Path(tmp) / "one", progress=False
        )
        one_thread_s = time.perf_counter() - start
        torch.set_num_threads(threads)
        key = ["name", "seed", "epoch"]
        curves = {
            where: lu.load_histories(Path(tmp) / where)
            .sort_values(key, ignore_index=True)
            .drop(columns="seconds")
            for where in ("serial", "cluster", "one")
        }
    print(
        pd.DataFrame(
            {"wall s": [serial_s, startup_s, cluster_s, one_thread_s]},
            index=[
                f"serial, in this process ({threads} threads)",
                f"start a {args.workers}-worker LocalCluster",
                f"sweep on the {args.workers}-worker cluster",
                "serial, in this process at 1 thread",
            ],
        ).round(1)
    )
    print(
        f"ratio cluster / serial: {cluster_s / serial_s:.2f} (with the "
        f"cluster's start-up: {(cluster_s + startup_s) / serial_s:.2f})"
    )
    same = ["name", "seed", "val_acc", "epochs_run"]
    exact = spread[same].equals(one_thread[same]) and curves["cluster"].equals(
        curves["one"]
    )
    print(
        f"cluster = serial at 1 thread, every metric and epoch: "
        f"{'yes' if exact else 'NO'}"
    )
    gap = (serial["val_acc"] - spread["val_acc"]).abs().max() * 100
    loss = curves["serial"]["train_loss"] - curves["cluster"]["train_loss"]
    print(
        f"against serial at {threads} threads: validation accuracy within "
        f"{gap:.2f} points, training loss within {loss.abs().max():.1e}"
    )


if __name__ == "__main__":
    main()
