"""The hand-written update rules against torch.optim on a real model, the
schedules, the 2-D trajectories, and divergence in a sweep."""

import pandas as pd
import pytest
import torch
from tiny_models import SmallCNN

import lab_utils as lu


@pytest.mark.parametrize(
    "rule, lr, weight_decay",
    [
        ("sgd", 0.05, 0.0),
        ("momentum", 0.01, 5e-4),
        ("nesterov", 0.01, 0.0),
        ("rmsprop", 1e-3, 0.0),
        ("adam", 1e-3, 5e-4),
    ],
)
def test_hand_written_rule_matches_torch_optim(
    mnist_small, rule, lr, weight_decay
):
    train, _ = mnist_small
    lu.seed_everything(0)
    difference, moved = lu.compare_to_torch(
        rule,
        SmallCNN(width=8),
        lu.TensorLoader(train, 64, shuffle=True, seed=1),
        lr,
        steps=60,
        weight_decay=weight_decay,
    )
    assert difference < 1e-10
    assert moved > 1e-3  # not vacuous: the weights did move


def test_adam_first_step_moves_each_weight_by_about_lr():
    p = torch.tensor([1.0, -2.0, 3.0])
    g = torch.tensor([0.5, -1e-3, 40.0])
    m, v = torch.zeros(3), torch.zeros(3)
    lu.adam_step(p, g, m, v, 1, lr=0.1)
    # m_hat = g and v_hat = g^2 after one step: the move is lr * sign(g).
    assert torch.allclose(p, torch.tensor([0.9, -1.9, 2.9]), atol=1e-5)


def test_momentum_remembers_past_gradients():
    p, v = torch.tensor([0.0]), torch.zeros(1)
    g = torch.tensor([1.0])
    lu.momentum_step(p, g, v, lr=1.0, momentum=0.9, first=True)
    lu.momentum_step(p, torch.tensor([0.0]), v, lr=1.0, momentum=0.9)
    # The second gradient is zero, yet the weight keeps moving by 0.9.
    assert torch.allclose(p, torch.tensor([-1.9]))


def test_trajectories_on_rosenbrock():
    adam = lu.trajectory(lu.rosenbrock, [-1.5, 2.0], "adam", 0.05, 2000)
    assert abs(adam[-1][0] - 1) < 1e-3 and abs(adam[-1][1] - 1) < 1e-3
    sgd = lu.trajectory(lu.rosenbrock, [-1.5, 2.0], "sgd", 0.01, 200)
    assert len(sgd) < 201  # far too large a step: it diverges and stops
    assert torch.isfinite(torch.tensor(sgd)).all()


def test_schedules_shape_the_learning_rate():
    def rates(name, epochs=10):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = lu.make_scheduler(name, opt, epochs)
        out = []
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            if sched:
                opt.step()
                sched.step()
        return out

    assert rates("constant") == [0.1] * 10
    cosine = rates("cosine")
    assert cosine[0] == pytest.approx(0.1) and cosine[-1] < 0.01
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))
    cycle = rates("one-cycle")
    peak = max(range(10), key=cycle.__getitem__)
    assert 0 < peak < 9 and cycle[peak] == pytest.approx(0.1, rel=0.05)
    assert cycle[0] < 0.01 and cycle[-1] < 0.02
    with pytest.raises(ValueError, match="one-cycle"):
        lu.make_scheduler("linear", None, 3)
    with pytest.raises(ValueError, match="adamw"):
        lu.make_optimizer("adagrad", [], 0.1)


def test_a_diverging_run_is_recorded_and_the_sweep_goes_on(data_dir, tmp_path):
    train = lu.load_dataset(
        "cifar10", n_samples=500, seed=0, data_dir=data_dir, download=False
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
        "huge": {"optimizer": "sgd", "lr": 1e4, "epochs": 1},
        "fine": {"optimizer": "sgd", "lr": 0.01, "epochs": 1},
    }
    results = lu.run_sweep(
        configs,
        [0],
        lambda c, s: lu.train_classifier(c, s, train, val, test, "cpu"),
        tmp_path,
        progress=False,
    ).set_index("name")
    assert results.loc["huge", "diverged"]
    assert not results.loc["fine", "diverged"]
    assert results.loc["huge", "val_acc"] == pytest.approx(0.1)


def test_time_to_target_reads_the_history():
    histories = pd.DataFrame(
        {
            "name": ["a"] * 3 + ["b"] * 3,
            "seed": [0] * 6,
            "epoch": [1, 2, 3] * 2,
            "seconds": [2.0, 3.0, 4.0] * 2,
            "val_acc": [0.2, 0.5, 0.6, 0.1, 0.2, 0.3],
        }
    )
    table = lu.time_to_target(histories, 0.5).set_index("name")
    assert table.loc["a", "epochs_to_target"] == 2
    assert table.loc["a", "seconds_to_target"] == 5.0
    assert pd.isna(table.loc["b", "epochs_to_target"])
