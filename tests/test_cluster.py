"""Sweeps on a real Dask cluster (a LocalCluster of worker processes):
the same results as a serial sweep, nothing lost when a worker is killed
mid-run, each run trained once when two sweeps share a folder, and runs
that need a GPU placed on the worker that has one."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import pytest
import torch

import lab_utils as lu
from lab_utils import claims, sweep

REPO = Path(__file__).resolve().parents[1]

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

# The workers cannot import this test module: send its functions whole.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

CONFIGS = {
    f"lr {lr:g}": {"preset": "small", "epochs": 2, "lr": lr}
    for lr in (1e-3, 3e-3, 1e-2)
}
SEEDS = [0, 1]
RUNS = {(name, seed) for name in CONFIGS for seed in SEEDS}
# Timing, and whether this sweep loaded a run instead of training it.
NOT_RESULTS = ["seconds", "reused"]


def train_logged(config, seed, data, log, device=None):
    """A real training run that notes in ``log`` who trained it, where
    and when (one line per start and per end)."""
    try:
        worker = distributed.get_worker().address
    except ValueError:
        worker = "here"
    note = {"name": f"lr {config['lr']:g}", "seed": seed, "pid": os.getpid()}
    with open(log, "a") as f:
        f.write(json.dumps({**note, "event": "start", "at": time.time()}))
        f.write("\n")
    train, val = data
    trained = lu.train_classifier(config, seed, train, val, None, "cpu")
    with open(log, "a") as f:
        f.write(
            json.dumps(
                {
                    **note,
                    "event": "end",
                    "at": time.time(),
                    "worker": worker,
                    "device": str(device),
                }
            )
        )
        f.write("\n")
    return trained


def events(log, event="end"):
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [e for e in lines if e["event"] == event]


@pytest.fixture(scope="module")
def data(data_dir):
    train = lu.load_dataset(
        "cifar10", n_samples=900, seed=0, data_dir=data_dir, download=False
    )
    return lu.train_val_split(train, 0.2)


@pytest.fixture(scope="module")
def cluster():
    with lu.cluster.local_cluster(2) as local:
        yield local


@pytest.fixture(scope="module")
def serial(data, tmp_path_factory):
    """The serial sweep, at a Dask worker's one torch thread."""
    folder = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_fn = partial(train_logged, data=data, log=folder / "log")
        results = lu.run_sweep(
            CONFIGS, SEEDS, train_fn, folder / "runs", progress=False
        )
    finally:
        torch.set_num_threads(threads)
    return results, lu.load_histories(folder / "runs")


def same_results(results, serial):
    expected, _ = serial
    pd.testing.assert_frame_equal(
        results.drop(columns=NOT_RESULTS), expected.drop(columns=NOT_RESULTS)
    )


def same_histories(folder, serial):
    _, expected = serial
    key = ["name", "seed", "epoch"]
    got = lu.load_histories(folder).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(
        got.drop(columns="seconds"),
        expected.sort_values(key, ignore_index=True).drop(columns="seconds"),
    )


def cluster_sweep(client, train_fn, folder, **options):
    return lu.run_sweep(
        CONFIGS,
        SEEDS,
        train_fn,
        folder,
        progress=False,
        executor=client,
        **options,
    )


def nothing_left_behind(folder):
    """Every run saved whole, and no claim or temporary file left."""
    for run in folder.iterdir():
        assert lu.read_run(run) is not None, run
        assert sorted(p.name for p in run.iterdir()) == ["run.json"], run


def test_a_cluster_sweep_equals_the_serial_one(
    data, cluster, serial, tmp_path
):
    log = tmp_path / "log"
    train_fn = partial(train_logged, data=data, log=log)
    with distributed.Client(cluster) as client:
        results = cluster_sweep(client, train_fn, tmp_path / "runs")
        assert not results["reused"].any()
        same_results(results, serial)
        same_histories(tmp_path / "runs", serial)
        trained = events(log)
        assert sorted((e["name"], e["seed"]) for e in trained) == sorted(RUNS)
        # Both workers took part, and nothing ran in this process.
        assert len({e["pid"] for e in trained}) == 2
        assert os.getpid() not in {e["pid"] for e in trained}
        nothing_left_behind(tmp_path / "runs")
        # Run again: everything is found, nothing trains.
        again = cluster_sweep(client, train_fn, tmp_path / "runs")
    assert again["reused"].all() and len(events(log)) == len(RUNS)
    same_results(again, serial)


def test_a_process_pool_sweep_equals_the_serial_one(data, serial, tmp_path):
    train_fn = partial(train_logged, data=data, log=tmp_path / "log")
    # Every worker on one thread, as the serial reference: set by the
    # initializer, since two submitted calls may both land on one worker
    # and leave the other on torch's default (all cores), whose sums
    # round differently.
    with ProcessPoolExecutor(
        2,
        mp_context=get_context("spawn"),
        initializer=torch.set_num_threads,
        initargs=(1,),
    ) as pool:
        results = cluster_sweep(pool, train_fn, tmp_path / "runs")
    same_results(results, serial)


def test_workers_killed_mid_run_lose_nothing(data, cluster, serial, tmp_path):
    log = tmp_path / "log"
    folder = tmp_path / "runs"
    train_fn = partial(train_logged, data=data, log=log)
    out = {}
    with distributed.Client(cluster) as client:
        sweeping = threading.Thread(
            target=lambda: out.update(
                results=cluster_sweep(client, train_fn, folder)
            )
        )
        sweeping.start()
        # Wait until a worker is inside a run (claimed, started, not
        # saved), then kill every worker process outright: the run, and
        # every copy of what the sweep sent the workers, are lost.
        victim, deadline = None, time.time() + 120
        while victim is None and time.time() < deadline:
            for start in events(log, "start"):
                run = lu.run_dir(folder, start["name"], start["seed"])
                owner = claims.owner(run)
                if owner and not (run / "run.json").exists():
                    victim = (start["name"], start["seed"])
                    break
            time.sleep(0.01)
        assert victim is not None, "no run was seen training"
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        sweeping.join(timeout=300)
        client.wait_for_workers(2, timeout=60)  # the nannies restart them
    assert not sweeping.is_alive()
    assert "results" in out, "the sweep raised (see its thread's error)"
    results = out["results"]
    same_results(results, serial)
    same_histories(folder, serial)
    nothing_left_behind(folder)
    # The killed run was started again and finished once; every run was
    # trained to its end exactly once.
    starts = [(e["name"], e["seed"]) for e in events(log, "start")]
    ends = sorted((e["name"], e["seed"]) for e in events(log))
    assert ends == sorted(RUNS)
    assert starts.count(victim) == 2
    assert max(starts.count(run) for run in RUNS) <= 2


def test_two_sweeps_at_once_train_each_run_once(
    data, cluster, serial, tmp_path, monkeypatch
):
    monkeypatch.setattr(sweep, "POLL", 0.2)
    log = tmp_path / "log"
    folder = tmp_path / "runs"
    train_fn = partial(train_logged, data=data, log=log)
    out = {}

    def one_sweep(key):
        # Each sweep its own client, as two notebooks would have.
        with distributed.Client(cluster.scheduler_address) as client:
            out[key] = cluster_sweep(client, train_fn, folder)

    sweeps = [threading.Thread(target=one_sweep, args=(k,)) for k in "ab"]
    for t in sweeps:
        t.start()
    for t in sweeps:
        t.join(timeout=300)
    trained = sorted((e["name"], e["seed"]) for e in events(log))
    assert trained == sorted(RUNS), "a run was trained twice, or never"
    for key in "ab":
        same_results(out[key], serial)
    # Each run is new in exactly one of the two tables.
    fresh = ~out["a"]["reused"].to_numpy() ^ ~out["b"]["reused"].to_numpy()
    assert fresh.all()
    nothing_left_behind(folder)


def test_runs_that_need_a_gpu_go_to_the_worker_that_has_one(data, tmp_path):
    # One worker offers a GPU (this machine has none: it trains on its
    # CPU, and warns in its log), the other offers none.
    with lu.cluster.local_cluster(
        1, threads_per_worker=2, resources={"GPU": 1}
    ) as local:
        plain = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                local.scheduler_address,
                "--nthreads",
                "2",
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(local) as client:
                client.wait_for_workers(2, timeout=60)
                gpu_worker = next(
                    a for a, g in lu.cluster.worker_gpus(client).items() if g
                )
                log = tmp_path / "log"
                train_fn = partial(train_logged, data=data, log=log)
                configs = dict(list(CONFIGS.items())[:2])
                lu.run_sweep(
                    configs,
                    SEEDS,
                    train_fn,
                    tmp_path / "runs",
                    progress=False,
                    executor=client,
                    gpus_per_run=0.5,  # two runs share the GPU
                )
                with pytest.raises(ValueError, match="no worker .* offers"):
                    lu.run_sweep(
                        configs,
                        [2],
                        train_fn,
                        tmp_path / "runs",
                        executor=client,
                        gpus_per_run=2,
                    )
                no_device = partial(
                    lambda config, seed: train_fn(config, seed)
                )
                with pytest.raises(ValueError, match="takes device="):
                    lu.run_sweep(
                        configs,
                        [2],
                        no_device,
                        tmp_path / "runs",
                        executor=client,
                    )
        finally:
            plain.terminate()
            plain.wait()
    ends = events(log)
    assert len(ends) == 4
    assert {e["worker"] for e in ends} == {gpu_worker}
    assert {e["device"] for e in ends} == {"cpu"}  # no CUDA on this machine
    # Two at a time on the one GPU: some runs overlapped.
    spans = {(e["name"], e["seed"]): [e["at"]] for e in events(log, "start")}
    for e in ends:
        spans[(e["name"], e["seed"])].append(e["at"])
    order = sorted(spans.values())
    assert any(b[0] < a[1] for a, b in zip(order, order[1:]))


def test_a_local_cluster_leaves_this_process_environment_alone():
    # Dask's nannies write their workers' settings (one BLAS thread, a
    # malloc trim that slows torch 2.7x) into the environment of the
    # process that starts them, so every notebook kernel or program it
    # started afterwards ran with them.
    watched = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"]
    before = {var: os.environ.get(var) for var in watched}
    client = lu.sweep_executor("local:1")
    try:
        (worker,) = client.run(
            lambda: (
                torch.get_num_threads(),
                os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            )
        ).values()
    finally:
        client.close()
    # Closing the client closes the cluster it started (its workers).
    assert client.cluster.status.name == "closed"
    assert {var: os.environ.get(var) for var in watched} == before
    # Its worker still has one torch thread, and no malloc trim.
    assert worker == (1, None)


THREADS_SCRIPT = """
import sys

import pandas as pd
import torch  # before the workers start: each re-imports this module

import lab_utils as lu


def threads(config, seed):
    n = torch.get_num_threads()
    return pd.DataFrame({"epoch": [1], "threads": [n]}), {"threads": n}


if __name__ == "__main__":
    torch.set_num_threads(2)
    client = lu.sweep_executor("local:1")
    results = lu.run_sweep(
        {"a": {}}, [0], threads, sys.argv[1], progress=False,
        executor=client,
    )
    client.close()
    print("threads", results["threads"].item())
"""


def test_runs_on_local_workers_train_on_one_thread(tmp_path):
    # A worker process re-imports the main module of the program that
    # started it; where that imports torch (a script, run_all), torch is
    # set up before the worker's environment asks for one thread.
    script = tmp_path / "threads.py"
    script.write_text(THREADS_SCRIPT)
    # The script runs from tmp_path: it finds lab_utils in this checkout,
    # installed or not (its workers inherit the path).
    path = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "threads 1" in done.stdout, done.stdout


def test_placement_and_executors_are_checked_before_anything_trains(
    tmp_path, monkeypatch
):
    def train_fn(config, seed):
        raise AssertionError("nothing may train")

    with pytest.raises(ValueError, match="gpus_per_run places runs on Dask"):
        lu.run_sweep({"a": {}}, [0], train_fn, tmp_path, gpus_per_run=1)
    with pytest.raises(ValueError, match="executor must be None"):
        lu.run_sweep({"a": {}}, [0], train_fn, tmp_path, executor="local")
    # A forked process pool can hang for good in torch (its threads do
    # not survive a fork): refused, with the spawn pool to use instead.
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        with pytest.raises(ValueError, match=r"get_context\("):
            lu.run_sweep({"a": {}}, [0], train_fn, tmp_path, executor=pool)
    with pytest.raises(ValueError, match="SCHEDULER must be None"):
        lu.sweep_executor(8786)
    with pytest.raises(ValueError, match="local:2"):
        lu.sweep_executor("local:two")
    monkeypatch.setattr(lu.cluster, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ValueError, match="No Dask scheduler answered"):
        lu.sweep_executor("tcp://127.0.0.1:9")


def test_a_claim_is_held_once_and_taken_over_when_its_owner_is_gone(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(claims, "STALE_AFTER", 0.5)
    monkeypatch.setattr(claims, "HEARTBEAT", 0.1)
    run = tmp_path / "run"
    held = claims.acquire(run)
    assert held is not None and claims.acquire(run) is None
    held.release()
    assert claims.owner(run) is None
    # A process on this machine that no longer runs: taken over at once.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"host": claims._host(), "pid": dead.pid, "token": "old"}
    (run / claims.CLAIM_FILE).write_text(json.dumps(record))
    assert claims.is_stale(run)
    taken = claims.acquire(run)
    assert taken is not None and claims.owner(run)["pid"] == os.getpid()
    taken.release()
    # Another machine's claim, judged by this process's own clock: kept
    # while its heartbeat goes on ...
    beating = claims.acquire(run)
    far = {"host": "elsewhere", "pid": 1, "token": beating.token}
    (run / claims.CLAIM_FILE).write_text(json.dumps(far))
    for _ in range(8):
        assert claims.acquire(run) is None
        time.sleep(0.15)
    # ... taken over once it has been seen silent for STALE_AFTER.
    beating._stop.set()
    time.sleep(0.2)
    assert claims.acquire(run) is None  # silent, but not for long yet
    time.sleep(0.6)
    taken = claims.acquire(run)
    assert taken is not None and claims.owner(run)["token"] == taken.token
    taken.release()
    # A claim hours old is gone at first sight; a sweep that found one
    # stale sends its worker to take over exactly that claim, no other.
    (run / claims.CLAIM_FILE).write_text(json.dumps(far))
    assert claims.acquire(run, take_over=(0, 0)) is None
    taken = claims.acquire(run, take_over=claims.signature(run))
    assert taken is not None
    taken.release()
    (run / claims.CLAIM_FILE).write_text(json.dumps(far))
    hours_ago = time.time() - 3 * 3600
    os.utime(run / claims.CLAIM_FILE, (hours_ago, hours_ago))
    taken = claims.acquire(run)
    assert taken is not None
    taken.release()
    assert sorted(p.name for p in run.iterdir()) == []
