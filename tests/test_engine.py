"""The training engine on real MNIST: learning, determinism, early
stopping, checkpoints and resume, and the errors that protect a run."""

import pandas as pd
import pytest
import torch
from tiny_models import SmallCNN

import lab_utils as lu


def make_run(mnist_small, seed=0, **loader_kw):
    train, test = mnist_small
    lu.seed_everything(seed)
    model = SmallCNN(in_channels=1, n_classes=10, image_size=28, width=8)
    train_loader = lu.TensorLoader(
        train, 64, shuffle=True, seed=seed, **loader_kw
    )
    val_loader = lu.TensorLoader(test, 256)
    return model, train_loader, val_loader


def without_time(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns="seconds")


def test_fit_learns_real_digits(mnist_small):
    model, train, val = make_run(mnist_small)
    history = lu.fit(model, train, val, epochs=4, lr=3e-3, device="cpu")
    assert list(history["epoch"]) == [1, 2, 3, 4]
    assert {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    } <= set(history.columns)
    assert history["train_loss"].iloc[-1] < 0.6 * history["train_loss"].iloc[0]
    assert history["val_acc"].iloc[-1] > 0.75  # chance is 0.10


def test_same_seed_gives_identical_history(mnist_small):
    runs = []
    for _ in range(2):
        model, train, val = make_run(mnist_small, seed=7)
        runs.append(lu.fit(model, train, val, epochs=2, device="cpu"))
    pd.testing.assert_frame_equal(without_time(runs[0]), without_time(runs[1]))
    model, train, val = make_run(mnist_small, seed=8)
    other = lu.fit(model, train, val, epochs=2, device="cpu")
    assert not other["train_loss"].equals(runs[0]["train_loss"])


def test_early_stopping_stops_and_restores_best(mnist_small):
    model, train, val = make_run(mnist_small)
    # A huge min_delta means no epoch after the first counts as better.
    stopper = lu.EarlyStopping("val_loss", patience=2, min_delta=10.0)
    history = lu.fit(
        model, train, val, epochs=10, callbacks=[stopper], device="cpu"
    )
    assert len(history) == 3
    assert stopper.best_epoch == 1 and stopper.stopped_epoch == 3
    restored = lu.evaluate(model, val)
    assert restored["loss"] == pytest.approx(
        history["val_loss"].iloc[0], rel=1e-5
    )


@pytest.mark.parametrize(
    "curve, patience, min_delta, expected",
    [
        ([0.5, 0.6, 0.7], 2, 0.0, (3, False)),
        ([0.5, 0.6, 0.6, 0.6], 2, 0.0, (2, True)),  # ties do not improve
        ([0.7, 0.6, 0.5], 2, 0.0, (1, True)),  # never improves
        ([0.7, 0.6], 2, 0.0, (1, False)),
        ([0.50, 0.505, 0.52], 2, 0.01, (3, False)),  # 0.505: too small
        ([0.50, 0.505, 0.509], 2, 0.01, (1, True)),
        ([0.5], 1, 0.0, (1, False)),
    ],
)
def test_early_stopping_rule(curve, patience, min_delta, expected):
    assert lu.early_stopping(curve, patience, min_delta) == expected


def test_early_stopping_uses_a_rule_given_to_it(mnist_small):
    calls = []

    def stop_at_two(values, patience, min_delta):
        calls.append(list(values))
        return 1, len(values) == 2

    model, train, val = make_run(mnist_small)
    stopper = lu.EarlyStopping("val_loss", patience=5, rule=stop_at_two)
    history = lu.fit(
        model, train, val, epochs=5, callbacks=[stopper], device="cpu"
    )
    assert len(history) == 2 and stopper.best_epoch == 1
    # Losses are turned into "higher is better" for the rule.
    assert calls[-1] == [-v for v in history["val_loss"]]


def test_early_stopping_on_missing_column_says_what_exists(mnist_small):
    model, train, _ = make_run(mnist_small)
    with pytest.raises(ValueError, match="val_loss.*train_loss"):
        lu.fit(
            model,
            train,
            None,
            epochs=2,
            device="cpu",
            callbacks=[lu.EarlyStopping("val_loss")],
        )


def test_resume_continues_exactly_where_it_stopped(mnist_small, tmp_path):
    model, train, val = make_run(mnist_small)
    straight = lu.fit(
        model, train, val, epochs=4, device="cpu", checkpoint=tmp_path / "a.pt"
    )
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    ckpt = tmp_path / "b.pt"
    model, train, val = make_run(mnist_small)
    lu.fit(model, train, val, epochs=2, device="cpu", checkpoint=ckpt)
    # A fresh process would rebuild everything from scratch, seeded
    # differently: the checkpoint must carry all the state that matters.
    model, train, val = make_run(mnist_small, seed=99)
    model.load_state_dict(SmallCNN(width=8).state_dict())
    resumed = lu.fit(
        model, train, val, epochs=4, device="cpu", checkpoint=ckpt, resume=True
    )
    pd.testing.assert_frame_equal(
        without_time(resumed), without_time(straight)
    )
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    saved = lu.load_checkpoint(ckpt)
    assert saved["epoch"] == 4 and len(saved["history"]) == 4
    assert "state" in saved["optimizer"]


def test_existing_checkpoint_is_never_overwritten(mnist_small, tmp_path):
    ckpt = tmp_path / "mine.pt"
    model, train, val = make_run(mnist_small)
    lu.fit(model, train, val, epochs=1, device="cpu", checkpoint=ckpt)
    before = ckpt.read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        lu.fit(model, train, val, epochs=1, device="cpu", checkpoint=ckpt)
    other = SmallCNN(width=4)
    with pytest.raises(ValueError, match="different model"):
        lu.fit(
            other,
            train,
            val,
            epochs=2,
            device="cpu",
            checkpoint=ckpt,
            resume=True,
        )
    assert ckpt.read_bytes() == before


def test_damaged_checkpoint_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="damaged"):
        lu.load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="Train first"):
        lu.load_checkpoint(tmp_path / "missing.pt")


def test_non_finite_loss_names_epoch_and_batch(mnist_small):
    # A std so small (the smallest float32 above 0) that the inputs
    # overflow: a zero std, the usual slip, is refused by the loader.
    model, train, val = make_run(mnist_small, normalize=((0.13,), (1e-45,)))
    with pytest.raises(
        lu.NonFiniteLossError, match="at epoch 1.*became nan between batches 1"
    ):
        lu.fit(model, train, val, epochs=1, device="cpu")


def test_evaluate_restores_mode_and_features_come_from_named_layer(
    mnist_small,
):
    model, train, val = make_run(mnist_small)
    model.train()
    lu.evaluate(model, val)
    assert model.training
    features, y = lu.extract_features(model, val, "embedding")
    assert features.shape == (300, 64) and y.shape == (300,)
    logits, y2 = lu.predict(model, val)
    assert logits.shape == (300, 10) and torch.equal(y, y2)
    with pytest.raises(ValueError, match="no layer named 'fc9'.*embedding"):
        lu.extract_features(model, val, "fc9")


def test_bad_arguments_are_explained(mnist_small):
    model, train, val = make_run(mnist_small)
    with pytest.raises(ValueError, match="epochs must be a positive"):
        lu.fit(model, train, val, epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        lu.TensorLoader(mnist_small[0], batch_size=0)


def test_fit_is_the_plain_loop_plus_bookkeeping(mnist_small):
    plain, loader, _ = make_run(mnist_small, seed=3)
    optimizer = torch.optim.Adam(plain.parameters(), lr=1e-3)
    losses = [lu.train_one_epoch(plain, loader, optimizer) for _ in range(2)]
    fitted, loader, _ = make_run(mnist_small, seed=3)
    history = lu.fit(fitted, loader, epochs=2, lr=1e-3, device="cpu")
    assert lu.max_weight_difference(plain, fitted) == 0.0
    assert losses == pytest.approx(list(history["train_loss"]), rel=1e-6)
    other, loader, _ = make_run(mnist_small, seed=4)
    assert lu.max_weight_difference(plain, other) > 0.01
    with pytest.raises(ValueError, match="different shapes"):
        lu.max_weight_difference(plain, torch.nn.Linear(2, 3))
