"""The cost model: counted FLOPs, the full profile's budget, the plan."""

import os
import subprocess
import sys
import time

import pytest
import torch

import lab_utils as lu
from lab_utils import costs, dry_run
from lab_utils.tools import run_all

LABS = list(lu.PROFILES)
T4_BUDGET_MINUTES = 30


@pytest.mark.parametrize("lab", LABS)
def test_full_profile_fits_a_colab_t4_session(lab):
    plan = lu.plan_lab(lab, "full")
    minutes = plan.seconds("t4") / 60
    assert minutes <= T4_BUDGET_MINUTES, (
        f"{lab}: full is predicted at {minutes:.1f} T4-minutes, over the "
        f"{T4_BUDGET_MINUTES}-minute budget; shorten its PROFILES row"
    )


def test_reproduce_keeps_the_reports_lengths_and_costs_more(monkeypatch):
    for lab in LABS:
        full = lu.plan_lab(lab, "full").seconds("t4")
        assert lu.plan_lab(lab, "reproduce").seconds("t4") >= full
    # Lab 2's reproduction is the reports' 30-epoch ablations.
    assert (
        lu.profile_settings("02_cifar_cnn_ablations", "reproduce")["epochs"]
        == 30
    )
    # It is never chosen for you.
    monkeypatch.delenv("LAB_PROFILE", raising=False)
    assert lu.resolve_profile("auto", device="cuda") == "full"


def test_flops_are_counted_on_the_real_models():
    wide = costs._frozen({"preset": "wide", "batch_size": 64})
    forward, train = costs.count_flops("classifier", wide, "cifar10")
    # The three convolutions and three linear layers of the wide preset,
    # by hand: 2 x multiply-adds per output.
    convs = [(3, 256, 32), (256, 128, 16), (128, 64, 8)]
    by_hand = sum(2 * i * o * 9 * s * s for i, o, s in convs)
    by_hand += 2 * (1024 * 512 + 512 * 128 + 128 * 10)
    assert forward == pytest.approx(by_hand, rel=1e-6)
    # Backward is about twice the forward (the first conv's input
    # gradient is not needed).
    assert 2.5 * forward < train <= 3 * forward
    small = costs._frozen({"preset": "small", "batch_size": 64})
    assert costs.count_flops("classifier", small, "cifar10")[0] < forward / 20
    # The model-level count the labs print agrees with it.
    model = lu.ThreeConvNet(lu.PRESETS["wide"])
    assert lu.forward_flops(model, (3, 32, 32)) == pytest.approx(by_hand)
    assert model.training  # left as it was found


def test_plan_counts_every_run_of_the_profile():
    s = lu.profile_settings("02_cifar_cnn_ablations", "full")
    plan = lu.plan_lab("02_cifar_cnn_ablations", "full")
    # Nine ablations and four design alternatives (channels reversed and
    # equal, two and four FC layers) per seed, the grid, the final run.
    # Section 2's plain loop and fit, on the loop's images.
    n_runs = (9 + 4) * len(s["seeds"])
    n_runs += len(s["grid_lrs"]) * len(s["grid_batch_sizes"]) + 1
    assert sum(t.runs for t in plan.trainings) == n_runs + 2
    assert plan.trainings[0].images == s["loop_images"] == 10_000
    assert plan.trainings[0].epochs == s["loop_epochs"]
    assert plan.trainings[1].images == 45_000  # all of CIFAR-10 but val
    # Lab 1: six ladder steps over three seeds, the last over ten.
    lab1 = lu.plan_lab("01_data_exploration", "full")
    assert sum(t.runs for t in lab1.trainings) == 6 * 3 + 7
    assert lab1.trainings[0].images == 40_000  # the report's 80/20 split
    assert [t.epochs for t in lab1.trainings] == [10, 25, 25, 25]
    lab5 = lu.plan_lab("05_fashion_pca_tsne", "full")
    assert lab5.tsne == [(10_000, 1000)] * 4
    assert plan.tsne == [(2000, 1000)] * 3  # before, during, after
    # A longer final run costs more, by its extra epochs.
    longer = lu.plan_lab("02_cifar_cnn_ablations", "full", final_epochs=100)
    assert longer.train_images - plan.train_images == 80 * 45_000


def test_cpu_prediction_comes_from_a_measured_probe():
    small = costs._frozen({"preset": "small", "batch_size": 64})
    step, per_image = costs.cpu_probe("classifier", small, "cifar10")
    assert 0 < per_image < step < 5
    training = costs.Training(
        "t", "classifier", small, "cifar10", images=640, epochs=2
    )
    assert costs.training_seconds(training, "cpu") == pytest.approx(20 * step)


def test_plan_command_prints_every_notebook(capsys):
    assert run_all.main(["--plan", "--profile", "full", "--no-probe"]) == 0
    printed = capsys.readouterr().out
    for lab in LABS:
        assert lab in printed
    assert "min, T4" in printed and "t-SNE n=10,000" in printed
    # what each device's figures rest on: measured, or derived from what
    assert "measured: benchmarks/results/gpu_probe_h200.json" in printed
    assert "x 65/989 (T4 fp16 tensor-core peak" in printed


def test_banner_prints_the_prediction_for_its_profile(tmp_path):
    run = lu.start_lab(
        "05_fashion_pca_tsne", "cpu", data_dir=tmp_path, device="cpu"
    )
    banner = run.banner()
    assert "predicted:" in banner and "min on this CPU" in banner
    assert "on a T4" in banner
    # smoke takes seconds: no probe of this CPU, the GPUs' figures only.
    smoke = lu.start_lab(
        "05_fashion_pca_tsne", "smoke", data_dir=tmp_path, device="cpu"
    )
    assert "on this CPU" not in smoke.banner()
    assert "on a T4" in smoke.banner()


def fresh_probes(monkeypatch):
    """Forget earlier probes, so that the next banner times this CPU."""
    costs.cpu_probe.cache_clear()
    costs.cpu_tsne_probe.cache_clear()
    monkeypatch.setattr(costs, "_PROBE_WAITING", [])


def test_banner_says_when_other_work_slowed_its_probe(monkeypatch, tmp_path):
    run = lu.start_lab(
        "05_fashion_pca_tsne", "cpu", data_dir=tmp_path, device="cpu"
    )
    # Real contention: a busy process on every core while it probes.
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(0.5)
        fresh_probes(monkeypatch)
        slowed = run.banner()
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert "waited for a core" in slowed, slowed
    fresh_probes(monkeypatch)
    assert "busy" not in run.banner()
    # Where the system does not say how long threads waited, the load
    # average (which lags) does; and where there is none, nothing.
    monkeypatch.setattr(costs, "_scheduled_seconds", lambda: None)
    fresh_probes(monkeypatch)
    cores = os.cpu_count()
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 1.5, 0.0, 0.0))
    assert f"load {cores + 1.5:.1f} on {cores} cores" in run.banner()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert "busy" not in run.banner()
    monkeypatch.delattr(os, "getloadavg")
    assert "busy" not in run.banner()


def test_dry_run_trains_two_batches_of_one_epoch(monkeypatch, mnist_small):
    train, test = mnist_small
    config = {"model": "fashion_net", "batch_size": 32, "epochs": 5}
    seen = []

    class Count(lu.Callback):
        def on_epoch_end(self, state):
            seen.append(state["model"])

    monkeypatch.setenv("LAB_DRY_RUN", "1")
    trained = lu.train_classifier(config, 0, train, test, callbacks=[Count()])
    assert len(trained.history) == 1 and len(seen) == 1
    # Two batches of 32 trained; the first was its "first batch" loss.
    assert trained.history["train_loss"].notna().all()
    X = torch.randn(300, 5, dtype=torch.float64)
    assert lu.TSNE(n_iter=1000, log_every=1).fit(X).n_iter_ == (
        dry_run.TSNE_ITERATIONS
    )
    monkeypatch.setenv("LAB_DRY_RUN", "0")
    assert not dry_run.active()


def test_dry_run_results_live_apart_and_start_empty(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_DRY_RUN", "1")
    run = lu.start_lab(
        "02_cifar_cnn_ablations", "full", results_dir=tmp_path, device="cpu"
    )
    assert run.results_dir.name == "full-dry-run"
    (run.results_dir / "ablations").mkdir(parents=True)
    again = lu.start_lab(
        "02_cifar_cnn_ablations", "full", results_dir=tmp_path, device="cpu"
    )
    assert not (again.results_dir / "ablations").exists()
    assert "DRY RUN" in again.banner()
    assert not (tmp_path / "02_cifar_cnn_ablations" / "full").exists()


def test_dry_run_refuses_to_replace_committed_notebooks(capsys):
    assert run_all.main(["--dry-run", "--inplace", "--only", "1"]) == 2
    assert "never replace" in capsys.readouterr().err
    assert run_all.main(["--no-probe", "--only", "1"]) == 2
    assert "--no-probe goes with --plan" in capsys.readouterr().err


def test_the_banner_leaves_the_random_state_alone(tmp_path):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    run = lu.start_lab("04_arcface", "smoke", data_dir=tmp_path, device="cpu")
    torch.manual_seed(0)
    run.banner()  # plans: builds the lab's models
    assert torch.equal(torch.rand(3), expected)


def test_gpu_step_costs_are_the_h200_probes():
    """STEP_SECONDS and H200_TRAIN_FLOPS, derived again from the recorded
    probe: the slope of fit's step time against a step's FLOPs (the wide
    net at three batch sizes), and each kind's largest remainder."""
    import json
    from pathlib import Path

    import numpy as np

    from lab_utils import costs

    results = Path(__file__).resolve().parents[1] / "benchmarks"
    records = json.loads(
        (results / "results" / "gpu_probe_h200.json").read_text()
    )
    fit = {
        r["model"]: r
        for r in records
        if r.get("variant") == "fit" and r.get("img_per_s")
    }

    def step_and_flops(name):
        r = fit[name]
        return (
            r["batch_size"] / r["img_per_s"],
            r["batch_size"] * r["flops_train_per_img"],
        )

    steps, flops = zip(*(step_and_flops(f"wide_b{b}") for b in (64, 128, 256)))
    slope = np.polyfit(flops, steps, 1)[0]
    assert 1 / slope == pytest.approx(costs.H200_TRAIN_FLOPS, rel=0.02)
    kinds = {
        "three_conv": [m for m in fit if m.startswith(("wide", "small"))],
        "fashion_net": ["fashionnet_b128"],
        "margin": ["five_conv_3d", "two_conv_128d"],
        "vae": ["vae_b32"],
    }
    for kind, models in kinds.items():
        fixed = max(
            step - f / costs.H200_TRAIN_FLOPS
            for step, f in map(step_and_flops, models)
        )
        assert costs.STEP_SECONDS[kind] == pytest.approx(fixed, rel=0.03), kind
