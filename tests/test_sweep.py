"""The resumable sweep runner: a real kill mid-sweep loses nothing and
recomputes nothing finished; plus the statistics of the verdicts."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import lab_utils as lu

CHILD = textwrap.dedent("""
    import sys
    import lab_utils as lu
    train = lu.load_dataset("cifar10", n_samples=1200, seed=0,
                            download=False)
    test = lu.load_dataset("cifar10", "test", n_samples=200, seed=0,
                           download=False)
    train, val = lu.train_val_split(train, 0.2)
    configs = {f"lr{i}": {"preset": "small", "epochs": 1,
                          "lr": 1e-3 * (i + 1)} for i in range(6)}
    def train_fn(config, seed):
        return lu.train_classifier(config, seed, train, val, test, "cpu")
    lu.run_sweep(configs, [0], train_fn, sys.argv[1], progress=False)
""")


def finished(results_dir):
    return sorted(p.parent.name for p in results_dir.glob("*/run.json"))


def test_killed_sweep_resumes_without_recomputing(data_dir, tmp_path):
    results_dir = tmp_path / "sweep"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "LAB_DATA_DIR": str(data_dir)}
    child = subprocess.Popen(
        [sys.executable, str(script), str(results_dir)], env=env
    )
    deadline = time.time() + 120
    while len(finished(results_dir)) < 2 and time.time() < deadline:
        assert child.poll() is None, "the sweep ended before it was killed"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = finished(results_dir)
    assert 2 <= len(done) < 6, done
    saved = {d: (results_dir / d / "run.json").read_bytes() for d in done}

    train = lu.load_dataset(
        "cifar10", n_samples=1200, seed=0, data_dir=data_dir, download=False
    )
    test = lu.load_dataset(
        "cifar10",
        "test",
        n_samples=200,
        seed=0,
        data_dir=data_dir,
        download=False,
    )
    train, val = lu.train_val_split(train, 0.2)
    configs = {
        f"lr{i}": {"preset": "small", "epochs": 1, "lr": 1e-3 * (i + 1)}
        for i in range(6)
    }
    calls = []

    def train_fn(config, seed):
        calls.append(f"lr{round(config['lr'] / 1e-3) - 1}__seed{seed}")
        return lu.train_classifier(config, seed, train, val, test, "cpu")

    results = lu.run_sweep(configs, [0], train_fn, results_dir, progress=False)
    assert sorted(calls) == sorted(
        set(f"lr{i}__seed0" for i in range(6)) - set(done)
    )
    assert len(results) == 6 and results["test_acc"].notna().all()
    assert results.set_index("name")["reused"].sum() == len(done)
    for d, blob in saved.items():
        assert (results_dir / d / "run.json").read_bytes() == blob
    # A third run trains nothing at all.
    calls.clear()
    again = lu.run_sweep(configs, [0], train_fn, results_dir, progress=False)
    assert calls == [] and again["reused"].all()
    pd.testing.assert_series_equal(again["test_acc"], results["test_acc"])
    histories = lu.load_histories(results_dir)
    assert sorted(histories["name"].unique()) == sorted(configs)


def test_changed_config_under_an_old_name_is_refused(tmp_path):
    def train_fn(config, seed):
        return pd.DataFrame({"epoch": [1]}), {"val_acc": config["lr"]}

    lu.run_sweep({"a": {"lr": 0.1}}, [0], train_fn, tmp_path, progress=False)
    before = (tmp_path / "a__seed0" / "run.json").read_text()
    with pytest.raises(ValueError, match="different config.*another name"):
        lu.run_sweep(
            {"a": {"lr": 0.2}}, [0], train_fn, tmp_path, progress=False
        )
    assert (tmp_path / "a__seed0" / "run.json").read_text() == before


def results_frame(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"name": n, "seed": s, "val_acc": v, "test_acc": v, "seconds": 1.0}
            for n, vs in values.items()
            for s, v in enumerate(vs)
        ]
    )


def test_verdicts_separate_real_changes_from_noise():
    results = results_frame(
        {
            "baseline": [0.50, 0.51, 0.49],
            "clearly better": [0.60, 0.61, 0.59],
            "clearly worse": [0.40, 0.41, 0.39],
            "noisy": [0.45, 0.58, 0.52],
        }
    )
    verdicts = lu.compare_to_baseline(results)
    assert verdicts["verdict"].to_dict() == {
        "baseline": "-",
        "clearly better": "better",
        "clearly worse": "worse",
        "noisy": "within noise",
    }
    assert verdicts.loc["clearly better", "val_acc change"] == pytest.approx(
        0.10
    )
    table = lu.format_mean_std(lu.aggregate(results), ["val_acc"])
    assert table.loc["baseline", "val_acc"] == "50.0 ± 1.0"
    assert list(table.index) == [
        "baseline",
        "clearly better",
        "clearly worse",
        "noisy",
    ]


def test_ladder_builds_each_step_on_the_last():
    steps = lu.ladder(
        {"preset": "small", "lr": 1e-3, "epochs": 10},
        {
            "+ weight decay": {"weight_decay": 1e-5},
            "+ dropout, longer": {"dropout": 0.5, "epochs": 25},
            "+ batch norm, lower lr": {"batch_norm": True, "lr": 7e-4},
        },
    )
    assert list(steps) == [
        "baseline",
        "+ weight decay",
        "+ dropout, longer",
        "+ batch norm, lower lr",
    ]
    assert steps["baseline"] == {"preset": "small", "lr": 1e-3, "epochs": 10}
    assert steps["+ dropout, longer"] == {
        "preset": "small",
        "lr": 1e-3,
        "epochs": 25,
        "weight_decay": 1e-5,
        "dropout": 0.5,
    }
    # Later steps keep every earlier change; a later value wins.
    assert steps["+ batch norm, lower lr"]["weight_decay"] == 1e-5
    assert steps["+ batch norm, lower lr"]["lr"] == 7e-4
    with pytest.raises(ValueError, match="baseline"):
        lu.ladder({}, {"baseline": {}})
    with pytest.raises(TypeError, match="dict"):
        lu.ladder({}, {"+ dropout": 0.5})


def test_steps_are_judged_against_the_step_before():
    results = results_frame(
        {
            "baseline": [0.50, 0.51, 0.49],
            "+ a": [0.60, 0.61, 0.59],  # clearly above the baseline
            "+ b": [0.61, 0.58, 0.62],  # not clearly above "+ a"
            "+ c": [0.50, 0.51, 0.49],  # clearly below "+ b"
        }
    )
    steps = lu.compare_steps(results, "val_acc")
    assert steps["verdict"].to_dict() == {
        "+ a": "better",
        "+ b": "within noise",
        "+ c": "worse",
    }
    assert steps["compared with"].to_dict() == {
        "+ a": "baseline",
        "+ b": "+ a",
        "+ c": "+ b",
    }
    # Against the baseline, "+ b" would have looked like a real gain.
    assert lu.compare_to_baseline(results).loc["+ b", "verdict"] == "better"
    with pytest.raises(ValueError, match="two configs"):
        lu.compare_steps(results[results["name"] == "baseline"], "val_acc")


def test_combining_improvements_takes_the_better_option():
    configs = {
        "baseline": {"lr": 1, "augment": "none"},
        "+ bn": {"lr": 1, "augment": "none", "batch_norm": True},
        "+ aug1": {"lr": 1, "augment": "crop+flip"},
        "+ aug2": {"lr": 1, "augment": "+color jitter"},
        "+ worse": {"lr": 1, "augment": "none", "dropout": 0.5},
    }
    results = results_frame(
        {
            "baseline": [0.50, 0.51, 0.49],
            "+ bn": [0.60, 0.61, 0.59],
            "+ aug1": [0.70, 0.71, 0.69],
            "+ aug2": [0.65, 0.66, 0.64],
            "+ worse": [0.30, 0.31, 0.29],
        }
    )
    chosen = lu.combine_improvements(
        configs, lu.compare_to_baseline(results), results
    )
    assert chosen == {"lr": 1, "augment": "crop+flip", "batch_norm": True}


def test_saved_classifier_reproduces_its_test_accuracy(data_dir, tmp_path):
    train = lu.load_dataset(
        "cifar10", n_samples=600, seed=1, data_dir=data_dir, download=False
    )
    test = lu.load_dataset(
        "cifar10",
        "test",
        n_samples=300,
        seed=1,
        data_dir=data_dir,
        download=False,
    )
    train, val = lu.train_val_split(train, 0.2)
    config = {
        "preset": "small",
        "batch_norm": True,
        "epochs": 2,
        "augment": "crop+flip",
        "patience": 1,
    }
    metrics = lu.train_classifier(
        config, 0, train, val, test, "cpu", save_to=tmp_path / "best.pt"
    ).metrics
    saved = lu.load_trained(tmp_path / "best.pt", train, "cpu")
    again = lu.evaluate(saved.model, lu.TensorLoader(test, 512))
    assert again["acc"] == metrics["test_acc"]
    assert saved.metrics == metrics
    assert saved.config == lu.recipes.with_defaults("classifier", config)
    ckpt = lu.load_checkpoint(tmp_path / "best.pt")
    assert ckpt["optimizer"]["state"] and ckpt["recipe"] == "classifier"
    assert json.dumps(ckpt["metrics"])  # plain numbers, readable anywhere


def test_early_stopping_replayed_on_recorded_curves():
    import pandas as pd

    histories = pd.DataFrame(
        {
            "name": ["a"] * 5 + ["b"] * 3,
            "seed": [0] * 8,
            "epoch": [1, 2, 3, 4, 5, 1, 2, 3],
            "val_acc": [0.5, 0.6, 0.55, 0.58, 0.7, 0.4, 0.5, 0.6],
        }
    )
    table = lu.early_stopping_on_curves(histories, patience=2)
    a, b = table.set_index("name").loc["a"], table.set_index("name").loc["b"]
    assert (a["stopped_at"], a["best_epoch"], a["kept"], a["last"]) == (
        4, 2, 0.6, 0.7,
    )  # fmt: skip
    assert a["epochs_saved"] == 1 and b["epochs_saved"] == 0
    assert b["stopped_at"] != b["stopped_at"] and b["best_epoch"] == 3
    summary = lu.early_stopping_summary(table)
    assert "stopped 1 of 2 runs early, saving 1 of 8 epochs" in summary
    assert "-5.00 points on average" in summary
    with pytest.raises(ValueError, match="best_epoch=0 after epoch 1"):
        lu.early_stopping_on_curves(
            histories, 2, rule=lambda values, p, d: (0, False)
        )
