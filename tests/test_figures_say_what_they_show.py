"""Issue 31's figures: each shows what its text reads off it, on real
data (the kept epoch, accuracy in %, a linear density axis from 0, the
distances on a log axis with their values, the same metric against
epochs and seconds, the class rings said in the figure)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import lab_utils as lu  # noqa: E402
from lab_utils import plots  # noqa: E402
from lab_utils.tools.figcheck import check_figure  # noqa: E402


@pytest.fixture(scope="module")
def stopped_early(mnist_small):
    """A real FashionNet run that early stopping ends before its last
    epoch and whose best epoch is not its last (lr too high to keep
    improving; patience 2)."""
    train, test = mnist_small
    config = {
        "model": "fashion_net",
        "lr": 0.05,
        "batch_size": 64,
        "epochs": 8,
        "patience": 2,
        "min_delta": 0.0,
    }
    for seed in range(6):
        trained = lu.train_classifier(config, seed, train, test, test, "cpu")
        if trained.kept_epoch != trained.history["epoch"].iloc[-1]:
            return trained, test
    pytest.fail("no seed kept an epoch before the last: change the config")


def test_kept_epoch_is_the_epoch_whose_weights_the_model_holds(stopped_early):
    trained, test = stopped_early
    history = trained.history
    kept = trained.kept_epoch
    # The rule's best epoch: the first with the highest validation
    # accuracy (min_delta 0: a tie is no improvement).
    assert kept == int(history.loc[history["val_acc"].idxmax(), "epoch"])
    assert kept < history["epoch"].iloc[-1]
    again = lu.evaluate(trained.model, lu.TensorLoader(test, 1000))
    assert again["acc"] == pytest.approx(
        history.loc[history["epoch"] == kept, "val_acc"].item()
    )
    # Without early stopping the model holds the last epoch's weights.
    plain = lu.Trained(
        trained.model, history, {}, {**trained.config, "patience": 0}
    )
    assert plain.kept_epoch == history["epoch"].iloc[-1]


def test_a_vae_keeps_the_epoch_of_lowest_validation_loss():
    history = pd.DataFrame(
        {"epoch": [1, 2, 3, 4], "val_loss": [5.0, 3.0, 3.5, 4.0]}
    )
    trained = lu.Trained(None, history, {}, {"patience": 2}, "vae")
    assert trained.kept_epoch == 2
    wide = lu.Trained(
        None, history, {}, {"patience": 2, "min_delta": 3.0}, "vae"
    )
    assert wide.kept_epoch == 1  # no later epoch improved by 3 or more


def test_history_marks_the_kept_epoch_and_shows_accuracy_in_percent(
    stopped_early,
):
    trained, _ = stopped_early
    fig = plots.plot_history(
        trained.history, title="run", kept_epoch=trained.kept_epoch
    )
    loss_ax, acc_ax = fig.axes
    for ax in (loss_ax, acc_ax):
        marks = [ln for ln in ax.lines if "weights kept" in ln.get_label()]
        assert len(marks) == 1
        assert marks[0].get_xdata()[0] == trained.kept_epoch
    assert acc_ax.get_ylabel() == "accuracy (%)"
    val = next(ln for ln in acc_ax.lines if ln.get_label() == "validation")
    assert np.allclose(val.get_ydata(), 100 * trained.history["val_acc"])
    # The training line is drawn over the hollow validation markers.
    train = next(ln for ln in acc_ax.lines if ln.get_label() == "training")
    assert train.get_zorder() > val.get_zorder()
    assert val.get_markerfacecolor() == "none"
    assert check_figure(fig) == []
    plt.close(fig)
    # The last epoch kept: nothing to mark.
    last = int(trained.history["epoch"].iloc[-1])
    fig = plots.plot_history(trained.history, kept_epoch=last)
    assert not any("kept" in ln.get_label() for ln in fig.axes[0].lines)
    plt.close(fig)


def test_cifar_pixel_densities_are_drawn_from_zero(data_dir):
    data = lu.load_dataset(
        "cifar10", "train", data_dir=data_dir, n_samples=500, seed=0
    )
    fig = plots.plot_pixel_distribution(data, 20_000)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert ax.get_ylim()[0] == 0
    plt.close(fig)
    digits = lu.load_dataset(
        "mnist", "train", data_dir=data_dir, n_samples=500, seed=0
    )
    fig = plots.plot_pixel_distribution(digits, 20_000)
    assert fig.axes[0].get_yscale() == "log"  # the background spike
    plt.close(fig)


def test_rosenbrock_distances_on_a_log_axis_with_their_values():
    paths = {
        f"{name} (lr {lr:g})": lu.trajectory(
            lu.rosenbrock, [-1.5, 2.0], name, lr, 300
        )
        for name, lr in (
            ("sgd", 1e-3),
            ("momentum", 1e-3),
            ("nesterov", 1e-3),
            ("rmsprop", 1e-2),
            ("adam", 0.1),
        )
    }
    fig = plots.plot_trajectories(lu.rosenbrock, paths, title="valley")
    # Five paths on a 2x3 grid: the free cell holds the bars.
    bars = fig.axes[-1]
    assert bars.get_title() == "where each path ended"
    assert bars.get_xscale() == "log"
    shown = sorted(float(t.get_text()) for t in bars.texts)
    ends = sorted(
        float(np.hypot(*(np.asarray(p[-1]) - 1))) for p in paths.values()
    )
    assert shown == pytest.approx(ends, rel=0.06)  # two significant digits
    plt.close(fig)


def _histories(names, epochs=4, seeds=(0, 1)):
    """Real-shaped histories: accuracies rising at different speeds."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "name": name,
            "seed": seed,
            "epoch": epoch,
            "val_acc": min(0.9, 0.2 + 0.1 * epoch * (1 + i / 4))
            + 0.01 * rng.standard_normal(),
            "seconds": 2.0 + i + 0.1 * seed,
        }
        for i, name in enumerate(names)
        for seed in seeds
        for epoch in range(1, epochs + 1)
    )


def test_each_change_gets_a_panel_beside_the_baseline():
    names = ["baseline", "+ weight decay", "+ crop/flip + rotate/affine"]
    histories = _histories(names)
    fig = plots.plot_changes_against(histories, "baseline", "val_acc")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 2
    base = histories[histories["name"] == "baseline"]
    mean = base.groupby("epoch")["val_acc"].mean() * 100
    for ax, name in zip(shown, names[1:]):
        assert ax.get_title().replace("\n", " ") == name
        baseline_line, change_line = ax.lines
        assert np.allclose(baseline_line.get_ydata(), mean)
        assert change_line.get_color() != baseline_line.get_color()
    assert check_figure(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="No runs named 'base'"):
        plots.plot_changes_against(histories, "base")


def test_protocols_plot_one_metric_against_epochs_and_seconds():
    own = ["sgd (own lr 0.1)", "adam (own lr 0.003)"]
    shared = ["sgd (shared lr 0.0001)", "adam (shared lr 0.0001)"]
    histories = _histories(own + shared)
    fig = plots.plot_protocols(
        histories, {"own": own, "shared": shared}, title="fair"
    )
    (top_own, top_shared), (bottom_own, bottom_shared) = np.reshape(
        fig.axes, (2, 2)
    )
    for top, bottom in ((top_own, bottom_own), (top_shared, bottom_shared)):
        # The same curves, once against epochs and once against time.
        for a, b in zip(top.lines, bottom.lines):
            assert np.allclose(a.get_ydata(), b.get_ydata())
            assert a.get_color() == b.get_color()
        assert top.get_xlabel() == "epoch"
        assert bottom.get_xlabel().startswith("wall time (s")
    # One optimizer, one colour, in both protocols; one legend.
    assert top_own.lines[0].get_color() == top_shared.lines[0].get_color()
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].texts] == ["sgd", "adam"]
    assert check_figure(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="No histories for 'sgd'"):
        plots.plot_protocols(histories, {"own": ["sgd"]})


def test_the_circle_says_each_class_has_its_own_ring(mnist_small):
    train, _ = mnist_small
    E = torch.randn(len(train), 2, generator=torch.Generator().manual_seed(0))
    fig = plots.plot_circle_embeddings(
        {"head": (E, train.y, None)}, train.classes, title="circle"
    )
    ax = fig.axes[0]
    radii = [np.round(np.hypot(*c.get_offsets().T), 6) for c in ax.collections]
    assert all(len(set(r)) == 1 for r in radii)  # one ring per class
    assert len({r[0] for r in radii}) == len(train.classes)
    assert "own ring" in fig._supxlabel.get_text()
    plt.close(fig)
