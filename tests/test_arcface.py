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


def test_the_3d_reports_head_gives_the_reports_loss():
    # The report's probability, written from its formula: cos divided by
    # s, the margin on that, and s again inside the exponential; column
    # j's denominator holds every other class's exp(cos).
    torch.manual_seed(4)
    head = lu.ScaleDividedArcHead(16, 10, s=20.0, m=0.1)
    x, labels = torch.randn(32, 16), torch.randint(0, 10, (32,))
    cos = head.cosine(x).double()
    c = cos / 20.0
    top = torch.exp(
        20.0 * (c * math.cos(0.1) - (1 - c**2).sqrt() * math.sin(0.1))
    )
    others = torch.exp(cos).sum(1, keepdim=True) - torch.exp(cos)
    report_prob = (top / (top + others)).gather(1, labels[:, None])[:, 0]
    loss = F.cross_entropy(head(x, labels).double(), labels, reduction="none")
    assert torch.allclose(loss, -report_prob.log(), atol=1e-5)
    # The correct head at the same s and m gives another loss.
    right = lu.ArcMarginHead(16, 10, s=20.0, m=0.1)
    right.load_state_dict(head.state_dict())
    assert abs(F.cross_entropy(right(x, labels), labels) - loss.mean()) > 1
    # Without labels: the cosines (scale 1), so the largest cosine wins.
    assert torch.equal(head(x), head.cosine(x))


def test_dividing_by_s_makes_the_margin_a_constant_shift_and_floors_loss():
    head = lu.ScaleDividedArcHead(3, 10, s=20.0, m=0.1)
    cos = torch.linspace(-1, 1, 201, dtype=torch.float64)
    shift = head.target_logit(cos) - cos
    assert shift.max() - shift.min() < 0.02  # nearly constant ...
    assert abs(shift.mean() + 20.0 * math.sin(0.1)) < 0.01  # ... -s sin m
    # The floor: ln 10 for ten classes at the report's s and m; reached
    # with the target at cos 1 and the other class at cos -1 (1-D).
    assert abs(head.loss_floor(10) - math.log(10)) < 0.01
    two = lu.ScaleDividedArcHead(1, 2, s=20.0, m=0.1)
    with torch.no_grad():
        two.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    x, y = torch.tensor([[1.0]]), torch.tensor([0])
    assert abs(F.cross_entropy(two(x, y), y).item() - two.loss_floor(2)) < 1e-5


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
    # The 128-D report's evaluate(): labels into the head at test time
    # handicap the true class, so its accuracy is lower than the right one
    # (the largest cosine, which is what training measured).
    loader = lu.TensorLoader(test, 100)
    model.train()
    right = lu.margin_accuracy(model, loader)
    assert right == pytest.approx(history["val_acc"].iloc[-1], abs=1e-6)
    leaked = lu.margin_accuracy(model, loader, labels_to_head=True)
    assert leaked < right - 0.05
    assert model.training  # left as it was found


def test_the_reports_head_trains_but_its_loss_stays_above_the_floor(
    mnist_small,
):
    train, test = mnist_small
    losses = {}
    for head in ("arcface", "arcface_divided"):
        config = {
            "preset": "two_conv",
            "embedding_dim": 16,
            "head": head,
            "s": 20.0,
            "m": 0.1,
            "optimizer": "adam",
            "lr": 3e-3,
            "epochs": 12,
            "batch_size": 64,
        }
        trained = lu.train_margin_classifier(
            config, 0, train, test, device="cpu"
        )
        losses[head] = trained.history["train_loss"].min()
        assert trained.history["val_acc"].iloc[-1] > 0.5  # chance is 0.10
    # Both classify (the report reached 98% with it); only the right head
    # can bring its loss below ln 10: with the scale lost, the report's
    # cannot, however well it separates the digits.
    floor = trained.model.head.loss_floor(10)
    assert losses["arcface_divided"] > floor
    assert losses["arcface"] < floor - 1.0


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
