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
    assert check_figure(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="'last step'"):
        plots.plot_overfitting(histories, ["baseline", "last step"])
