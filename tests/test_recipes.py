"""The recipe layer: config + seed -> trained model, as every lab uses it."""

import pytest
import torch

import lab_utils as lu
from lab_utils import metrics, recipes
from lab_utils.recipes import code_digest


@pytest.fixture(scope="module")
def faces(data_dir):
    train = lu.load_dataset(
        "lfw", data_dir=data_dir, n_samples=96, image_size=32
    )
    test = lu.load_dataset(
        "lfw", "test", data_dir=data_dir, n_samples=32, image_size=32
    )
    return train, test


def test_a_config_names_only_what_it_changes():
    config = recipes.with_defaults("margin", {"lr": 3e-3, "s": 16.0})
    assert config["lr"] == 3e-3 and config["s"] == 16.0
    assert config["batch_size"] == recipes.DEFAULTS["margin"]["batch_size"]
    with pytest.raises(ValueError, match="Unknown config key.*'?learning_rat"):
        recipes.with_defaults("classifier", {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="Unknown recipe"):
        recipes.with_defaults("gan", {})


def test_fashion_net_refuses_three_conv_options(mnist_small):
    train, _ = mnist_small
    with pytest.raises(ValueError, match="batch_norm do not apply"):
        recipes.build_classifier(
            {"model": "fashion_net", "batch_norm": True}, train
        )


def test_the_recipe_is_the_plain_fit_it_replaced(mnist_small):
    """Lab 5 called fit by hand before the recipe layer; the recipe gives
    the same history and weights from the same seed."""
    train, test = mnist_small
    lu.seed_everything(3)
    model = lu.FashionNet()
    history = lu.fit(
        model,
        lu.TensorLoader(
            train, 128, shuffle=True, seed=3, augment=lu.Augment(hflip=True)
        ),
        lu.TensorLoader(test, 1000),
        epochs=2,
        lr=1e-3,
        callbacks=[lu.EarlyStopping("val_acc", 1)],
        device="cpu",
    )
    config = {
        "model": "fashion_net",
        "augment": "flip",
        "batch_size": 128,
        "eval_batch_size": 1000,
        "epochs": 2,
        "patience": 1,
    }
    trained = lu.train_classifier(config, 3, train, test, test, "cpu")
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    assert trained.history[cols].equals(history[cols])
    for a, b in zip(
        model.state_dict().values(), trained.model.state_dict().values()
    ):
        assert torch.equal(a, b)
    assert not trained.model.training


def test_margin_model_saves_and_reloads(mnist_small, tmp_path):
    train, test = mnist_small
    config = {
        "preset": "two_conv",
        "embedding_dim": 8,
        "width": 0.25,
        "epochs": 1,
        "s": 16.0,
        "m": 0.3,
    }
    trained = lu.train_margin_classifier(
        config, 0, train, test, test, "cpu", save_to=tmp_path / "m.pt"
    )
    saved = lu.load_trained(tmp_path / "m.pt", train, "cpu")
    again = lu.evaluate(
        saved.model, lu.TensorLoader(test, 1000), step=lu.margin_step
    )
    assert again["acc"] == trained.metrics["test_acc"]
    assert saved.config == trained.config and saved.config["s"] == 16.0
    with pytest.raises(ValueError, match="not on this cifar10 data"):
        lu.load_trained(
            tmp_path / "m.pt",
            lu.LabData(
                "cifar10",
                "train",
                torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
                torch.zeros(2, dtype=torch.long),
                list("0123456789"),
            ),
        )
    lu.save_checkpoint(tmp_path / "plain.pt", model=saved.model.state_dict())
    with pytest.raises(ValueError, match="not written by a recipe"):
        lu.load_trained(tmp_path / "plain.pt", train)


def test_vae_early_stopping_watches_the_validation_loss(faces):
    train, test = faces
    trained = lu.train_vae(
        {"epochs": 3, "patience": 1, "min_delta": 1e9}, 0, train, test, "cpu"
    )
    # No epoch improves the loss by 1e9, so the second epoch stops it.
    assert trained.metrics["epochs_run"] == 2
    assert set(trained.metrics) >= {"val_loss", "val_recon", "val_kl"}


def test_a_sweep_keeps_each_model_and_reuses_it(faces, tmp_path):
    """Lab 6's beta sweep: run_sweep(save_models=True) keeps model.pt
    beside each run; a second call trains nothing; a run whose model is
    missing is trained again, to the same result."""
    from functools import partial

    train, test = faces
    train_fn = partial(lu.train_vae, train=train, val=test, device="cpu")
    configs = {f"beta {b:g}": {"beta": b, "epochs": 1} for b in (1e-3, 1.0)}
    first = lu.run_sweep(configs, [0], train_fn, tmp_path, save_models=True)
    assert not first["reused"].any()
    again = lu.run_sweep(configs, [0], train_fn, tmp_path, save_models=True)
    assert again["reused"].all()
    assert again["val_kl"].tolist() == first["val_kl"].tolist()
    path = lu.run_dir(tmp_path, "beta 1", 0) / "model.pt"
    model = lu.load_trained(path, train, "cpu").model
    X = next(iter(lu.TensorLoader(test, 8)))[0]
    with torch.no_grad():
        before = model.encode(X)[0]
    path.unlink()
    third = lu.run_sweep(configs, [0], train_fn, tmp_path, save_models=True)
    assert third["reused"].tolist() == [True, False]
    with torch.no_grad():
        after = lu.load_trained(path, train, "cpu").model.encode(X)[0]
    assert torch.equal(before, after)


def test_save_models_needs_a_train_fn_that_can_save(tmp_path):
    with pytest.raises(ValueError, match="save_to="):
        lu.run_sweep(
            {"a": {}},
            [0],
            lambda config, seed: None,
            tmp_path,
            save_models=True,
        )


def test_feature_snapshots_of_every_epoch(mnist_small):
    train, test = mnist_small
    probe = lu.TensorLoader(lu.balanced_subset(test, 50, 0), 50)
    snapshots = lu.FeatureSnapshots(probe, "backbone", epochs="all")
    config = {
        "preset": "two_conv",
        "embedding_dim": 3,
        "width": 0.25,
        "epochs": 2,
    }
    lu.train_margin_classifier(
        config, 0, train, test, device="cpu", callbacks=[snapshots]
    )
    assert list(snapshots.snapshots) == [
        "before training",
        "epoch 1",
        "epoch 2",
        "after training",
    ]
    E, y = snapshots.snapshots["epoch 2"]
    assert E.shape == (50, 3) and len(y) == 50
    assert not torch.equal(E, snapshots.snapshots["before training"][0])
    with pytest.raises(ValueError, match="'all'"):
        lu.FeatureSnapshots(probe, "backbone", epochs="every")


@pytest.mark.parametrize(
    "name, mode, scale, label",
    [
        ("val_acc", "max", 100.0, "validation accuracy (%)"),
        ("best_val_acc", "max", 100.0, "best validation accuracy (%)"),
        ("test_auc", "max", 100.0, "test AUC (%)"),
        ("train_loss", "min", 1.0, "training loss"),
        ("val_recon", "min", 1.0, "validation reconstruction"),
        ("seconds", "min", 1.0, "seconds"),
    ],
)
def test_which_way_each_metric_is_better(name, mode, scale, label):
    assert metrics.metric_mode(name) == mode
    assert metrics.percent_scale(name) == scale
    assert metrics.metric_label(name) == label
    assert lu.EarlyStopping(name).mode == mode


def test_a_students_loss_trains_apart_from_the_reference(faces, tmp_path):
    namespace = {}
    source = (
        "import lab_utils as lu\n"
        "def kl(mean, log_var):\n"
        "    return lu.kl_divergence(mean, log_var)\n"
        "def objective(reconstruction, X, mean, log_var, beta, sigma):\n"
        "    return lu.vae_loss(reconstruction, X, mean, log_var, beta,"
        " sigma)['loss'] + {extra} * kl(mean, log_var).mean()\n"
    )
    exec(source.format(extra="0.0"), namespace)
    same = dict(namespace)
    exec(source.format(extra="0.0"), same)  # the same code, run again
    assert code_digest(namespace["objective"]) == code_digest(
        same["objective"]
    )
    edited = {}
    exec(source.replace("lu.kl_divergence(mean, log_var)",
                        "-lu.kl_divergence(mean, log_var)")
         .format(extra="0.0"), edited)  # fmt: skip
    # Editing a function it calls changes the digest too.
    assert code_digest(edited["objective"]) != code_digest(
        namespace["objective"]
    )
    train, val = faces
    config = {"epochs": 1, "batch_size": 16, "latent_dim": 8}
    reference = lu.train_vae(config, 0, train, val, "cpu", resume_dir=tmp_path)
    exec(source.format(extra="100.0"), edited)
    theirs = lu.train_vae(
        config, 0, train, val, "cpu", resume_dir=tmp_path,
        loss=edited["objective"],
    )  # fmt: skip
    assert len(list(tmp_path.glob("vae-*.pt"))) == 2  # kept apart
    # Trained on another loss, logged with the reference's: the KL differs.
    assert theirs.metrics["val_kl"] < reference.metrics["val_kl"]
    assert theirs.history["train_loss"].iloc[0] != pytest.approx(
        reference.history["train_loss"].iloc[0]
    )
