"""The data layer on the real datasets: shapes, order, subsets, errors."""

import shutil

import numpy as np
import pytest
import torch

import lab_utils as lu
from lab_utils.data.subsets import _quotas


@pytest.mark.parametrize(
    "name, n_train, n_test, shape",
    [
        ("mnist", 60000, 10000, (1, 28, 28)),
        ("fashion_mnist", 60000, 10000, (1, 28, 28)),
        ("cifar10", 50000, 10000, (3, 32, 32)),
    ],
)
def test_full_datasets_have_standard_shapes(
    data_dir, name, n_train, n_test, shape
):
    train = lu.load_dataset(name, "train", data_dir=data_dir, download=False)
    test = lu.load_dataset(name, "test", data_dir=data_dir, download=False)
    assert train.X.shape == (n_train, *shape)
    assert test.X.shape == (n_test, *shape)
    assert train.X.dtype == torch.uint8 and train.y.dtype == torch.int64
    assert len(train.classes) == 10
    assert int(train.y.min()) == 0 and int(train.y.max()) == 9


def test_mnist_is_in_original_order(data_dir):
    # The first training labels of the original MNIST file.
    mnist = lu.load_dataset("mnist", data_dir=data_dir, download=False)
    assert mnist.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_class_names_follow_label_order(data_dir):
    cifar = lu.load_dataset(
        "cifar10", "test", data_dir=data_dir, download=False
    )
    assert cifar.classes == lu.CIFAR10_CLASSES
    fashion = lu.load_dataset(
        "fashion_mnist", "test", data_dir=data_dir, download=False
    )
    assert fashion.classes[9] == "Ankle boot"
    # ImageFolder label = position of the class folder; check a known file.
    first_cat = sorted((data_dir / "cifar10" / "test" / "cat").iterdir())[0]
    from PIL import Image

    img = torch.from_numpy(np.array(Image.open(first_cat))).permute(2, 0, 1)
    cats = cifar.X[cifar.y == 3]
    assert torch.equal(cats[0], img)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_stored_normalisation_matches_training_set(data_dir, name):
    train = lu.load_dataset(name, "train", data_dir=data_dir, download=False)
    mean, std = lu.channel_stats(train.X)
    stored_mean, stored_std = lu.NORMALIZATION[name]
    assert np.allclose(mean.numpy(), stored_mean, atol=1e-4)
    assert np.allclose(std.numpy(), stored_std, atol=1e-4)


def test_channel_stats_agree_with_numpy(mnist_small):
    train, _ = mnist_small
    mean, std = lu.channel_stats(train.X, batch_size=7)
    pixels = train.X.numpy().astype(np.float64) / 255
    assert mean.item() == pytest.approx(pixels.mean(), abs=1e-9)
    assert std.item() == pytest.approx(pixels.std(), abs=1e-9)


def test_subset_is_balanced_and_seeded(data_dir):
    a = lu.load_dataset(
        "mnist", data_dir=data_dir, n_samples=1000, seed=3, download=False
    )
    b = lu.load_dataset(
        "mnist", data_dir=data_dir, n_samples=1000, seed=3, download=False
    )
    c = lu.load_dataset(
        "mnist", data_dir=data_dir, n_samples=1000, seed=4, download=False
    )
    assert len(a) == 1000
    assert a.class_counts().tolist() == [100] * 10
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert not torch.equal(a.X, c.X)


def test_quotas_give_small_classes_remainder_to_others():
    quota = _quotas([5, 100, 100], 60)
    assert quota[0] == 5 and sorted(quota[1:]) == [27, 28]
    assert sum(_quotas([3, 4], 100)) == 7
    assert _quotas([10, 10, 10], 31) == [10, 10, 10]


def test_lfw_faces_have_a_fixed_disjoint_split(data_dir):
    train = lu.load_dataset(
        "lfw", "train", data_dir=data_dir, download=False, image_size=32
    )
    test = lu.load_dataset(
        "lfw", "test", data_dir=data_dir, download=False, image_size=32
    )
    assert train.X.shape[1:] == (3, 32, 32)
    assert len(train) + len(test) == 13233
    assert len(test) == 1323  # 10%, filled exactly by whole people
    assert "George_W_Bush" in train.classes
    # By person: nobody in the test faces was seen in training.
    assert not set(train.y.tolist()) & set(test.y.tolist())
    again = lu.load_dataset(
        "lfw", "test", data_dir=data_dir, download=False, image_size=32
    )
    assert torch.equal(again.X, test.X)


def test_stratified_split_keeps_class_shares(mnist_small):
    train, _ = mnist_small
    tr, va = lu.train_val_split(train, 0.2, seed=1)
    assert len(tr) + len(va) == len(train)
    assert va.class_counts().tolist() == [12] * 10
    # Disjoint: no training row reappears in validation.
    rows = {bytes(x.numpy()) for x in tr.X}
    assert not any(bytes(x.numpy()) in rows for x in va.X)
    again = lu.train_val_split(train, 0.2, seed=1)[1]
    assert torch.equal(va.y, again.y) and torch.equal(va.X, again.X)


def test_unknown_name_suggests_the_right_one(data_dir):
    with pytest.raises(ValueError, match="Did you mean 'mnist'"):
        lu.load_dataset("mnsit", data_dir=data_dir)


def test_missing_data_offline_names_paths_and_fix(tmp_path):
    with pytest.raises(lu.DatasetNotFoundError) as info:
        lu.load_dataset("fashion_mnist", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert "LAB_DATA_DIR" in message and "download=True" in message


def test_truncated_idx_file_is_reported(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").iterdir():
        shutil.copy(f, raw / f.name)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        lu.load_dataset("mnist", "test", data_dir=tmp_path, download=False)


def test_cache_is_written_outside_the_data_folder(
    data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path))
    first = lu.load_dataset(
        "cifar10", "test", data_dir=data_dir, download=False
    )
    cached = list(tmp_path.glob("cifar10-test-*.pt"))
    assert len(cached) == 1
    second = lu.load_dataset(
        "cifar10", "test", data_dir=data_dir, download=False
    )
    assert torch.equal(first.X, second.X)


def test_loader_normalises_and_covers_every_image(mnist_small):
    train, _ = mnist_small
    loader = lu.TensorLoader(train, batch_size=128, shuffle=True, seed=0)
    seen, batches = [], list(loader)
    assert len(batches) == len(loader) == 5
    for X, y in batches:
        assert X.dtype == torch.float32
        seen.append(y)
    assert sorted(torch.cat(seen).tolist()) == sorted(train.y.tolist())
    X = torch.cat([b[0] for b in batches])
    assert abs(X.mean().item()) < 0.1 and abs(X.std().item() - 1) < 0.1


def test_loader_order_is_seeded(mnist_small):
    train, _ = mnist_small

    def first_labels(seed):
        loader = lu.TensorLoader(train, 64, shuffle=True, seed=seed)
        return next(iter(loader))[1]

    assert torch.equal(first_labels(0), first_labels(0))
    assert not torch.equal(first_labels(0), first_labels(1))


def _cifar_float(data_dir, n=16):
    cifar = lu.load_dataset(
        "cifar10", "test", data_dir=data_dir, download=False
    )
    return cifar.X[:n].float() / 255


def _window_offsets(X, out, padding):
    """Per image, the (dy, dx) of the reflect-padded window of X that out
    equals; None where it equals none."""
    padded = torch.nn.functional.pad(X, (padding,) * 4, mode="reflect")
    h, w = X.shape[-2:]
    return [
        next(
            (
                (dy, dx)
                for dy in range(2 * padding + 1)
                for dx in range(2 * padding + 1)
                if torch.equal(o, p[:, dy : dy + h, dx : dx + w])
            ),
            None,
        )
        for o, p in zip(out, padded)
    ]


def test_random_crop_is_a_shifted_window(data_dir):
    X = _cifar_float(data_dir)
    out = lu.random_crop(X, 4, torch.Generator().manual_seed(0))
    assert out.shape == X.shape
    assert None not in _window_offsets(X, out, 4)
    assert not torch.equal(out, X)


def test_shift_moves_digits_by_up_to_two_pixels_and_never_mirrors(data_dir):
    mnist = lu.load_dataset("mnist", "test", data_dir=data_dir, download=False)
    X = mnist.X[:200].float() / 255
    out = lu.get_augment("shift")(X, torch.Generator().manual_seed(0))
    offsets = _window_offsets(X, out, 2)
    # A window of the image itself: moved, never mirrored or turned.
    assert None not in offsets, "an image is not a window of at most 2 px"
    assert len(set(offsets)) > 10, "the moves should vary between images"
    moved = sum(o != (2, 2) for o in offsets)
    assert moved > 150, f"only {moved} of 200 images moved"


def test_hflip_flips_about_half_exactly(data_dir):
    X = _cifar_float(data_dir, 200)
    out = lu.random_hflip(X, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, x.flip(-1)) for o, x in zip(out, X)]
    kept = [torch.equal(o, x) for o, x in zip(out, X)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 70 < sum(flipped) < 130


def test_affine_with_no_change_is_identity(data_dir):
    X = _cifar_float(data_dir)
    out = lu.random_affine(X, 0.0, 0.0, (1.0, 1.0))
    assert torch.allclose(out, X, atol=1e-5)


def test_quarter_turn_matches_rot90_and_zoom_magnifies(data_dir):
    X = _cifar_float(data_dir, 4)
    zeros, ones = torch.zeros(4), torch.ones(4)
    turned = lu.apply_affine(X, lu.affine_matrix(90 * ones, zeros, ones))
    assert torch.allclose(turned, torch.rot90(X, 1, dims=(2, 3)), atol=1e-5)
    zoomed = lu.apply_affine(X, lu.affine_matrix(zeros, zeros, 2 * ones))
    # Zoom 2: the central 16x16 fills the image (borders aside, where the
    # two resamplers pad differently).
    centre = torch.nn.functional.interpolate(
        X[:, :, 8:24, 8:24], size=32, mode="bilinear", align_corners=False
    )
    assert torch.allclose(
        zoomed[..., 2:-2, 2:-2], centre[..., 2:-2, 2:-2], atol=1e-5
    )
    out = lu.random_affine(
        X, rotation=30.0, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == X.shape and not torch.allclose(out, X)


def test_color_jitter_stays_in_range_and_changes_images(data_dir):
    X = _cifar_float(data_dir)
    out = lu.color_jitter(X, 0.4, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    assert (out - X).abs().mean() > 0.01


def test_augment_is_reproducible_with_a_seed(data_dir):
    X = _cifar_float(data_dir)
    aug = lu.Augment(
        crop_padding=4,
        hflip=True,
        rotation=10,
        shear=10,
        scale=(0.8, 1.2),
        color_jitter=0.2,
    )
    a = aug(X, torch.Generator().manual_seed(5))
    b = aug(X, torch.Generator().manual_seed(5))
    c = aug(X, torch.Generator().manual_seed(6))
    assert torch.equal(a, b), "the same seed must give the same batch"
    # An augmentation that did nothing would pass the check above; these
    # two fail for it: it must change the images, and differently per seed.
    per_image_change = (a - X).abs().flatten(1).amax(dim=1)
    assert (per_image_change > 0.1).all(), "some images were not changed"
    assert not torch.allclose(a, c, atol=1e-3), "seeds 5 and 6 agree"


def test_corrupt_image_in_a_folder_is_named(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    for cls in ("airplane", "cat"):
        folder = tmp_path / "cifar10" / "test" / cls
        folder.mkdir(parents=True)
        for f in sorted((data_dir / "cifar10" / "test" / cls).iterdir())[:3]:
            shutil.copy(f, folder / f.name)
    broken = tmp_path / "cifar10" / "test" / "cat" / "9999.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(ValueError, match="9999.jpg.*corrupt"):
        lu.load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    broken.unlink()
    small = lu.load_dataset(
        "cifar10", "test", data_dir=tmp_path, download=False
    )
    assert small.classes == ["airplane", "cat"] and len(small) == 6
