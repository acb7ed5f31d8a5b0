"""The margin heads against their formulas written out directly."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lab_utils as lu


def cosines_at(angles: torch.Tensor, dim: int = 8):
    """Embeddings whose angle to class weight 0 is ``angles`` (radians),
    and a head whose class 0 weight is the first axis."""
    head = lu.ArcMarginHead(dim, 4, s=30.0, m=0.5)
    with torch.no_grad():
        head.weight.copy_(torch.linalg.qr(torch.randn(dim, dim))[0][:4])
    w0 = F.normalize(head.weight[0].detach(), dim=0)
    # Build x = cos(a) w0 + sin(a) u with u orthogonal to w0.
    u = torch.randn(len(angles), dim)
    u = u - (u @ w0)[:, None] * w0
    u = F.normalize(u, dim=1)
    x = torch.cos(angles)[:, None] * w0 + torch.sin(angles)[:, None] * u
    return head, x * 3.7  # any length: the head normalises


def direct_arcface(cos, labels, s, m):
    """ArcFace written out with acos, as in the paper, plus the fallback."""
    theta = torch.acos(cos.clamp(-1, 1))
    target = torch.zeros_like(cos, dtype=torch.bool)
    target[torch.arange(len(labels)), labels] = True
    with_margin = torch.where(
        theta + m < math.pi, torch.cos(theta + m), cos - m * math.sin(m)
    )
    return s * torch.where(target, with_margin, cos)


def test_arcface_logits_equal_the_formula_across_all_angles():
    torch.manual_seed(0)
    angles = torch.cat(
        [
            torch.tensor(
                [0.0, 1e-6, 1e-3, math.pi - 1e-3, math.pi - 1e-6, math.pi]
            ),
            torch.linspace(0, math.pi, 200),
        ]
    )
    head, x = cosines_at(angles)
    labels = torch.zeros(len(angles), dtype=torch.long)
    logits = head(x, labels)
    expected = direct_arcface(head.cosine(x).double(), labels, 30.0, 0.5)
    assert torch.allclose(logits.double(), expected, atol=2e-3)
    # Away from the clamped ends, agreement is much tighter.
    inner = (angles > 1e-2) & (angles < math.pi - 1e-2)
    assert torch.allclose(logits.double()[inner], expected[inner], atol=1e-4)


def test_no_nan_or_inf_in_values_or_gradients_at_the_extremes():
    angles = torch.tensor([0.0, 1e-7, math.pi - 1e-7, math.pi])
    for easy in (False, True):
        head, x = cosines_at(angles)
        head.easy_margin = easy
        x = x.detach().clone().requires_grad_(True)
        labels = torch.zeros(4, dtype=torch.long)
        loss = F.cross_entropy(head(x, labels), labels)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(x.grad).all()
        assert torch.isfinite(head.weight.grad).all()


def test_margin_touches_only_the_target_column():
    torch.manual_seed(1)
    for head in (
        lu.ArcMarginHead(16, 10, s=30, m=0.5),
        lu.CosFaceHead(16, 10, s=30, m=0.35),
    ):
        x = torch.randn(64, 16)
        labels = torch.randint(0, 10, (64,))
        train, plain = head(x, labels), head(x)
        changed = ~torch.isclose(train, plain)
        target = F.one_hot(labels, 10).bool()
        assert not changed[~target].any()
        assert changed[target].all()
        # The margin always makes the true class harder to win.
        assert (train[target] < plain[target]).all()


def test_zero_margin_gives_scaled_cosine():
    torch.manual_seed(2)
    head = lu.ArcMarginHead(16, 10, s=12.0, m=0.0)
    x, labels = torch.randn(32, 16), torch.randint(0, 10, (32,))
    cos = F.normalize(x) @ F.normalize(head.weight).T
    assert torch.allclose(head(x, labels), 12.0 * cos, atol=1e-5)
    assert torch.allclose(head(x), 12.0 * cos, atol=1e-6)


def test_cosface_is_cos_minus_m_on_the_target():
    torch.manual_seed(3)
    head = lu.CosFaceHead(16, 5, s=10.0, m=0.2)
    x, labels = torch.randn(20, 16), torch.randint(0, 5, (20,))
    cos = head.cosine(x)
    expected = 10.0 * (cos - 0.2 * F.one_hot(labels, 5))
    assert torch.allclose(head(x, labels), expected, atol=1e-6)


def test_the_classic_mistakes_give_different_logits():
    torch.manual_seed(4)
    head = lu.ArcMarginHead(16, 10, s=30.0, m=0.5)
    x, labels = torch.randn(32, 16), torch.randint(0, 10, (32,))
    right = head(x, labels)
    cos = head.cosine(x)
    theta = torch.acos(cos)
    margin_everywhere = 30.0 * torch.cos(theta + 0.5)
    divided_by_s = cos / 30.0  # "normalising" by s instead of scaling
    for wrong in (margin_everywhere, divided_by_s):
        assert (right - wrong).abs().max() > 1.0
    # Prediction uses no margin: the largest cosine wins.
    assert torch.equal(head(x).argmax(1), cos.argmax(1))


def test_bad_head_settings_are_explained():
    with pytest.raises(ValueError, match="margin m"):
        lu.ArcMarginHead(3, 10, m=2.0)
    with pytest.raises(ValueError, match="scale s"):
        lu.CosFaceHead(3, 10, s=0.0)
    with pytest.raises(ValueError, match="arcface"):
        lu.make_head("sphereface", 3, 10)


def test_report_networks_give_embeddings_of_the_asked_size():
    x = torch.randn(5, 1, 28, 28)
    assert lu.EmbeddingNet("five_conv", 3)(x).shape == (5, 3)
    assert lu.EmbeddingNet("two_conv", 128)(x).shape == (5, 128)
    assert lu.EmbeddingNet("five_conv", 3, width=0.5)(x).shape == (5, 3)
    convs = [
        m
        for m in lu.EmbeddingNet("five_conv").modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (1, 64, 2),
        (64, 256, 2),
        (256, 256, 1),
        (256, 64, 1),
        (64, 16, 2),
    ]
    with pytest.raises(ValueError, match="five_conv"):
        lu.EmbeddingNet("resnet")


def test_arcface_learns_real_digits_and_predicts_without_margin(mnist_small):
    train, test = mnist_small
    config = {
        "preset": "two_conv",
        "embedding_dim": 16,
        "head": "arcface",
        "s": 16.0,
        "m": 0.3,
        "optimizer": "adam",
        "lr": 3e-3,
        "epochs": 8,
        "batch_size": 64,
    }
    trained = lu.train_margin_classifier(config, 0, train, test, device="cpu")
    model, history = trained.model, trained.history
    assert history["val_acc"].iloc[-1] > 0.75  # chance is 0.10
    X, y = next(iter(lu.TensorLoader(test, 300)))
    model.eval()
    with torch.no_grad():
        cos = model.head.cosine(model.embed(X))
        assert torch.equal(model(X).argmax(1), cos.argmax(1))
        # Training logits (with margin) score lower than inference ones.
        assert (
            model(X, y).gather(1, y[:, None]) < model(X).gather(1, y[:, None])
        ).all()


def test_keep_classes_relabels_in_the_order_given(mnist_small):
    _, test = mnist_small
    kept = lu.keep_classes(test, ["7", "2"])
    assert kept.classes == ["7", "2"]
    assert set(kept.y.tolist()) == {0, 1}
    original = test.y[torch.isin(test.y, torch.tensor([7, 2]))]
    assert torch.equal(kept.y, (original == 2).long())
    with pytest.raises(ValueError, match="no class"):
        lu.keep_classes(test, ["ten"])


def test_roc_auc_and_pairs_against_scikit_learn():
    from sklearn.metrics import roc_auc_score, roc_curve

    torch.manual_seed(0)
    E = torch.randn(400, 8)
    labels = torch.randint(0, 4, (400,))
    E[labels == 0] += 2.0  # one class clusters: some signal
    scores, same = lu.verification_pairs(E, labels, 1000, seed=1)
    assert same.sum() == 1000 and len(scores) == 2000
    fpr, tpr, auc = lu.roc_curve(scores, same)
    assert auc == pytest.approx(
        roc_auc_score(same.numpy(), scores.numpy()), abs=1e-12
    )
    sk_fpr, sk_tpr, _ = roc_curve(
        same.numpy(), scores.numpy(), drop_intermediate=False
    )
    np.testing.assert_allclose(fpr, sk_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, atol=1e-12)
    # Tied scores share one point, as in scikit-learn.
    tied = (scores * 4).round() / 4
    fpr, tpr, auc = lu.roc_curve(tied, same)
    sk_fpr, sk_tpr, _ = roc_curve(
        same.numpy(), tied.numpy(), drop_intermediate=False
    )
    np.testing.assert_allclose(fpr, sk_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, atol=1e-12)
    assert auc == pytest.approx(
        roc_auc_score(same.numpy(), tied.numpy()), abs=1e-12
    )


def test_class_centre_angles():
    E = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    angles = lu.class_centre_angles(E, torch.tensor([0, 0, 1, 1]), 2)
    assert angles[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert 80 < angles[0, 1] < 90 and angles[0, 1] == angles[1, 0]


@pytest.mark.parametrize("head_class", [lu.ArcMarginHead, lu.CosFaceHead])
def test_margin_heads_compute_in_float32_under_autocast(head_class):
    """fit trains under autocast on a GPU. There the cosine came back in
    bf16, the target logit in float32, and ArcFace's scatter failed on
    the first batch; in bf16 the angles would also be too coarse for a
    margin of a few tenths. The heads compute in float32 whatever the
    surrounding precision, and give the float32 result."""
    torch.manual_seed(0)
    head = head_class(8, 10, s=30.0, m=0.5)
    x, y = torch.randn(64, 8), torch.randint(0, 10, (64,))
    low = x.bfloat16()  # what a backbone under autocast hands over
    reference = head(low.float(), y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head(low, y)
        inference = head(low)
    assert logits.dtype == inference.dtype == torch.float32
    torch.testing.assert_close(logits, reference)
    torch.testing.assert_close(inference, head(low.float()))
