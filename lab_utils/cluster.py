"""Sending a sweep's runs to other processes, or to other machines.

``run_sweep(..., executor=...)`` takes ``None`` (train here, one run at a
time), a ``concurrent.futures`` executor (a process pool on this
machine) or a Dask ``distributed.Client`` (a local cluster, or workers
on many machines: a SLURM or PBS cluster through ``dask-jobqueue``).
``sweep_executor(SCHEDULER)`` makes one from a notebook's parameter.
Dask is optional: nothing here imports it unless a cluster is asked for.

On Dask, a run that needs a GPU asks for the worker resource ``GPU``
(start each worker with ``--resources GPU=1``, one worker per GPU); a
run that asks for 0.25 shares its GPU with three others.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import os
import pickle
import sys
import threading
import warnings
from pathlib import Path

import torch

LOCAL = "local"
CONNECT_TIMEOUT = "20s"  # to reach a running scheduler


def sweep_executor(scheduler: str | None = None):
    """The executor a notebook's ``SCHEDULER`` parameter asks for: None
    (train in this process), ``"local"`` or ``"local:N"`` (a Dask cluster
    of N single-threaded worker processes on this machine, N = its cores
    by default), or a scheduler's address (``"tcp://host:8786"``) to
    connect to a running cluster. Prints one line on the cluster."""
    if scheduler is None:
        return None
    client = connect(scheduler)
    print(f"Sweeps run on {describe(client)}")
    return client


# What each worker process of a local cluster gets: one thread for torch
# and its BLAS libraries (one worker per core), as Dask would set.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def local_cluster(n_workers: int, threads_per_worker: int = 1, **options):
    """A Dask LocalCluster of ``n_workers`` worker processes (single-
    threaded by default) on this machine. Dask's nannies would write
    their workers' settings into this process's environment before
    starting each worker (one BLAS thread for every program it starts
    afterwards, and the malloc trim that makes torch 2.7x slower): here
    the workers get their threads in their own environment, and this
    process's is left alone. ``options`` go to LocalCluster."""
    from distributed import LocalCluster

    with _own_environment():
        return LocalCluster(
            **_local_options(n_workers, threads_per_worker, options)
        )


def _own_environment():
    """Dask's pre-spawn environment off while a local cluster is made (its
    nannies read the setting then, inside the constructor, and a
    restarted worker reuses its nanny's)."""
    import dask

    return dask.config.set({"distributed.nanny.pre-spawn-environ": {}})


def _local_options(n_workers, threads_per_worker, options) -> dict:
    return {
        "n_workers": n_workers,
        "threads_per_worker": threads_per_worker,
        "processes": True,
        "dashboard_address": ":0",
        **options,
        "env": {**WORKER_ENV, **options.get("env", {})},
    }


def connect(scheduler: str):
    """A Dask ``Client``: of a new local cluster (``"local"``,
    ``"local:N"``), closed with it, or of the running cluster at an
    address."""
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ValueError(
            f"SCHEDULER must be None, 'local', 'local:N' or a Dask "
            f"scheduler's address such as 'tcp://10.0.0.5:8786'; got "
            f"{scheduler!r}."
        )
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(
            "SCHEDULER needs Dask's `distributed` package: run `pip "
            "install distributed` (Colab has it), or set SCHEDULER = None "
            "to train here."
        ) from None
    scheduler = scheduler.strip()
    if scheduler == LOCAL or scheduler.startswith(LOCAL + ":"):
        workers = scheduler.partition(":")[2] or str(os.cpu_count() or 1)
        if not workers.isdigit() or int(workers) < 1:
            raise ValueError(
                f"SCHEDULER = {scheduler!r}: after 'local:' give the "
                f"number of worker processes, e.g. 'local:2'."
            )
        # The client makes the cluster itself, so that closing the client
        # closes it (and its workers) too.
        with _own_environment():
            return Client(**_local_options(int(workers), 1, {}))
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise ValueError(
            f"No Dask scheduler answered at {scheduler!r} ({err}). "
            f"Start one (`dask scheduler`, then `dask worker "
            f"{scheduler}` on each machine), check the address, or "
            f"set SCHEDULER = None to train here."
        ) from None


def describe(client) -> str:
    """A Dask cluster in a few words: its address, workers, threads and
    GPUs."""
    workers = _workers(client).values()
    threads = sum(w.get("nthreads", 1) for w in workers)
    gpus = sum(w.get("resources", {}).get("GPU", 0) for w in workers)
    return (
        f"the Dask cluster at {client.scheduler.address}: {len(workers)} "
        f"workers, {threads} threads, {gpus:g} GPUs."
    )


def kind(executor) -> str:
    """'serial', 'dask' or 'pool'; anything else is refused."""
    if executor is None:
        return "serial"
    if is_dask_client(executor):
        return "dask"
    if isinstance(executor, concurrent.futures.Executor):
        _refuse_a_forked_pool(executor)
        return "pool"
    raise ValueError(
        f"executor must be None, a concurrent.futures executor (e.g. "
        f"ProcessPoolExecutor) or a Dask distributed.Client, not "
        f"{type(executor).__name__}."
    )


def _refuse_a_forked_pool(executor) -> None:
    """A process pool that forks copies a process whose torch (and Dask)
    threads do not survive the fork: a run can then hang for good, with
    no error. Refused, with the pool to make instead."""
    context = getattr(executor, "_mp_context", None)
    if context is not None and context.get_start_method() == "fork":
        raise ValueError(
            "This process pool starts its workers by fork, and a forked "
            "worker can hang for good inside torch (the threads of this "
            "process do not survive the fork). Make the pool with "
            "ProcessPoolExecutor(n, mp_context=multiprocessing."
            "get_context('spawn')), or pass a Dask client "
            "(lu.sweep_executor('local:n'))."
        )


def is_dask_client(executor) -> bool:
    cls = type(executor)
    return cls.__name__ == "Client" and cls.__module__.startswith(
        "distributed"
    )


def _workers(client) -> dict:
    try:
        info = client.scheduler_info(n_workers=-1)  # all, not the first 5
    except TypeError:  # distributed before 2025 lists all of them
        info = client.scheduler_info()
    return info["workers"]


def worker_gpus(client) -> dict[str, float]:
    """Each worker's declared GPU resource (0 where it declares none)."""
    workers = _workers(client)
    return {
        address: float(w.get("resources", {}).get("GPU", 0))
        for address, w in workers.items()
    }


def check_gpus(client, gpus: float) -> None:
    """Refuse runs that ask for more GPU than any worker offers: Dask
    would hold them forever. A cluster with no workers yet (an adaptive
    one, still starting) is given the benefit of the doubt."""
    offered = worker_gpus(client)
    if offered and gpus > max(offered.values()):
        raise ValueError(
            f"Each run asks for {gpus:g} GPU, but no worker of the cluster "
            f"offers that much (GPU resources: "
            f"{sorted(set(offered.values()))}). Start GPU workers with "
            f"`dask worker ADDRESS --resources GPU=1` (one per GPU), or "
            f"pass gpus_per_run=0 to train on the CPU workers."
        )


def check_folder_visible(client, folder: Path) -> None:
    """Every worker must see the results folder at the same path (a
    shared filesystem), or its runs would be saved where nobody reads
    them."""
    seen = client.run(os.path.isdir, str(folder))
    blind = sorted(address for address, ok in seen.items() if not ok)
    if blind:
        raise ValueError(
            f"{len(blind)} of {len(seen)} Dask workers cannot see the "
            f"results folder {folder} (e.g. {blind[0]}). Put RESULTS_DIR "
            f"on a filesystem that every worker mounts at the same path "
            f"(your cluster's shared home or scratch)."
        )


def pack(fn) -> tuple[bytes, str]:
    """``fn`` as bytes for the workers, and their digest. A function
    defined in a notebook travels whole, with the data it uses
    (cloudpickle, which Dask brings); one from a module must be
    importable on the workers."""
    try:
        import cloudpickle as pickler
    except ImportError:  # a process pool without Dask installed
        pickler = pickle
    try:
        payload = pickler.dumps(fn)
    except Exception as err:
        raise ValueError(
            f"train_fn cannot be sent to other processes ({err}): it, or a "
            f"global it uses, holds something that lives in this process "
            f"only (a Dask client, an open file, a lock). Pass it data and "
            f"plain values only, e.g. functools.partial of a lab_utils "
            f"recipe."
        ) from None
    return payload, hashlib.sha1(payload).hexdigest()


# A worker unpacks each sweep's train_fn (and its data) once, not per run;
# its threads may run runs of two sweeps at once.
_UNPACKED: dict[str, object] = {}
_UNPACKING = threading.Lock()


def unpack(payload: bytes, digest: str):
    with _UNPACKING:
        fn = _UNPACKED.get(digest)
        if fn is None:
            fn = pickle.loads(payload)
            if len(_UNPACKED) >= 2:  # keep the data of two sweeps at most
                _UNPACKED.pop(next(iter(_UNPACKED)))
            _UNPACKED[digest] = fn
        return fn


def submit(executor, fn, *args, gpus: float = 0.0):
    """Submit ``fn(*args)``; on Dask, holding ``gpus`` of a worker's GPU
    resource, and never merged with another submission of the same
    arguments (two sweeps may ask for the same run)."""
    if is_dask_client(executor):
        return executor.submit(
            fn,
            *args,
            pure=False,
            resources={"GPU": gpus} if gpus else None,
        )
    return executor.submit(fn, *args)


def share(executor, payload: bytes):
    """The payload as the workers should receive it: on Dask, scattered
    once to every worker (so that one worker's death does not lose it);
    else the bytes themselves."""
    if is_dask_client(executor):
        return executor.scatter(payload, hash=False, broadcast=True)
    return payload


def lost_data(err: BaseException) -> bool:
    """Whether ``err`` is Dask cancelling a task because data it needed
    was lost with the workers that held it (scattered data cannot be
    computed again), rather than anyone cancelling it."""
    return type(err).__name__ == "FutureCancelledError" and (
        getattr(err, "reason", None) == "already forgotten"
    )


def cancel(executor, futures) -> None:
    """Cancel what has not started (a running run goes on to its end)."""
    if is_dask_client(executor):
        executor.cancel(futures)
    else:
        for future in futures:
            future.cancel()


def as_completed(executor, futures):
    if is_dask_client(executor):
        from distributed import as_completed as dask_as_completed

        return dask_as_completed(futures)
    return concurrent.futures.as_completed(futures)


def settle_worker() -> None:
    """Before a run trains on a Dask worker: undo the nanny's malloc trim,
    and give torch the threads the worker's environment asks for
    (OMP_NUM_THREADS). A worker process re-imports the main module of the
    program that started the cluster, and where that imports torch (a
    script, run_all), torch had chosen its threads before the worker's
    environment was set: each worker would then use every core."""
    undo_malloc_trim()
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        if torch.get_num_threads() != int(threads):
            torch.set_num_threads(int(threads))


def undo_malloc_trim() -> None:
    """Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536,
    which also turns off glibc's adaptive mmap threshold: every tensor
    over 128 KiB is then mapped afresh and handed back, and training on
    the CPU runs 2-3x slower (measured on this machine: 7.0 s against
    2.6 s for one small run). Restore roomy thresholds in this process,
    and keep the variable from its children (a notebook's kernel)."""
    if os.environ.pop("MALLOC_TRIM_THRESHOLD_", None) is None:
        return
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's adaptive cap
        libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def placed_device(gpus: float) -> torch.device:
    """The device of a run on a worker: the GPU when it was given one
    (a worker sees only its own GPU when started one per GPU), else the
    CPU. A worker that declares a GPU torch cannot see trains on its CPU,
    and says so in its log."""
    if gpus and torch.cuda.is_available():
        return torch.device("cuda")
    if gpus:
        warnings.warn(
            "This Dask worker declares a GPU resource, but torch sees no "
            "CUDA device: the run trains on the CPU. Start GPU workers "
            "only where there is a GPU (and a CUDA build of torch).",
            stacklevel=2,
        )
    return torch.device("cpu")
