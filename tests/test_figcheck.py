"""The figure check that the notebook runs go through: it finds real
collisions and empty axes, and passes clean figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import lab_utils as lu  # noqa: E402
from lab_utils import plots  # noqa: E402
from lab_utils.tools.figcheck import check_figure  # noqa: E402


def test_a_clean_figure_passes():
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([0, 1], [0, 1])
    ax.set(title="a line", xlabel="x", ylabel="y")
    fig.suptitle("one figure")
    fig.tight_layout()
    assert check_figure(fig) == []
    plt.close(fig)


def test_overlapping_titles_and_empty_axes_are_found():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].plot([0, 1], [0, 1])
    axes[0].set_title("a title long enough to run into its neighbour's")
    axes[1].set_title("the neighbour")
    problems = check_figure(fig)
    assert any("axes 1 title overlaps axes 2 title" in p for p in problems)
    assert "axes 2 is empty (nothing drawn in it)" in problems
    plt.close(fig)


def test_suptitle_on_a_title_is_found():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("title")
    fig.suptitle("suptitle", y=0.9)  # pushed down onto the title
    assert "suptitle overlaps axes 1 title" in check_figure(fig)
    plt.close(fig)


def test_crowded_minor_tick_labels_are_found():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.barh(["a", "b"], [0.2, 2.0])
    ax.set_xscale("log")  # labels its minor ticks over so short a span
    problems = check_figure(fig)
    assert any("x tick labels" in p and "collide" in p for p in problems)
    plt.close(fig)


def test_crowded_tick_labels_collide_straight_or_slanted(data_dir):
    names = [f"class name {i}" for i in range(12)]
    for rotation in (0, 30):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar(names, range(12))
        plt.setp(ax.get_xticklabels(), rotation=rotation, ha="right")
        problems = check_figure(fig)
        assert any("x tick labels" in p and "collide" in p for p in problems)
        plt.close(fig)
    # The labs' class-count bars are slanted enough for CIFAR-10's names.
    cifar = lu.load_dataset("cifar10", "test", data_dir=data_dir)
    fig = plots.plot_class_counts(cifar)
    assert check_figure(fig) == []
    plt.close(fig)


def test_overfitting_figure_marks_the_best_validation_epoch():
    import pandas as pd
    import pytest

    # Two seeds whose validation loss is lowest at epoch 3 on average.
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        for epoch, (train, val) in enumerate(
            [(2.0, 1.9), (1.5, 1.6), (1.0, 1.4), (0.6, 1.5), (0.3, 1.7)], 1
        ):
            rows.append(
                {
                    "name": "baseline",
                    "seed": seed,
                    "epoch": epoch,
                    "train_loss": train + shift,
                    "val_loss": val + shift,
                }
            )
    histories = pd.DataFrame(rows)
    fig = plots.plot_overfitting(histories, ["baseline"], title="losses")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch (best validation: 3)"
    assert [line.get_xdata()[0] for line in ax.lines][-1] == 3
    assert ax.get_title() == "baseline (2 seeds)"
    # Each band in its curve's colour (the validation band once took the
    # training line's).
    lines, bands = ax.lines[:2], ax.collections
    for line, band in zip(lines, bands):
        assert matplotlib.colors.same_color(
            band.get_facecolor()[0][:3], line.get_color()
        )
    assert check_figure(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="'last step'"):
        plots.plot_overfitting(histories, ["baseline", "last step"])


# Lab 3's smoke histories as recorded (2 epochs, one seed): name, then
# per epoch validation accuracy, training loss and seconds.
LAB3_SMOKE = [
    ("adam (own lr 0.001)", (0.165, 2.3140, 0.185), (0.200, 2.2548, 0.188)),
    (
        "adam (shared lr 0.0001)",
        (0.105, 2.3059, 0.197),
        (0.115, 2.2921, 0.200),
    ),
    ("adamw (own lr 0.001)", (0.165, 2.3140, 0.181), (0.205, 2.2548, 0.187)),
    (
        "adamw (shared lr 0.0001)",
        (0.105, 2.3059, 0.188),
        (0.115, 2.2921, 0.191),
    ),
    ("momentum (own lr 0.03)", (0.120, 2.3064, 0.176), (0.125, 2.2957, 0.171)),
    (
        "momentum (shared lr 0.0001)",
        (0.105, 2.3055, 0.174),
        (0.105, 2.3055, 0.180),
    ),
    ("nesterov (own lr 0.03)", (0.125, 2.3067, 0.177), (0.110, 2.2954, 0.174)),
    (
        "nesterov (shared lr 0.0001)",
        (0.105, 2.3055, 0.176),
        (0.105, 2.3055, 0.162),
    ),
    (
        "rmsprop (own lr 0.0003)",
        (0.140, 2.3243, 0.169),
        (0.200, 2.2511, 0.171),
    ),
    (
        "rmsprop (shared lr 0.0001)",
        (0.135, 2.3092, 0.179),
        (0.150, 2.2619, 0.202),
    ),
    ("sgd (own lr 0.1)", (0.145, 2.3066, 0.183), (0.120, 2.2999, 0.172)),
    ("sgd (shared lr 0.0001)", (0.105, 2.3055, 0.165), (0.105, 2.3055, 0.171)),
]


def test_learning_curves_against_a_short_time_keep_their_ticks_apart():
    # A faster machine than ours trains smoke's runs in hundredths of a
    # second: Lab 3's 2x2 figure, legends beside its panels, once crowded
    # its time axes with eight four-decimal ticks that collided (CI, stop
    # 24). The recorded histories, replayed at epoch times from a
    # millisecond to ten seconds.
    import numpy as np
    import pandas as pd

    recorded = pd.DataFrame(
        {
            "name": name,
            "seed": 0,
            "epoch": epoch,
            "val_acc": val_acc,
            "train_loss": loss,
            "seconds": seconds,
        }
        for name, *epochs in LAB3_SMOKE
        for epoch, (val_acc, loss, seconds) in enumerate(epochs, 1)
    )
    for scale in np.geomspace(5e-3, 50, 25):
        histories = recorded.assign(seconds=recorded["seconds"] * scale)
        fig, axes = plt.subplots(2, 2, figsize=(15, 8), sharey="row")
        for col, protocol in enumerate(("own", "shared")):
            part = histories[histories["name"].str.contains(protocol)]
            plots.plot_learning_curves(
                part, "val_acc", ax=axes[0, col], title="validation accuracy"
            )
            plots.plot_learning_curves(
                part, "train_loss", x="seconds", ax=axes[1, col], title="time"
            )
        fig.tight_layout()
        longest = histories["seconds"].max()
        assert check_figure(fig) == [], f"epochs of up to {longest:.3g} s"
        plt.close(fig)
        # And Lab 3's figure now: both metrics rows the same metric.
        fig = plots.plot_protocols(
            histories,
            {
                protocol: [
                    n
                    for n in dict.fromkeys(histories["name"])
                    if protocol in n
                ]
                for protocol in ("own", "shared")
            },
            title="validation accuracy against epochs and time",
        )
        assert check_figure(fig) == [], f"epochs of up to {longest:.3g} s"
        plt.close(fig)
