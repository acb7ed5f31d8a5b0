"""Careless inputs, as a new user gives them: each either works correctly
or ends in a message that names what was wrong and what to do. Never a
wrong number without a word, never a bare traceback. One test (or a few)
per case of issue 14, numbered as there."""

import gzip
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lab_utils as lu
from lab_utils.tools import run_all

REPO = Path(__file__).resolve().parents[1]


def copy_cifar(data_dir: Path, into: Path, per_class: int) -> Path:
    """``per_class`` real CIFAR-10 test images of every class, copied into
    ``into/cifar10/test/<class>/``; returns that folder."""
    root = into / "cifar10" / "test"
    for cls in lu.CIFAR10_CLASSES:
        (root / cls).mkdir(parents=True)
        files = sorted((data_dir / "cifar10" / "test" / cls).iterdir())
        for f in files[:per_class]:
            shutil.copy(f, root / cls / f.name)
    return root


# --- 1. the decoded-data cache notices every change ------------------------


def test_1_cache_sees_deleted_and_overwritten_images(
    data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    root = copy_cifar(data_dir, tmp_path, per_class=20)

    def load(**options):
        return lu.load_dataset(
            "cifar10", "test", data_dir=tmp_path, download=False, **options
        )

    first = load()
    assert len(first) == 200
    for f in sorted((root / "cat").iterdir())[:10]:
        f.unlink()
    cats = sorted((root / "cat").iterdir())
    for cat, dog in zip(cats, sorted((root / "dog").iterdir())):
        shutil.copy(cat, dog)  # overwrite in place, names unchanged
    cached, fresh = load(), load(cache=False)
    assert len(fresh) == 190
    assert len(cached) == 190, "the cache returned the deleted images"
    assert torch.equal(cached.X, fresh.X), "the cache kept the old pixels"
    dog = lu.CIFAR10_CLASSES.index("dog")
    cat = lu.CIFAR10_CLASSES.index("cat")
    # The first ten dog files now hold the ten cats left.
    assert torch.equal(
        cached.X[cached.y == dog][:10], cached.X[cached.y == cat]
    )


def test_1_cache_sees_a_same_size_overwrite_with_its_old_timestamp(
    data_dir, tmp_path, monkeypatch
):
    """Issue 32, case 1: another image of exactly the same size written
    over a file, its modification time then put back (``touch -r``):
    path, size and mtime are all as before; the change time is not."""
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    root = copy_cifar(data_dir, tmp_path, per_class=20)
    by_size: dict = {}
    for f in sorted((data_dir / "cifar10" / "train").rglob("*.jpg"))[:3000]:
        by_size.setdefault(f.stat().st_size, []).append(f)
    bird = root / "bird" / "0015.jpg"
    twins = [
        f
        for f in by_size.get(bird.stat().st_size, [])
        if f.read_bytes() != bird.read_bytes()
    ]
    assert twins, "no image of the same size to write over it"

    def load(**options):
        return lu.load_dataset(
            "cifar10", "test", data_dir=tmp_path, download=False, **options
        )

    before = load()
    stat = bird.stat()
    shutil.copyfile(twins[0], bird)
    os.utime(bird, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert bird.stat().st_size == stat.st_size
    assert bird.stat().st_mtime_ns == stat.st_mtime_ns
    cached, fresh = load(), load(cache=False)
    assert not torch.equal(fresh.X, before.X)  # the pixels did change
    assert torch.equal(cached.X, fresh.X), "the cache kept the old bird"


def test_1_cache_sees_a_replaced_and_a_truncated_idx_file(
    data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").glob("t10k-*"):
        shutil.copy(f, raw / f.name)
    mnist = lu.load_dataset("mnist", "test", data_dir=tmp_path)
    # Replaced by Fashion-MNIST's files: same names, same sizes.
    for f in (data_dir / "FashionMNIST" / "raw").glob("t10k-*"):
        shutil.copy(f, raw / f.name)
    replaced = lu.load_dataset("mnist", "test", data_dir=tmp_path)
    assert not torch.equal(replaced.X, mnist.X)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-784])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        lu.load_dataset("mnist", "test", data_dir=tmp_path)


# --- 2. float images are not divided by 255 twice --------------------------


def test_2_float_images_in_0_1_are_stored_as_uint8(mnist_small):
    train, _ = mnist_small
    as_float = lu.LabData(
        "mnist", "train", train.X.float() / 255, train.y, train.classes
    )
    assert as_float.X.dtype == torch.uint8
    assert torch.equal(as_float.X, train.X)
    X, _ = next(iter(lu.TensorLoader(as_float, len(as_float))))
    # Normalised with MNIST's constants: near mean 0 and std 1, not the
    # -0.42 and 0.004 of images divided by 255 twice.
    assert abs(float(X.mean())) < 0.1 and 0.9 < float(X.std()) < 1.1


@pytest.mark.parametrize(
    "X, message",
    [
        (torch.full((2, 1, 4, 4), 200.0), r"\[0, 1\].*uint8"),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), r"unsqueeze\(1\)"),
        (torch.full((2, 1, 4, 4), -1.0), r"\[0, 1\]"),
        (torch.full((2, 1, 4, 4), 300), "0..255"),
    ],
)
def test_2_images_of_another_range_or_shape_are_refused(X, message):
    with pytest.raises(ValueError, match=message):
        lu.LabData("mnist", "train", X, torch.zeros(2, dtype=torch.long), [])


def test_2_labels_outside_the_classes_are_refused():
    X = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"class indices 0..1.*got 0..2"):
        lu.LabData("x", "train", X, torch.tensor([0, 1, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="one label per image"):
        lu.LabData("x", "train", X, torch.tensor([0, 1]), ["a", "b"])


def test_2_a_loader_refuses_images_changed_to_float_after_loading(
    mnist_small,
):
    train, _ = mnist_small
    changed = train.take(torch.arange(10))
    changed.X = changed.X.float() / 255
    with pytest.raises(ValueError, match="expects uint8"):
        lu.TensorLoader(changed, 5)


# --- 3. two sweeps writing one run name never mix their files --------------


def test_3_two_sweeps_with_different_configs_never_mix(tmp_path):
    """While sweep A trains run "a", sweep B (another notebook sharing the
    results folder) trains and finishes "a" with another config. A must
    not write its metrics beside B's config, and B's saved run must stay
    B's: what is reused later is exactly what B trained."""

    def train_b(config, seed):
        return pd.DataFrame({"epoch": [1]}), {"lr_trained": config["lr"]}

    def train_a(config, seed):
        # B took A's claim over (A's heartbeat starved past STALE_AFTER):
        # only the run's record now keeps the two apart.
        (lu.run_dir(tmp_path, "a", 0) / "claim.json").unlink()
        lu.run_sweep(
            {"a": {"lr": 0.2}}, [0], train_b, tmp_path, progress=False
        )
        return pd.DataFrame({"epoch": [1]}), {"lr_trained": config["lr"]}

    with pytest.raises(ValueError, match="different config"):
        lu.run_sweep(
            {"a": {"lr": 0.1}}, [0], train_a, tmp_path, progress=False
        )
    again = lu.run_sweep(
        {"a": {"lr": 0.2}}, [0], train_b, tmp_path, progress=False
    )
    assert again["reused"].all()
    assert again["lr"].tolist() == again["lr_trained"].tolist() == [0.2]
    saved = lu.read_run(lu.run_dir(tmp_path, "a", 0))
    assert saved["config"] == {"lr": 0.2}
    assert saved["metrics"] == {"lr_trained": 0.2}


def test_3_a_run_finished_meanwhile_with_the_same_config_is_used(tmp_path):
    """Two processes on the same run and config: the second to finish
    takes the first one's record and drops its own."""

    def inner(config, seed):
        return pd.DataFrame({"epoch": [1]}), {"who": "inner"}

    def outer(config, seed):
        # The other process took this one's claim over (see above).
        (lu.run_dir(tmp_path, "a", 0) / "claim.json").unlink()
        lu.run_sweep({"a": {"lr": 0.1}}, [0], inner, tmp_path, progress=False)
        return pd.DataFrame({"epoch": [1]}), {"who": "outer"}

    results = lu.run_sweep(
        {"a": {"lr": 0.1}}, [0], outer, tmp_path, progress=False
    )
    assert results["who"].tolist() == ["inner"] and results["reused"].all()
    assert lu.read_run(lu.run_dir(tmp_path, "a", 0))["metrics"] == {
        "who": "inner"
    }


def test_3_runs_in_the_old_layout_are_trained_again_with_a_warning(
    tmp_path,
):
    old = lu.run_dir(tmp_path, "a", 0)
    old.mkdir()
    (old / "config.json").write_text('{"name": "a", "seed": 0}')
    (old / "metrics.json").write_text('{"val_acc": 0.9}')

    def train_fn(config, seed):
        return pd.DataFrame({"epoch": [1]}), {"val_acc": 0.5}

    with pytest.warns(UserWarning, match="old layout.*trained again"):
        results = lu.run_sweep({"a": {}}, [0], train_fn, tmp_path)
    assert results["val_acc"].tolist() == [0.5]
    assert (old / "metrics.json").read_text() == '{"val_acc": 0.9}'


def test_3_a_model_that_is_not_the_recorded_one_is_retrained(
    mnist_small, tmp_path
):
    train, test = mnist_small
    calls = []

    def train_fn(config, seed, save_to=None):
        calls.append(config["lr"])
        return lu.train_margin_classifier(
            config, seed, train, test, device="cpu", save_to=save_to
        )

    configs = {
        "a": {"width": 0.25, "epochs": 1, "lr": 1e-3},
        "b": {"width": 0.25, "epochs": 1, "lr": 2e-3},
    }
    lu.run_sweep(configs, [0], train_fn, tmp_path, save_models=True)
    # Another process's model lands in a's folder: a must not reuse it.
    shutil.copy(
        lu.run_dir(tmp_path, "b", 0) / "model.pt",
        lu.run_dir(tmp_path, "a", 0) / "model.pt",
    )
    calls.clear()
    again = lu.run_sweep(configs, [0], train_fn, tmp_path, save_models=True)
    assert calls == [1e-3]
    assert again["reused"].tolist() == [False, True]


# --- 4. divergence is caught, with its epoch -------------------------------


def test_4_a_finite_but_exploding_loss_is_reported_as_diverged(data_dir):
    train = lu.load_dataset(
        "cifar10", n_samples=500, seed=0, data_dir=data_dir, download=False
    )
    train, val = lu.train_val_split(train, 0.2)
    trained = lu.train_classifier(
        {"optimizer": "sgd", "lr": 1e3, "epochs": 3, "preset": "small"},
        0,
        train,
        val,
        device="cpu",
    )
    m = trained.metrics
    assert m["diverged"] and m["diverged_epoch"] == 1
    assert m["val_acc"] == pytest.approx(0.1)
    # The loss overflows within the first epoch: no epoch completed, or
    # the one that did ended far above the start.
    assert m["epochs_run"] == len(trained.history) <= 1
    if len(trained.history):
        assert trained.history["train_loss"].iloc[-1] > 23


def test_4_fit_raises_with_the_epoch(mnist_small):
    train, test = mnist_small
    model = lu.ThreeConvNet(lu.PRESETS["small"], 1, 10, 32)
    loader = lu.TensorLoader(
        lu.LabData(
            train.name, "train", lu.resize(train.X, 32), train.y, train.classes
        ),
        64,
        shuffle=True,
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=1e3)
    with pytest.raises(lu.DivergedError, match="diverged at epoch 1") as err:
        lu.fit(model, loader, epochs=2, optimizer=optimizer, device="cpu")
    # It overflows within the epoch: caught there, with the batch range,
    # and the history holds the epochs before it (none).
    assert err.value.epoch == 1 and len(err.value.history) == 0
    assert "between batches 1 and 10" in str(err.value)


def test_4_the_error_survives_pickling():
    """Sweeps spread over processes (Dask) send errors back pickled."""
    import pickle as pk

    err = lu.DivergedError("diverged at epoch 2", 2, pd.DataFrame({"a": [1]}))
    back = pk.loads(pk.dumps(err))
    assert back.epoch == 2 and str(back) == str(err)


def test_4_a_run_that_learns_is_not_called_diverged(mnist_small):
    train, test = mnist_small
    trained = lu.train_margin_classifier(
        {"epochs": 2, "width": 0.25}, 0, train, test, device="cpu"
    )
    assert trained.metrics["diverged"] is False
    assert trained.metrics["diverged_epoch"] is None


# --- 5. a truncated .gz file is named --------------------------------------


def test_5_truncated_gz_names_the_file(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").glob("t10k-*"):
        packed = gzip.compress(f.read_bytes())
        if "images" in f.name:
            packed = packed[: len(packed) // 2]  # a download cut short
        (raw / f"{f.name}.gz").write_bytes(packed)
    with pytest.raises(ValueError) as info:
        lu.load_dataset("mnist", "test", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "download the dataset again" in message


def test_5_truncated_cifar_pickle_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "batches.meta").write_bytes(b"")
    batch = {"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 10}
    whole = pickle.dumps(batch)
    (folder / "test_batch").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="test_batch.*corrupt"):
        lu.load_dataset("cifar10", "test", data_dir=tmp_path, download=False)


# --- 6. command-line tools print the message alone -------------------------


@pytest.mark.parametrize(
    "env, args, message",
    [
        ({"LAB_PROFILE": "fast"}, [], "LAB_PROFILE='fast' is not a profile"),
        ({}, ["--only", "1", "99"], "--only 99 matches no notebook"),
        ({}, ["--only", "0"], "--only 0 matches no notebook"),
    ],
)
def test_6_run_all_prints_the_message_without_a_traceback(env, args, message):
    done = subprocess.run(
        [sys.executable, "-m", "lab_utils.tools.run_all", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert message in done.stderr and done.stdout == ""


def test_6_only_picks_notebooks_by_number_or_name():
    folder = REPO / "notebooks"
    assert [p.stem[:2] for p in run_all.find_notebooks(folder, ["1"])] == [
        "01"
    ]
    picked = run_all.find_notebooks(folder, ["06", "arcface"])
    assert [p.stem[:2] for p in picked] == ["04", "06"]


# --- 7. parameters of the wrong type name the parameter --------------------


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"profile": 3}, "PROFILE must be a name in quotes"),
        ({"seed": "0"}, "SEED must be a whole number"),
        ({"seed": 1.5}, "SEED must be a whole number"),
        ({"data_dir": 5}, "DATA_DIR must be None or a folder path"),
        ({"results_dir": ["a"]}, "RESULTS_DIR must be None or a folder"),
    ],
)
def test_7_start_lab_checks_the_parameters_cell(arguments, message):
    with pytest.raises(ValueError, match=message):
        lu.start_lab("01_data_exploration", **arguments)


def test_7_numpy_seeds_are_fine(tmp_path):
    run = lu.start_lab("01_data_exploration", "smoke", np.int64(3))
    assert run.seed == 3 and type(run.seed) is int


@pytest.mark.parametrize(
    "change, message",
    [
        ({"batch_size": 64.0}, "'batch_size' must be a whole number"),
        ({"lr": "1e-3"}, "'lr' must be a number"),
        ({"optimizer": None}, "'optimizer' must be a name"),
    ],
)
def test_7_config_values_of_the_wrong_type_name_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        lu.recipes.with_defaults("classifier", change)


# --- 8. relative data folders, and failed downloads leave nothing -----------


def test_8_relative_lab_data_dir_is_taken_from_the_start_folder(
    data_dir, tmp_path, monkeypatch
):
    """LAB_DATA_DIR=data set at a repository's root; the notebook kernel
    runs in notebooks/ and inherits $PWD, the root."""
    (tmp_path / "data").symlink_to(data_dir)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.setenv("LAB_DATA_DIR", "data")
    assert lu.default_data_dir() == (tmp_path / "data").resolve()
    run = lu.start_lab("01_data_exploration", "smoke")
    assert run.data_dir == (tmp_path / "data").resolve()
    assert len(lu.load_dataset("mnist", "test", download=False)) == 10_000


def test_8_missing_relative_folder_names_the_absolute_path(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    with pytest.raises(lu.DatasetNotFoundError) as info:
        lu.load_dataset("mnist", data_dir="nowhere", download=False)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in str(info.value)


def test_8_a_stale_pwd_is_ignored_and_defaults_stay_here(
    tmp_path, monkeypatch
):
    """A $PWD that does not hold the current folder (left by an unrelated
    process) is not a start folder; ./data without LAB_DATA_DIR is the
    current folder's."""
    (tmp_path / "elsewhere" / "data").mkdir(parents=True)
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("PWD", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LAB_DATA_DIR", "data")
    assert lu.default_data_dir() == (tmp_path / "here" / "data").resolve()
    monkeypatch.delenv("LAB_DATA_DIR")
    monkeypatch.setenv("PWD", str(tmp_path))
    assert lu.default_data_dir() == (tmp_path / "here" / "data").resolve()


@pytest.mark.parametrize("exists", [True, False])
def test_8_a_failed_download_creates_no_folders(tmp_path, exists):
    data = tmp_path / "data"
    if exists:
        data.mkdir()
    # This machine is offline: torchvision's download fails.
    with pytest.raises(lu.DatasetNotFoundError, match="download"):
        lu.load_dataset("mnist", "test", data_dir=data)
    assert list(tmp_path.iterdir()) == ([data] if exists else [])
    assert not exists or list(data.iterdir()) == []


# --- 9. damaged sweep files are named and recomputed -----------------------


def test_9_damaged_run_file_is_named_set_aside_and_recomputed(tmp_path):
    calls = []

    def train_fn(config, seed):
        calls.append(seed)
        return pd.DataFrame({"epoch": [1]}), {"val_acc": config["lr"]}

    lu.run_sweep({"a": {"lr": 0.1}}, [0], train_fn, tmp_path, progress=False)
    run_file = lu.run_dir(tmp_path, "a", 0) / "run.json"
    run_file.write_text(run_file.read_text()[:40])  # cut off mid-write
    with pytest.warns(
        UserWarning, match=r"run\.json is damaged.*trained again"
    ):
        again = lu.run_sweep(
            {"a": {"lr": 0.1}}, [0], train_fn, tmp_path, progress=False
        )
    assert calls == [0, 0] and again["val_acc"].tolist() == [0.1]
    assert (run_file.parent / "run.damaged.json").is_file()
    assert json.loads(run_file.read_text())["metrics"] == {"val_acc": 0.1}


@pytest.mark.parametrize(
    "damage",
    [
        b"\xff\xfe not text",
        b"[1, 2]",
        b'{"name": "a", "seed": 0, "config": {}, "metrics": 3, "history": []}',
    ],
    ids=["bytes", "a list", "metrics not a dict"],
)
def test_9_any_damage_is_caught(tmp_path, damage):
    def train_fn(config, seed):
        return pd.DataFrame({"epoch": [1]}), {"val_acc": 0.5}

    lu.run_sweep({"a": {}}, [0], train_fn, tmp_path, progress=False)
    (lu.run_dir(tmp_path, "a", 0) / "run.json").write_bytes(damage)
    with pytest.warns(UserWarning, match="damaged"):
        again = lu.run_sweep({"a": {}}, [0], train_fn, tmp_path)
    assert again["val_acc"].tolist() == [0.5]


def test_9_load_histories_skips_a_damaged_run_with_a_warning(tmp_path):
    def train_fn(config, seed):
        return pd.DataFrame({"epoch": [1, 2]}), {"val_acc": 0.5}

    lu.run_sweep({"a": {}, "b": {}}, [0], train_fn, tmp_path, progress=False)
    (lu.run_dir(tmp_path, "b", 0) / "run.json").write_text("{")
    with pytest.warns(UserWarning, match="b__seed0.run.json is damaged.*skip"):
        histories = lu.load_histories(tmp_path)
    assert histories["name"].unique().tolist() == ["a"]


# --- 10. the smaller ones --------------------------------------------------


def test_10_numpy_epochs_are_accepted(mnist_small):
    train, test = mnist_small
    trained = lu.train_margin_classifier(
        {"epochs": np.int64(1), "width": 0.25}, 0, train, test, device="cpu"
    )
    assert trained.metrics["epochs_run"] == 1


def test_10_float_batch_size_is_named(mnist_small):
    train, _ = mnist_small
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        lu.TensorLoader(train, 64.0)


def test_10_wrong_image_size_says_what_the_model_expects(mnist_small):
    train, _ = mnist_small
    model = lu.ThreeConvNet()  # for CIFAR-10: 3 x 32 x 32
    X = next(iter(lu.TensorLoader(train, 2)))[0]
    with pytest.raises(ValueError, match=r"\(n, 3, 32, 32\), got \(2, 1, 28"):
        model(X)
    vae = lu.ConvVAE(32, 3)
    with pytest.raises(ValueError, match=r"\(n, 3, 32, 32\).*image_size=32"):
        vae(torch.zeros(2, 1, 28, 28))


def test_10_empty_subsets_give_clear_answers(mnist_small):
    train, _ = mnist_small
    with pytest.raises(ValueError, match="at least one class name"):
        lu.keep_classes(train, [])
    with pytest.raises(ValueError, match="list of class names"):
        lu.keep_classes(train, "3")
    empty = train.take(torch.tensor([], dtype=torch.long))
    table = lu.describe(empty)
    assert table["images"].tolist() == [0]
    assert table["pixel range"].tolist() == ["(empty)"]
    with pytest.raises(ValueError, match="no images"):
        lu.channel_stats(empty.X)


def test_10_failed_saves_leave_no_temporary_files(tmp_path):
    target = tmp_path / "model.pt"

    def fail_halfway(tmp):
        tmp.write_bytes(b"x" * 1000)
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        lu.files.atomic_write(target, fail_halfway)
    assert list(tmp_path.iterdir()) == []
    # A temporary file left by a process that was killed (no such pid
    # now) goes with the next successful write of the same file.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    host = lu.files.temporary_path(target).name.split("@")[1][: -len(".tmp")]
    stale = tmp_path / f".model.pt.{dead}@{host}.tmp"
    stale.write_bytes(b"y" * 1000)
    # One from another machine sharing the folder is not ours to judge.
    elsewhere = tmp_path / f".model.pt.{dead}@another-machine.tmp"
    elsewhere.write_bytes(b"z")
    lu.save_checkpoint(target, value=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        elsewhere.name,
        "model.pt",
    ]


# --- issue 32, case 2: a parameter the notebook does not have stops it -----


def test_32_2_papermill_with_an_unknown_parameter_stops(tmp_path, data_dir):
    """Plain papermill, as a user runs it: it only warns ("Passed
    unknown parameter"), and Lab 1 ran its default profile to the end."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(REPO / "notebooks" / "01_data_exploration.ipynb"),
            str(tmp_path / "out.ipynb"),
            *("-p", "PROFIL", "smoke", "-p", "EPOCHS", "3"),
            "--cwd",
            str(REPO / "notebooks"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "LAB_DATA_DIR": str(data_dir),
            "LAB_RESULTS_DIR": str(tmp_path / "results"),
        },
    )
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "This notebook has no parameter PROFIL, EPOCHS" in said
    assert "Its parameters are: PROFILE, SEED, DATA_DIR" in said


def test_32_2_the_injected_cell_is_checked_against_the_parameters_cell():
    from lab_utils.profiles import _check_injected_parameters

    parameters = 'PROFILE = "auto"\nSEED = 0\nDATA_DIR = None\n'
    good = '# Parameters\nPROFILE = "smoke"\nSEED = 1\n'
    _check_injected_parameters(["", parameters, good, "import lab_utils"])
    _check_injected_parameters(["", parameters, "x = 1"])  # no papermill
    with pytest.raises(ValueError, match="no parameter PROFIL, EPOCHS"):
        _check_injected_parameters(
            ["", parameters, '# Parameters\nPROFIL = "smoke"\nEPOCHS = 3\n']
        )


# --- issue 32, case 3: a full disk says so, and names the file --------------


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KiB filesystem (tmpfs), mounted for the test; it needs
    root, as this project's machines and CI have."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr}")
    yield mount
    # Lazily: a file the failed write left open (the traceback holds
    # it) must not keep the filesystem mounted.
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill folder's filesystem, leaving about ``leave`` bytes."""
    free = shutil.disk_usage(folder).free - leave
    with open(folder / "filler.bin", "wb") as f:
        try:
            f.write(b"\0" * max(free, 0))
        except OSError:
            pass


def test_32_3_a_checkpoint_on_a_full_disk_names_the_file(small_disk):
    small = small_disk / "small.pt"
    lu.save_checkpoint(small, weights=torch.zeros(10))
    big = torch.randn(200_000)  # 800 KB: more than the disk
    with pytest.raises(lu.DiskFullError) as caught:
        lu.save_checkpoint(small_disk / "model.pt", weights=big)
    message = str(caught.value)
    assert f"Could not write {small_disk / 'model.pt'}" in message
    assert (
        "the disk is full" in message and "left on its filesystem" in message
    )
    # nothing half-written is left, and the earlier file is intact
    assert sorted(p.name for p in small_disk.iterdir()) == ["small.pt"]
    assert torch.equal(lu.load_checkpoint(small)["weights"], torch.zeros(10))


def test_32_3_a_run_trained_on_a_disk_that_filled_up_keeps_its_results(
    small_disk,
):
    """The disk fills up while the run trains (another program, say):
    its record cannot be written, and the error says so, with what the
    run computed."""

    def train(config, seed):
        fill(small_disk)
        history = pd.DataFrame(
            {"epoch": [1, 2], "train_loss": [0.9, 0.5], "seconds": [1, 1]}
        )
        return history, {"test_acc": 0.8125, "epochs_run": 2}

    with pytest.raises(lu.DiskFullError) as caught:
        lu.run_sweep({"baseline": {"lr": 0.1}}, [0], train, small_disk)
    message = str(caught.value)
    assert "The run 'baseline' (seed 0) trained" in message
    assert "run.json: the disk is full" in message
    assert "test_acc=0.8125" in message


# --- issue 32, case 4: NaN pixels and a zero std are named ----------------


def test_32_4_nan_pixels_are_counted_and_located(mnist_small):
    train, _ = mnist_small
    X = train.X[:50].float() / 255
    X[7, 0, 3, 4] = float("nan")
    X[20, 0, 0, 1] = float("nan")
    with pytest.raises(ValueError) as caught:
        lu.LabData("mnist", "train", X, train.y[:50], train.classes)
    message = str(caught.value)
    assert "2 of 39,200 values are NaN" in message
    assert "the first at index (7, 0, 3, 4)" in message
    assert "nan to nan" not in message


def test_32_4_a_zero_std_is_refused_by_the_loader(mnist_small):
    train, _ = mnist_small
    with pytest.raises(ValueError, match=r"std \[0.0\] \(channel 0\)"):
        lu.TensorLoader(train, 64, normalize=((0.13,), (0.0,)))


def test_32_4_nan_in_the_validation_data_is_warned_about(mnist_small):
    train, test = mnist_small
    lu.seed_everything(0)
    X = test.X[:100].float() / 255
    X[0, 0, 5, 5] = float("nan")  # a float batch from the user's own loader
    val = [(X, test.y[:100])]
    model = lu.FashionNet()
    with pytest.warns(UserWarning, match="validation gave nan for val_loss"):
        history = lu.fit(
            model, lu.TensorLoader(train, 100), val, epochs=2, device="cpu"
        )
    assert np.isfinite(history["train_loss"]).all()


# --- issue 32, case 5: two runners on one notebook -------------------------


def run_all_into(output: Path, notebooks: Path):
    """run_all on the one notebook in ``notebooks`` (a cell that prints),
    in the smoke profile, into ``output``: seconds, where a lab takes a
    minute."""
    (notebooks / "01_tiny.py").write_text(
        "# %%\nprint('a notebook of one cell')\n"
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lab_utils.tools.run_all",
            "--profile",
            "smoke",
            "--notebooks",
            str(notebooks),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_32_5_a_second_runner_on_the_same_notebook_is_refused(tmp_path):
    from lab_utils.files import _host

    folder = tmp_path / "smoke"
    folder.mkdir()
    lock = folder / ".01_tiny.runner"
    lock.write_text(f"{os.getpid()}@{_host()}")  # a runner that is alive
    done = run_all_into(tmp_path, tmp_path)
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert f"another runner (pid {os.getpid()} on {_host()})" in said
    assert not (folder / "01_tiny.ipynb").exists()
    assert lock.read_text() == f"{os.getpid()}@{_host()}"  # not ours


def test_32_5_a_killed_runners_lock_and_files_are_cleaned_up(tmp_path):
    from lab_utils.files import _host

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a runner that was killed: its pid is free
    folder = tmp_path / "smoke"
    folder.mkdir()
    dead = f"{gone.pid}@{_host()}"
    (folder / ".01_tiny.runner").write_text(dead)
    leftovers = [
        folder / f".01_tiny.{dead}.running.ipynb",
        folder / ".01_tiny.running.ipynb",  # the name every runner shared
    ]
    for f in leftovers:
        f.write_text("{}")
    done = run_all_into(tmp_path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["01_tiny.ipynb"]


# --- issue 32, case 6: smaller things ---------------------------------------


def test_32_6_the_banner_prints_folders_outside_as_absolute(
    tmp_path, monkeypatch
):
    """A folder given as an absolute path elsewhere was printed as a climb
    of ../../.. from the notebook's folder: now as given."""
    here = tmp_path / "course" / "notebooks"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    data = tmp_path / "elsewhere" / "datasets"
    run = lu.start_lab(
        "05_fashion_pca_tsne",
        "smoke",
        data_dir=data,
        results_dir="results",
        device="cpu",
    )
    line = next(x for x in run.banner().splitlines() if x.startswith("data:"))
    assert line == (
        f"data: {data} | results: "
        f"{Path('results') / '05_fashion_pca_tsne' / 'smoke'}"
    )
    # run_all makes the folders absolute for its kernels, and passes on
    # how they were given, for the banner
    monkeypatch.setenv("LAB_DATA_DIR", str(data.resolve()))
    monkeypatch.setenv("LAB_DATA_DIR_AS_GIVEN", "../elsewhere/datasets")
    run = lu.start_lab("05_fashion_pca_tsne", "smoke", device="cpu")
    assert "data: ../elsewhere/datasets |" in run.banner()


def test_32_6_papermill_runs_draw_no_progress_bars(tmp_path):
    """A notebook run by plain papermill has no one watching its bars:
    they only land in the saved notebook (and in --log-output's log) as
    lines of text. LAB_PROGRESS still decides where it is set."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import sys\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "from lab_utils.engine import progress_enabled\n"
            "print('progress', progress_enabled())"
        )
    ]
    source, output = tmp_path / "bars.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    env = {k: v for k, v in os.environ.items() if k != "LAB_PROGRESS"}
    for extra, expected in ((None, "False"), ("1", "True")):
        if extra:
            env["LAB_PROGRESS"] = extra
        done = subprocess.run(
            [sys.executable, "-m", "papermill", "-k", "python3"]
            + [str(source), str(output)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        printed = nbformat.read(output, 4).cells[0].outputs[0]["text"]
        assert printed.strip() == f"progress {expected}"
