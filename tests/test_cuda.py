"""The GPU path: mixed precision, channels-last, checkpoints and every
recipe on CUDA. Skipped where there is no GPU (CI); run on one with
``python -m pytest tests/test_cuda.py``."""

import numpy as np
import pytest
import torch

import lab_utils as lu

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"
)


@pytest.fixture(scope="module")
def mnist(data_dir):
    train = lu.load_dataset("mnist", data_dir=data_dir, n_samples=3000)
    test = lu.load_dataset("mnist", "test", data_dir=data_dir, n_samples=1000)
    return train, test


@pytest.mark.parametrize(
    "config",
    [
        {"preset": "five_conv", "embedding_dim": 3, "width": 0.5},
        {"preset": "two_conv", "embedding_dim": 128, "s": 30.0, "m": 0.5},
        {"preset": "two_conv", "embedding_dim": 2, "head": "cosface"},
        {"preset": "two_conv", "embedding_dim": 2, "head": "softmax"},
    ],
)
def test_margin_recipe_learns_on_cuda_with_mixed_precision(mnist, config):
    """Under fit's default autocast the ArcFace head once failed on its
    first batch (a bf16 cosine scattered into by a float32 logit)."""
    train, test = mnist
    trained = lu.train_margin_classifier(
        {**config, "epochs": 4, "lr": 3e-3}, 0, train, test, test, "cuda"
    )
    assert next(trained.model.parameters()).is_cuda
    loss = trained.history["train_loss"]
    assert np.isfinite(loss).all() and loss.iloc[-1] < loss.iloc[0]
    # 2-D embeddings learn slowly: ask for twice chance (0.1) there.
    assert trained.metrics["test_acc"] > (
        0.2 if config["embedding_dim"] == 2 else 0.8
    )


def test_classifier_saves_and_reloads_on_cuda(data_dir, tmp_path):
    train = lu.load_dataset("cifar10", data_dir=data_dir, n_samples=600)
    test = lu.load_dataset("cifar10", "test", data_dir=data_dir, n_samples=200)
    train, val = lu.train_val_split(train, 0.2)
    config = {"batch_norm": True, "augment": "crop+flip", "epochs": 2}
    trained = lu.train_classifier(
        config, 0, train, val, test, "cuda", save_to=tmp_path / "m.pt"
    )
    saved = lu.load_trained(tmp_path / "m.pt", train, "cuda")
    again = lu.evaluate(saved.model, lu.TensorLoader(test, 512, device="cuda"))
    assert again["acc"] == pytest.approx(trained.metrics["test_acc"])
    # channels-last weights came back into a plain model without trouble
    assert saved.model.convs[0].weight.is_cuda


def test_vae_recipe_trains_on_cuda(data_dir):
    train = lu.load_dataset("lfw", data_dir=data_dir, image_size=32)
    test = lu.load_dataset("lfw", "test", data_dir=data_dir, image_size=32)
    trained = lu.train_vae({"epochs": 2}, 0, train, test, "cuda")
    history = trained.history
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert trained.metrics["val_kl"] > 0


def test_resumed_run_on_cuda_matches_an_uninterrupted_one(mnist, tmp_path):
    train, test = mnist

    def run(epochs, checkpoint=None, resume=False):
        lu.seed_everything(0)
        model = lu.FashionNet()
        loader = lu.TensorLoader(train, 128, shuffle=True, device="cuda")
        val = lu.TensorLoader(test, 500, device="cuda")
        history = lu.fit(
            model,
            loader,
            val,
            epochs=epochs,
            device="cuda",
            checkpoint=checkpoint,
            resume=resume,
        )
        return model, history

    whole, h_whole = run(3)
    run(1, tmp_path / "c.pt")
    resumed, h_resumed = run(3, tmp_path / "c.pt", resume=True)
    cols = ["train_loss", "val_loss", "val_acc"]
    np.testing.assert_allclose(
        h_resumed[cols].values, h_whole[cols].values, rtol=1e-5
    )
    for a, b in zip(
        whole.state_dict().values(), resumed.state_dict().values()
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# --- CUDA graphs (lab_utils.graphs) ------------------------------------


def small_run(mnist, seed=0, step=lu.classification_step, dropout=0.0, **kw):
    """Two epochs of a small CNN on digits, with a rate that changes every
    epoch (so the step is captured twice) and a short last batch."""
    from tiny_models import SmallCNN

    train, test = mnist
    lu.seed_everything(seed)
    model = SmallCNN(in_channels=1, width=8)
    if dropout:
        model.embedding.append(torch.nn.Dropout(dropout))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    history = lu.fit(
        model,
        lu.TensorLoader(train, 128, shuffle=True, seed=seed, device="cuda"),
        lu.TensorLoader(test, 300, device="cuda"),
        epochs=2,
        optimizer=optimizer,
        scheduler=scheduler,
        step=step,
        device="cuda",
        **kw,
    )
    return model, history


def test_graphed_fit_trains_as_the_eager_engine(mnist):
    model_g, graphed = small_run(mnist)
    model_e, eager = small_run(mnist, cuda_graphs=False)
    steps = graphed.attrs["steps"]
    assert steps["cuda_graphs"] and steps["fallback"] is None
    assert steps["captures"] == 2 and steps["replays"] > 30
    assert eager.attrs["steps"] == {"cuda_graphs": False}
    # Not bit for bit: capturable Adam computes its bias correction on
    # the device in float32, the eager one on the host in float64, and
    # bf16 training carries such differences on.
    losses = ["train_loss", "val_loss"]
    np.testing.assert_allclose(
        graphed[losses].values, eager[losses].values, rtol=0.02
    )
    accuracies = ["train_acc", "val_acc"]
    np.testing.assert_allclose(
        graphed[accuracies].values, eager[accuracies].values, atol=0.02
    )
    assert graphed["val_acc"].iloc[-1] > 0.8  # chance: 0.1


def test_graphed_fit_in_fp16_scales_the_loss_without_a_sync(
    mnist, monkeypatch
):
    """A T4's path (fp16 with loss scaling) on this GPU."""
    monkeypatch.setenv("LAB_AMP_DTYPE", "float16")
    model, history = small_run(mnist)
    steps = history.attrs["steps"]
    assert steps["cuda_graphs"] and steps["replays"] > 30, steps
    assert history["val_acc"].iloc[-1] > 0.8


def test_a_step_that_syncs_falls_back_to_eager(mnist):
    def syncing_step(model, batch):
        out = lu.classification_step(model, batch)
        if float(out["loss"]) > 1e9:  # a read to the host: not capturable
            raise AssertionError
        return out

    model, history = small_run(mnist, step=syncing_step)
    steps = history.attrs["steps"]
    assert not steps["cuda_graphs"] and "capture failed" in steps["fallback"]
    assert history["val_acc"].iloc[-1] > 0.8
    # The failed capture left nothing behind: random draws (dropout) work
    # eagerly and in a new capture.
    _, after = small_run(mnist, dropout=0.5)
    assert after.attrs["steps"]["cuda_graphs"]
    assert after["val_acc"].iloc[-1] > 0.8


def test_graphed_dropout_is_random_and_seeded(mnist):
    _, a = small_run(mnist, dropout=0.5)
    _, b = small_run(mnist, dropout=0.5)
    _, c = small_run(mnist, seed=1, dropout=0.5)
    assert a.attrs["steps"]["replays"] > 30
    cols = ["train_loss", "val_loss"]
    np.testing.assert_array_equal(a[cols].values, b[cols].values)
    assert not np.array_equal(a[cols].values, c[cols].values)
