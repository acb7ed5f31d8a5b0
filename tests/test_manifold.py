"""Hand-written PCA and t-SNE against scikit-learn on real images."""

import numpy as np
import pytest
import torch

import lab_utils as lu


@pytest.fixture(scope="module")
def fashion(data_dir):
    data = lu.load_dataset(
        "fashion_mnist",
        "test",
        data_dir=data_dir,
        n_samples=600,
        seed=0,
        download=False,
    )
    return data.X.flatten(1).double().numpy() / 255.0, data.y.numpy()


def test_pca_matches_scikit_learn(fashion):
    from sklearn.decomposition import PCA

    X, _ = fashion
    ours = lu.PCA(10).fit(X)
    theirs = PCA(10, svd_solver="full").fit(X)
    ours_c = ours.components_.numpy()
    signs = np.sign((ours_c * theirs.components_).sum(1))
    assert np.abs(ours_c - signs[:, None] * theirs.components_).max() < 1e-5
    assert np.allclose(
        ours.explained_variance_.numpy(), theirs.explained_variance_, rtol=1e-8
    )
    assert np.allclose(
        ours.explained_variance_ratio_.numpy(),
        theirs.explained_variance_ratio_,
        rtol=1e-8,
    )


def test_pca_sign_convention_and_round_trip(fashion):
    X, _ = fashion
    pca = lu.PCA(20).fit(X)
    # Deterministic signs: the largest entry of each component is positive.
    comps = pca.components_.numpy()
    assert (comps[np.arange(20), np.abs(comps).argmax(1)] > 0).all()
    again = lu.PCA(20).fit(X[::-1].copy())  # same data, other row order
    assert np.allclose(again.components_.numpy(), comps, atol=1e-8)
    full = lu.PCA(min(X.shape)).fit(X)
    rebuilt = full.inverse_transform(full.transform(X)).numpy()
    assert np.allclose(rebuilt, X, atol=1e-8)
    # Fewer components: the error falls as components are added.
    errors = [
        np.mean(
            (
                lu.PCA(k)
                .fit(X)
                .inverse_transform(lu.PCA(k).fit(X).transform(X))
                .numpy()
                - X
            )
            ** 2
        )
        for k in (2, 10, 50)
    ]
    assert errors[0] > errors[1] > errors[2]
    with pytest.raises(ValueError, match="n_components"):
        lu.PCA(10_000).fit(X)


def test_every_row_of_p_hits_its_perplexity(fashion):
    X, _ = fashion
    D = lu.manifold.squared_distances(torch.from_numpy(X))
    for perplexity in (5.0, 30.0, 100.0):
        P, _ = lu.manifold.conditional_probabilities(D, perplexity)
        assert torch.allclose(P.sum(1), torch.ones(len(P), dtype=P.dtype))
        entropy = -(P * torch.log(P.clamp_min(1e-300))).sum(1)
        assert (entropy.exp() - perplexity).abs().max() < 1e-3
    joint = lu.manifold.joint_probabilities(X, 30.0)
    assert torch.allclose(joint, joint.T)
    assert joint.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_tsne_matches_scikit_learn_exact(fashion):
    from sklearn.manifold import TSNE, trustworthiness

    X, _ = fashion
    X50 = lu.pca(X, 50).numpy()
    ours = lu.TSNE(perplexity=30.0, seed=0).fit(X50)
    theirs = TSNE(
        perplexity=30.0,
        method="exact",
        init="pca",
        random_state=0,
        learning_rate="auto",
    ).fit(X50)
    assert ours.kl_divergence_ == pytest.approx(
        theirs.kl_divergence_, rel=0.05
    )
    t_ours = trustworthiness(X50, ours.embedding_.numpy(), n_neighbors=10)
    t_theirs = trustworthiness(X50, theirs.embedding_, n_neighbors=10)
    assert abs(t_ours - t_theirs) < 0.01
    assert ours.learning_rate_ == pytest.approx(max(600 / 12 / 4, 50))
    kls = [kl for _, kl in ours.kl_history_]
    assert len(kls) == 1000 // 50 and kls[-1] < kls[len(kls) // 2]


def test_the_logged_kl_is_the_true_objective_during_exaggeration(fashion):
    from lab_utils.manifold import _kl_gradient, joint_probabilities

    X, _ = fashion
    P = joint_probabilities(lu.pca(X[:200], 30), 20.0)
    Y = lu.pca(X[:200], 2)
    grad1, kl1 = _kl_gradient(P, Y, 1.0, True)
    grad12, kl12 = _kl_gradient(P, Y, 12.0, True)
    assert kl12 == pytest.approx(kl1, rel=1e-12)  # KL(P || Q), not 12 P
    assert not torch.allclose(grad1, grad12)  # the gradient is exaggerated
    assert kl1 > 0


def test_tsne_is_deterministic_on_cpu(fashion):
    X, _ = fashion
    X50 = lu.pca(X[:300], 30)
    a = lu.tsne(X50, perplexity=20.0, n_iter=300, seed=3)
    b = lu.tsne(X50, perplexity=20.0, n_iter=300, seed=3)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="perplexity"):
        lu.tsne(X50, perplexity=500.0)
