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
