"""t-SNE and PCA: our torch implementations vs scikit-learn.

    LAB_DATA_DIR=../shared/datasets python benchmarks/tsne.py \
        [--sizes 2000 5000]

On the same Fashion-MNIST test images (pixels reduced to 50 dimensions by
PCA, as t-SNE is usually run), for each size: seconds, final KL divergence
and trustworthiness (k = 10) of ours, scikit-learn's exact t-SNE and its
Barnes-Hut t-SNE, all with perplexity 30, 1000 iterations and PCA
initialisation; then ours on CUDA at n = 10,000 when a GPU is present, and
PCA timings. Prints a table and the speed-up of ours over sklearn exact.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.decomposition import PCA as SkPCA
from sklearn.manifold import TSNE as SkTSNE
from sklearn.manifold import trustworthiness

import lab_utils as lu


def timed(fn):
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument(
        "--skip-exact-above",
        type=int,
        default=5000,
        help="skip sklearn's exact t-SNE above this size",
    )
    args = parser.parse_args()
    try:
        data = lu.load_dataset(
            "fashion_mnist",
            "train",
            n_samples=max(args.sizes + [10_000]),
            seed=0,
        )
    except lu.DatasetNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    pixels = data.X.flatten(1).double() / 255.0
    print(
        f"Fashion-MNIST, pixels -> 50 PCA dims | torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads"
    )

    rows = []
    for n in args.sizes:
        X = lu.pca(pixels[:n], 50).float()
        Xn = X.numpy()
        # Default arguments bind this iteration's X and Xn to each run.
        runs = {"ours": lambda X=X: lu.TSNE(perplexity=30.0).fit(X)}
        if n <= args.skip_exact_above:
            runs["sklearn exact"] = lambda Xn=Xn: SkTSNE(
                perplexity=30.0,
                method="exact",
                init="pca",
                learning_rate="auto",
                random_state=0,
            ).fit(Xn)
        runs["sklearn barnes-hut"] = lambda Xn=Xn: SkTSNE(
            perplexity=30.0,
            method="barnes_hut",
            init="pca",
            learning_rate="auto",
            random_state=0,
        ).fit(Xn)
        for name, fit in runs.items():
            model, seconds = timed(fit)
            Y = model.embedding_
            Y = Y.cpu().numpy() if torch.is_tensor(Y) else Y
            rows.append(
                (
                    n,
                    name,
                    seconds,
                    float(model.kl_divergence_),
                    trustworthiness(Xn, Y, n_neighbors=10),
                )
            )
            print(f"  n={n} {name}: {seconds:.1f} s", flush=True)

    if torch.cuda.is_available():
        X = lu.pca(pixels[:10_000], 50).float().cuda()
        lu.TSNE(perplexity=30.0, n_iter=50).fit(X[:1000])  # warm-up
        model, seconds = timed(lambda: lu.TSNE(perplexity=30.0).fit(X))
        rows.append(
            (
                10_000,
                "ours, cuda",
                seconds,
                model.kl_divergence_,
                trustworthiness(
                    X.cpu().numpy(),
                    model.embedding_.cpu().numpy(),
                    n_neighbors=10,
                ),
            )
        )

    print(f"\n{'n':>6}  {'method':<20} {'seconds':>8} {'KL':>7} {'trust.':>7}")
    for n, name, seconds, kl, trust in rows:
        print(f"{n:>6}  {name:<20} {seconds:>8.1f} {kl:>7.3f} {trust:>7.4f}")
    for n in args.sizes:
        by = {name: sec for m, name, sec, _, _ in rows if m == n}
        if "sklearn exact" in by:
            print(
                f"n={n}: ours is {by['sklearn exact'] / by['ours']:.1f}x "
                f"faster than sklearn exact"
            )

    X = pixels[:10_000].numpy()
    _, ours = timed(lambda: lu.PCA(50).fit(X))
    _, theirs = timed(lambda: SkPCA(50, svd_solver="full").fit(X))
    print(
        f"PCA, 10,000 x 784 -> 50: ours {ours:.2f} s, sklearn (full SVD) "
        f"{theirs:.2f} s, ratio {theirs / ours:.2f}x"
    )


if __name__ == "__main__":
    main()
