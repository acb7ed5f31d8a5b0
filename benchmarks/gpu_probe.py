"""GPU probe for the `full` profile's cost model (issue 15).

    python benchmarks/gpu_probe.py --out FILE [--budget SECONDS] [--tiny]

For every model that a lab's `full` profile trains (Lab 2: ThreeConvNet
'wide' and its ablation variants and grid batch sizes; Lab 3: 'small' with
Adam and SGD+momentum; Lab 4: EmbeddingNet five_conv 3-D / two_conv 128-D
inside a MarginClassifier with an ArcFace head; Lab 5: FashionNet; Lab 6:
ConvVAE on 32x32 faces), on random uint8 images of the real shapes and 10
classes, at the profile's batch size, it measures

  flops      forward and forward+backward FLOPs per image, counted with
             torch.utils.flop_counter.FlopCounterMode (matmuls and convs
             only; element-wise work is not counted);
  bare_fp32  images/s of a bare training loop: data already a uint8 tensor
             on the device, per-batch float/255 and normalisation, forward,
             loss, zero_grad, backward, Adam step, no syncs;
  bare_amp   the same with bf16 (fp16 where bf16 is missing) autocast and
             channels_last, as lab_utils.fit does on CUDA;
  bare_amp_det  bare_amp after torch.use_deterministic_algorithms(True),
             which seed_everything (called by every lab) switches on;
  fit        lab_utils.fit over a TensorLoader on the same tensors (after
             seed_everything, as the labs do), one warm-up fit, then one
             timed epoch of at least ~2 s; fit/bare = fit / bare_amp;
  evaluate   lab_utils.evaluate at the lab's evaluation batch size;
  compiled   torch.compile(model) in the bare amp loop: compile seconds
             (first steps minus ordinary steps) apart from the steady state;

each with effective TFLOP/s = flops_train_per_img * img_per_s / 1e12
(flops_fwd for evaluate). Then t-SNE as Lab 5 runs it (lab_utils.manifold,
n = 10,000, 128-D features, perplexity 30): the affinities and seconds per
gradient iteration on the GPU and on the CPU (the labs' features come back
from extract_features on the CPU, so that is where Lab 2 and Lab 5 run
t-SNE today), with 16 and 2 threads; and PCA of 10,000 x 784 pixels.

Prints one JSON line per measurement and rewrites --out (a JSON list)
after each, so an interrupted run keeps what it measured. --budget: stop
starting new measurements after this many seconds (t-SNE keeps
--tsne-reserve of it). --tiny: seconds on a CPU, to check the script.
--models / --secondary / --compile-models / --layout-variants / --no-tsne
choose what runs. --patch-arcface-amp runs the ArcFace/CosFace heads in
fp32: before lab_utils' margin heads computed in float32 themselves (the
fix that followed this probe), they failed on CUDA under autocast
("scatter(): Expected self.dtype to be equal to src.dtype"), and the
recorded runs needed it for Lab 4's amp, fit and compiled rows. A whole
run takes about 3.5 minutes on an H100;
benchmarks/results/gpu_probe_h100.json holds one (two runs: the default,
then Lab 4 with the patch and the layout variants).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

try:
    import lab_utils as lu
except ImportError:  # run from a clone without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import lab_utils as lu
manifold = sys.modules[lu.TSNE.__module__]  # PCA, t-SNE

T0 = time.perf_counter()
RESULTS: list[dict] = []
ARGS = None


def elapsed() -> float:
    return time.perf_counter() - T0


def emit(record: dict) -> None:
    record["t"] = round(elapsed(), 1)
    RESULTS.append(record)
    print(json.dumps(record), flush=True)
    out = Path(ARGS.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(RESULTS, indent=1))
    tmp.replace(out)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def amp_context(device, amp: bool, cache: bool = True):
    if amp and device.type == "cuda":
        dtype = (
            torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        )
        # A CUDA graph's capture needs autocast's cast cache off.
        return torch.autocast("cuda", dtype=dtype, cache_enabled=cache)
    return nullcontext()


# --- what each lab trains ------------------------------------------------


@dataclass
class Spec:
    name: str  # key in the results
    lab: str
    config: str  # human-readable description
    build: object  # () -> nn.Module
    shape: tuple  # (c, h, w)
    dataset: str  # for TensorLoader's normalisation
    batch: int
    kind: str = "cls"  # cls | margin | vae
    optimizer: str = "adam"
    lr: float = 1e-3
    augment: object = None
    eval_batch: int = 512
    main: bool = True  # full set of measurements (else fit only)
    extra: dict = field(default_factory=dict)


def three_conv(preset, **changes):
    return lambda: lu.ThreeConvNet(lu.three_conv_config(preset, **changes))


def margin_net(preset, dim):
    return lambda: lu.MarginClassifier(
        lu.EmbeddingNet(preset, dim, 1.0),
        lu.make_head(
            "arcface",
            dim,
            10,
            **({"s": 16.0, "m": 0.3} if dim == 3 else {"s": 30.0, "m": 0.5}),
        ),
    )


CIFAR, MNIST, LFW = (3, 32, 32), (1, 28, 28), (3, 32, 32)

MAIN = [
    Spec(
        "wide_b64",
        "02",
        "ThreeConvNet wide (256,128,64; fc 512,128), "
        "Adam, batch 64 (ablation baseline)",
        three_conv("wide"),
        CIFAR,
        "cifar10",
        64,
    ),
    Spec(
        "wide_b128",
        "02",
        "ThreeConvNet wide, Adam, batch 128 (the grid's middle batch)",
        three_conv("wide"),
        CIFAR,
        "cifar10",
        128,
    ),
    Spec(
        "small_b64",
        "03",
        "ThreeConvNet small (16,32,64; fc 500), Adam, batch 64",
        three_conv("small"),
        CIFAR,
        "cifar10",
        64,
    ),
    Spec(
        "five_conv_3d",
        "04",
        "EmbeddingNet five_conv width 1.0, 3-D, "
        "ArcFace s16 m0.3, Adam, batch 128",
        margin_net("five_conv", 3),
        MNIST,
        "mnist",
        128,
        kind="margin",
        eval_batch=1000,
    ),
    Spec(
        "two_conv_128d",
        "04",
        "EmbeddingNet two_conv, 128-D, ArcFace s30 m0.5, Adam, batch 128",
        margin_net("two_conv", 128),
        MNIST,
        "mnist",
        128,
        kind="margin",
        eval_batch=1000,
    ),
    Spec(
        "fashionnet_b128",
        "05",
        "FashionNet, Adam, batch 128, hflip augment (28x28 padded to 32)",
        lambda: lu.FashionNet(),
        MNIST,
        "fashion_mnist",
        128,
        augment=lu.Augment(hflip=True),
        eval_batch=1000,
    ),
    Spec(
        "vae_b32",
        "06",
        "ConvVAE 32x32x3, latent 120, Adam, batch 32, beta 1e-3",
        lambda: lu.ConvVAE(32, 3, 120),
        LFW,
        "lfw",
        32,
        kind="vae",
        eval_batch=256,
    ),
]

SECONDARY = [
    Spec(
        "wide_b256",
        "02",
        "wide, batch 256 (grid)",
        three_conv("wide"),
        CIFAR,
        "cifar10",
        256,
        main=False,
    ),
    Spec(
        "wide_bn_b64",
        "02",
        "wide + batch norm",
        three_conv("wide", batch_norm=True),
        CIFAR,
        "cifar10",
        64,
        main=False,
    ),
    Spec(
        "wide_dense_b64",
        "02",
        "wide, dense block",
        three_conv("wide", dense=True),
        CIFAR,
        "cifar10",
        64,
        main=False,
    ),
    Spec(
        "wide_dropout_b64",
        "02",
        "wide + dropout 0.2",
        three_conv("wide", dropout=0.2),
        CIFAR,
        "cifar10",
        64,
        main=False,
    ),
    Spec(
        "wide_cropflip_b64",
        "02",
        "wide, augment crop+flip",
        three_conv("wide"),
        CIFAR,
        "cifar10",
        64,
        main=False,
        augment=lu.get_augment("crop+flip"),
    ),
    Spec(
        "wide_affine_b64",
        "02",
        "wide, augment +rotate/affine",
        three_conv("wide"),
        CIFAR,
        "cifar10",
        64,
        main=False,
        augment=lu.get_augment("+rotate/affine"),
    ),
    Spec(
        "wide_jitter_b64",
        "02",
        "wide, augment +color jitter",
        three_conv("wide"),
        CIFAR,
        "cifar10",
        64,
        main=False,
        augment=lu.get_augment("+color jitter"),
    ),
    Spec(
        "small_momentum_b64",
        "03",
        "small, SGD momentum 0.9, batch 64",
        three_conv("small"),
        CIFAR,
        "cifar10",
        64,
        optimizer="momentum",
        lr=1e-2,
        main=False,
    ),
    Spec(
        "small_rmsprop_b64",
        "03",
        "small, RMSprop, batch 64",
        three_conv("small"),
        CIFAR,
        "cifar10",
        64,
        optimizer="rmsprop",
        main=False,
    ),
]


def loss_of(spec: Spec, model, X, y):
    if spec.kind == "cls":
        return F.cross_entropy(model(X), y)
    if spec.kind == "margin":
        return F.cross_entropy(model(X, y), y)
    reconstruction, mean, log_var = model(X)
    return lu.vae_loss(reconstruction, X, mean, log_var, 1e-3)["loss"]


def fit_step(spec: Spec):
    return {
        "cls": lu.classification_step,
        "margin": lu.margin_step,
        "vae": lu.vae_step(1e-3),
    }[spec.kind]


# --- data ----------------------------------------------------------------

POOLS: dict = {}


def pool(shape, n, device):
    """n random uint8 images of ``shape`` and labels 0-9, on the device."""
    have = POOLS.get(shape)
    if have is None or len(have[1]) < n:
        g = torch.Generator(device=device).manual_seed(0)
        X = torch.randint(
            0, 256, (n, *shape), generator=g, device=device, dtype=torch.uint8
        )
        y = torch.randint(0, 10, (n,), generator=g, device=device)
        POOLS[shape] = have = (X, y)
    return have[0][:n], have[1][:n]


def norm_stats(spec: Spec, device):
    stats = lu.NORMALIZATION.get(spec.dataset)
    if stats is None:
        return None, None
    mean, std = (
        torch.tensor(v, device=device).view(1, -1, 1, 1) for v in stats
    )
    return mean, std


# --- measurements --------------------------------------------------------


def count_flops(spec: Spec, device) -> tuple[float, float]:
    torch.manual_seed(0)
    model = spec.build().to(device).train()
    B = 16
    X, y = pool(spec.shape, B, device)
    X = X.float() / 255
    with FlopCounterMode(display=False) as fc:
        loss_of(spec, model, X, y)
    fwd = fc.get_total_flops() / B
    with FlopCounterMode(display=False) as fc:
        loss_of(spec, model, X, y).backward()
    train = fc.get_total_flops() / B
    return fwd, train


def run_timed(step, images_per_step, device, seconds, warmup=None):
    """Images/s of ``step`` after ``warmup`` steps, timed in chunks (a sync
    after each) until at least ``seconds`` have passed."""
    for _ in range(ARGS.warmup if warmup is None else warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(5):
        step()
    sync(device)
    per_step = max((time.perf_counter() - t) / 5, 1e-5)
    chunk = max(1, int(0.25 / per_step))
    steps, start = 0, time.perf_counter()
    while True:
        for _ in range(chunk):
            step()
        steps += chunk
        sync(device)
        took = time.perf_counter() - start
        if took >= seconds:
            return steps * images_per_step / took, took, steps


def bare_step(spec: Spec, model, opt, X8, y, device, amp, channels_last):
    mean, std = norm_stats(spec, device)
    n, B = len(y), spec.batch
    pos = [0]
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def step():
        i = pos[0] if pos[0] + B <= n else 0
        pos[0] = i + B
        X = X8[i : i + B].float().div_(255.0)
        if mean is not None:
            X = (X - mean) / std
        if channels_last:
            X = X.contiguous(memory_format=fmt)
        with amp_context(device, amp):
            loss = loss_of(spec, model, X, y[i : i + B])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def fresh(spec: Spec, device, channels_last=False):
    torch.manual_seed(0)
    model = spec.build().to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = lu.make_optimizer(spec.optimizer, model.parameters(), spec.lr)
    return model, opt


def record(spec, variant, flops, ips, batch_size=None, **extra):
    fwd, train = flops
    per_img = fwd if variant == "evaluate" else train
    rec = {
        "model": spec.name,
        "lab": spec.lab,
        "config": spec.config,
        "variant": variant,
        "batch_size": batch_size or spec.batch,
        "flops_fwd_per_img": fwd,
        "flops_train_per_img": train,
        "img_per_s": ips,
        "eff_tflops": (per_img * ips / 1e12) if ips and per_img else None,
    }
    rec.update(extra)
    emit(rec)
    return rec


def measure_bare(
    spec,
    flops,
    device,
    amp,
    det=False,
    variant=None,
    channels_last=None,
    benchmark=False,
):
    torch.use_deterministic_algorithms(det, warn_only=True)
    torch.backends.cudnn.benchmark = benchmark
    cl = (
        (amp and device.type == "cuda")
        if channels_last is None
        else channels_last
    )
    model, opt = fresh(spec, device, channels_last=cl)
    X8, y = pool(spec.shape, ARGS.pool, device)
    step = bare_step(spec, model, opt, X8, y, device, amp, cl)
    try:
        ips, took, steps = run_timed(step, spec.batch, device, ARGS.seconds)
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False
    return record(
        spec,
        variant or ("bare_amp" if amp else "bare_fp32"),
        flops,
        ips,
        seconds_timed=round(took, 2),
        steps=steps,
        deterministic=det,
        channels_last=cl,
        cudnn_benchmark=benchmark,
    )


FIT_VARIANTS = {
    # name: (CUDA graphs, deterministic kernels as seed_everything sets
    # them, cudnn.benchmark, $LAB_AMP_DTYPE)
    "fit": (True, True, False, ""),
    "fit_eager": (False, True, False, ""),
    "fit_fast": (True, False, True, ""),
    "fit_fp16": (True, True, False, "float16"),
}


def measure_fit(spec, flops, device, hint_ips, variant="fit"):
    """lab_utils.fit, as the labs call it (after seed_everything), for
    two epochs: the second one, with nothing left to capture or warm up,
    is timed (the history's seconds). The variants switch CUDA graphs,
    deterministic kernels and fp16 (a T4's format)."""
    graphs, det, benchmark, amp_dtype = FIT_VARIANTS[variant]
    n = int(
        min(ARGS.pool, max(ARGS.min_fit_images, hint_ips * ARGS.fit_seconds))
    )
    n -= n % spec.batch  # whole batches, like the bare loop
    X8, y = pool(spec.shape, n, device)
    data = lu.LabData(
        spec.dataset, "train", X8, y, [str(i) for i in range(10)]
    )
    lu.seed_everything(0)
    if not det:
        torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = benchmark
    os.environ["LAB_AMP_DTYPE"] = amp_dtype
    model, opt = fresh(spec, device)
    loader = lu.TensorLoader(
        data,
        spec.batch,
        shuffle=True,
        augment=spec.augment,
        device=device,
        seed=1,
    )
    try:
        t = time.perf_counter()
        history = lu.fit(
            model,
            loader,
            epochs=2,
            optimizer=opt,
            step=fit_step(spec),
            device=device,
            progress=False,
            cuda_graphs=graphs,
        )
        sync(device)
        took = time.perf_counter() - t
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False
        os.environ["LAB_AMP_DTYPE"] = ""
    epoch = float(history["seconds"].iloc[-1])
    ips = n / epoch
    return record(
        spec,
        variant,
        flops,
        ips,
        seconds_timed=round(epoch, 3),
        both_epochs_s=round(took, 2),
        images=n,
        step_ms=1000 * spec.batch / ips,
        steps=history.attrs.get("steps"),
        final_train_loss=float(history["train_loss"].iloc[-1]),
        augment=repr(spec.augment) if spec.augment else None,
        optimizer=spec.optimizer,
    )


def measure_graph(spec, flops, device):
    """The fastest loop this probe knows: the lab's step (forward, loss
    and metrics), backward and the optimizer captured as one CUDA graph,
    bf16 channels-last, each batch copied from already normalised images
    into its input; no sums, no loader, no checks."""
    torch.use_deterministic_algorithms(False)
    model, opt = fresh(spec, device, channels_last=True)
    for group in opt.param_groups:
        if "capturable" in group:
            group["capturable"] = True
    X8, y = pool(spec.shape, ARGS.pool, device)
    B = spec.batch
    n = min(len(y), 256 * B) // B * B
    X = X8[:n].float().div_(255.0)
    mean, std = norm_stats(spec, device)
    if mean is not None:
        X = (X - mean) / std
    X = X.contiguous(memory_format=torch.channels_last)
    Y = y[:n]
    static_X, static_y = X[:B].clone(), Y[:B].clone()

    step_fn = fit_step(spec)  # the lab's step: the same work as in fit

    def update():
        with amp_context(device, True, cache=False):
            loss = step_fn(model, (static_X, static_y))["loss"]
        loss.backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            update()
    torch.cuda.current_stream().wait_stream(side)
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        update()
    pos = [0]

    def step():
        i = pos[0] if pos[0] + B <= n else 0
        pos[0] = i + B
        static_X.copy_(X[i : i + B], non_blocking=True)
        static_y.copy_(Y[i : i + B], non_blocking=True)
        graph.replay()

    ips, took, steps = run_timed(step, B, device, ARGS.seconds)
    return record(
        spec,
        "bare_graph",
        flops,
        ips,
        seconds_timed=round(took, 2),
        steps=steps,
        step_ms=1000 * B / ips,
    )


def measure_evaluate_graph(spec, flops, device):
    """Evaluation as fit runs it on CUDA: replayed forward passes."""
    n = ARGS.eval_images
    X8, y = pool(spec.shape, n, device)
    data = lu.LabData(spec.dataset, "test", X8, y, [str(i) for i in range(10)])
    model, opt = fresh(spec, device, channels_last=True)
    precision = lu.engine.Precision.choose(device)
    steps = lu.graphs.GraphedSteps(
        model, opt, fit_step(spec), precision, precision.scaler()
    )
    loader = lu.TensorLoader(data, spec.eval_batch, device=device)
    steps.evaluate(loader)
    steps.evaluate(loader)
    sync(device)
    t, calls = time.perf_counter(), 0
    while time.perf_counter() - t < ARGS.seconds / 2:
        steps.evaluate(loader)
        calls += 1
    sync(device)
    took = time.perf_counter() - t
    return record(
        spec,
        "evaluate_graph",
        flops,
        calls * n / took,
        batch_size=spec.eval_batch,
        seconds_timed=round(took, 2),
    )


def measure_evaluate(spec, flops, device):
    n = ARGS.eval_images
    X8, y = pool(spec.shape, n, device)
    data = lu.LabData(spec.dataset, "test", X8, y, [str(i) for i in range(10)])
    model, _ = fresh(spec, device)
    if device.type == "cuda":  # as fit leaves it
        model = model.to(memory_format=torch.channels_last)
    loader = lu.TensorLoader(data, spec.eval_batch, device=device)
    lu.evaluate(model, loader, fit_step(spec), device)
    sync(device)
    t, calls = time.perf_counter(), 0
    while time.perf_counter() - t < ARGS.seconds / 2:
        lu.evaluate(model, loader, fit_step(spec), device)
        calls += 1
    sync(device)
    took = time.perf_counter() - t
    return record(
        spec,
        "evaluate",
        flops,
        calls * n / took,
        batch_size=spec.eval_batch,
        seconds_timed=round(took, 2),
    )


def patch_arcface_amp():
    """Run the cosine heads in fp32 even under autocast. On CUDA, autocast
    gives a bf16/fp16 cos from F.linear but an fp32 target logit (pow runs
    in fp32), and cos.scatter(..., target) then fails with "scatter():
    Expected self.dtype to be equal to src.dtype"."""
    base = lu.ArcMarginHead.__mro__[1]
    forward = base.forward

    def fp32_forward(self, embeddings, labels=None):
        with torch.autocast("cuda", enabled=False):
            return forward(self, embeddings.float(), labels)

    base.forward = fp32_forward


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def measure_compiled(spec, flops, device, limit):
    cl = device.type == "cuda"
    model, opt = fresh(spec, device, channels_last=cl)
    cmodel = torch.compile(model)
    X8, y = pool(spec.shape, ARGS.pool, device)
    step = bare_step(spec, cmodel, opt, X8, y, device, True, cl)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, min(600, int(limit))))
    try:
        t = time.perf_counter()
        for _ in range(3):
            step()
        sync(device)
        first3 = time.perf_counter() - t
        ips, took, steps = run_timed(
            step, spec.batch, device, ARGS.seconds, warmup=min(5, ARGS.warmup)
        )
    finally:
        signal.alarm(0)
    compile_s = first3 - 3 * spec.batch / ips
    return record(
        spec,
        "compiled",
        flops,
        ips,
        seconds_timed=round(took, 2),
        steps=steps,
        compile_s=round(compile_s, 1),
        mode="default",
    )


def guarded(what, fn, *a, **k):
    try:
        return fn(*a, **k)
    except Exception as err:  # report and go on
        emit(
            {
                "model": what,
                "variant": fn.__name__,
                "error": f"{type(err).__name__}: {str(err)[:400]}",
            }
        )
        return None
    finally:
        torch.use_deterministic_algorithms(False)


# --- t-SNE and PCA -------------------------------------------------------


def bs_steps(D, perplexity=30.0, tol=1e-5, max_steps=100):
    """How many steps manifold.conditional_probabilities' binary search
    takes on D (its loop, counted)."""
    import math

    n = D.shape[0]
    target = math.log(perplexity)
    beta = torch.ones(n, dtype=D.dtype, device=D.device)
    lo, hi = torch.zeros_like(beta), torch.full_like(beta, math.inf)
    off = D + torch.diag(
        torch.full((n,), math.inf, dtype=D.dtype, device=D.device)
    )
    D = D - off.min(dim=1, keepdim=True).values
    eye = torch.eye(n, dtype=torch.bool, device=D.device)
    for k in range(max_steps):
        P = torch.exp(-D * beta[:, None]).masked_fill_(eye, 0.0)
        total = P.sum(dim=1).clamp_min(1e-300)
        entropy = total.log() + beta * (D * P).sum(dim=1) / total
        diff = entropy - target
        if diff.abs().max() < tol:
            return k + 1
        too_wide = diff > 0
        lo = torch.where(too_wide, beta, lo)
        hi = torch.where(too_wide, hi, beta)
        beta = torch.where(hi.isinf(), beta * 2.0, (lo + hi) / 2.0)
    return max_steps


def timed(fn, device):
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t, out


def tsne_iter_seconds(X, P, device, k1, k2):
    """Seconds per gradient iteration of manifold.TSNE.fit, from fits of k1
    and k2 iterations with the affinities P given (PCA init as the labs)."""
    real = manifold.joint_probabilities
    manifold.joint_probabilities = lambda X, perplexity=30.0: P
    try:
        t1, _ = timed(
            lambda: manifold.TSNE(n_iter=k1, log_every=0).fit(X), device
        )
        t2, _ = timed(
            lambda: manifold.TSNE(n_iter=k2, log_every=0).fit(X), device
        )
    finally:
        manifold.joint_probabilities = real
    return (t2 - t1) / (k2 - k1), t1, t2


def tsne_probe(device, n, d=128, label="lab5"):
    g = torch.Generator().manual_seed(0)
    # ReLU features like FashionNet's 'hidden' output, clustered by class.
    centres = torch.randn(10, d, generator=g) * 2.0
    labels = torch.randint(0, 10, (n,), generator=g)
    feats = (centres[labels] + torch.randn(n, d, generator=g)).relu()
    # GPU: everything.
    if device.type == "cuda":
        Xg = feats.to(device)
        t_jp, P = timed(lambda: manifold.joint_probabilities(Xg, 30.0), device)
        D = manifold.squared_distances(Xg.double())
        steps = bs_steps(D)
        del D
        per_it, t1, t2 = tsne_iter_seconds(
            Xg, P, device, 10, 10 + ARGS.tsne_iters
        )
        emit(
            {
                "model": f"tsne_{label}",
                "variant": "gpu",
                "n": n,
                "dim": d,
                "affinities_s": round(t_jp, 3),
                "binary_search_steps": steps,
                "s_per_iter": per_it,
                "iters_timed": ARGS.tsne_iters,
                "predicted_1000_iter_s": round(t_jp + 1000 * per_it, 2),
            }
        )
        t_pca, _ = timed(lambda: lu.PCA(2).fit_transform(Xg), device)
        emit(
            {
                "model": f"pca_{label}_features",
                "variant": "gpu",
                "shape": [n, d],
                "seconds": t_pca,
            }
        )
        del P
        torch.cuda.empty_cache()
    # CPU, where the labs' features live (extract_features returns CPU).
    cpu = torch.device("cpu")
    for threads in ARGS.cpu_threads:
        if elapsed() > ARGS.budget + ARGS.tsne_reserve - 10:
            break
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            X64 = feats.double()
            t_sq, D = timed(
                lambda X64=X64: manifold.squared_distances(X64), cpu
            )
            t_c1, _ = timed(
                lambda D=D: manifold.conditional_probabilities(
                    D, 30.0, max_steps=1
                ),
                cpu,
            )
            t_c3, _ = timed(
                lambda D=D: manifold.conditional_probabilities(
                    D, 30.0, max_steps=3
                ),
                cpu,
            )
            per_bs = (t_c3 - t_c1) / 2
            steps = bs_steps(D) if n <= 3000 else None
            del D
            P = torch.rand(n, n, generator=g)
            P = ((P + P.T) / (2 * P.sum())).float()
            k = 2 if n > 5000 else 10
            per_it, t1, t2 = tsne_iter_seconds(feats, P, cpu, 1, 1 + k)
            emit(
                {
                    "model": f"tsne_{label}",
                    "variant": f"cpu_{threads}t",
                    "n": n,
                    "dim": d,
                    "sq_dist_s": round(t_sq, 3),
                    "binary_search_s_per_step": per_bs,
                    "binary_search_first_step_s": round(t_c1, 3),
                    "binary_search_steps": steps,
                    "s_per_iter": per_it,
                    "iters_timed": k,
                }
            )
            del P
        finally:
            torch.set_num_threads(old)


def pca_probe(device):
    X = (
        torch.randint(
            0,
            256,
            (ARGS.tsne_n, 784),
            generator=torch.Generator().manual_seed(0),
        ).double()
        / 255
    )
    for threads in ARGS.cpu_threads:
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            t, _ = timed(lambda: lu.PCA(50).fit(X), torch.device("cpu"))
        finally:
            torch.set_num_threads(old)
        emit(
            {
                "model": "pca_lab5_pixels",
                "variant": f"cpu_{threads}t",
                "shape": list(X.shape),
                "seconds": t,
            }
        )
    if device.type == "cuda":
        Xg = X.to(device)
        lu.PCA(50).fit(Xg[:100])
        t, _ = timed(lambda: lu.PCA(50).fit(Xg), device)
        emit(
            {
                "model": "pca_lab5_pixels",
                "variant": "gpu",
                "shape": list(X.shape),
                "seconds": t,
            }
        )


# --- goals (issue 29) ----------------------------------------------------

GOAL_SMALL_STEP_MS = 0.5  # small net, batch 64: a training step
GOAL_WIDE_TFLOPS = 100.0  # wide net, batch 128: effective TFLOP/s in fit
GOAL_FIT_RATIO = 0.95  # fit against the fastest loop, same model and batch


def goals() -> None:
    """Print the goals as measured/goal ratios (>= 1 meets a goal), a
    table per model, and emit them as one record."""
    by = {}
    for r in RESULTS:
        if "img_per_s" in r and r.get("img_per_s"):
            by[(r["model"], r["variant"])] = r
    rows, out = [], {"model": "goals"}
    loops = ("bare_amp", "bare_graph", "compiled")
    for spec in MAIN:
        fit = by.get((spec.name, "fit"))
        if not fit:
            continue
        best = max(
            (
                by[(spec.name, v)]["img_per_s"]
                for v in loops
                if (spec.name, v) in by
            ),
            default=None,
        )
        ratio = fit["img_per_s"] / best if best else None
        fast = by.get((spec.name, "fit_fast"))
        det_cost = fast["img_per_s"] / fit["img_per_s"] - 1 if fast else None
        rows.append(
            (
                spec.name,
                1000 * spec.batch / fit["img_per_s"],
                fit["eff_tflops"],
                ratio,
                det_cost,
            )
        )
        out[f"{spec.name}_fit_over_fastest"] = ratio
        out[f"{spec.name}_determinism_cost"] = det_cost
    print("\nmodel            step ms   TFLOP/s   fit/fastest   det. cost")
    for name, ms, tf, ratio, det in rows:
        print(
            f"{name:16} {ms:8.3f} {tf or 0:9.2f} "
            f"{ratio if ratio is not None else float('nan'):13.3f} "
            f"{det if det is not None else float('nan'):+10.1%}"
        )
    small = by.get(("small_b64", "fit"))
    wide = by.get(("wide_b128", "fit"))
    if small:
        ms = 1000 * 64 / small["img_per_s"]
        out["small_step_ms"] = ms
        out["small_goal_ratio"] = GOAL_SMALL_STEP_MS / ms
        print(
            f"goal: small step <= {GOAL_SMALL_STEP_MS} ms: {ms:.3f} ms "
            f"(ratio {GOAL_SMALL_STEP_MS / ms:.2f})"
        )
    if wide and wide.get("eff_tflops"):
        out["wide_tflops"] = wide["eff_tflops"]
        out["wide_goal_ratio"] = wide["eff_tflops"] / GOAL_WIDE_TFLOPS
        print(
            f"goal: wide b128 >= {GOAL_WIDE_TFLOPS:g} TFLOP/s: "
            f"{wide['eff_tflops']:.1f} "
            f"(ratio {wide['eff_tflops'] / GOAL_WIDE_TFLOPS:.2f})"
        )
    ratios = [r[3] for r in rows if r[3] is not None]
    if ratios:
        out["fit_goal_ratio"] = min(ratios) / GOAL_FIT_RATIO
        print(
            f"goal: fit >= {GOAL_FIT_RATIO} of the fastest loop: worst "
            f"{min(ratios):.3f} (ratio {min(ratios) / GOAL_FIT_RATIO:.2f})"
        )
    emit(out)


def summary_table(path: Path) -> str:
    """A markdown table of a probe's results (the last run of each
    measurement): what the README shows, generated, never typed."""
    by = {}
    for r in json.loads(Path(path).read_text()):
        if r.get("img_per_s"):
            by[(r["model"], r["variant"])] = r
    lines = [
        "| model (lab) | batch | fit step | fit images/s | TFLOP/s "
        "| eager fit | graphs' speed-up | fit / fastest loop "
        "| deterministic costs | fp16 step (T4's path) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def ms(r):
        return f"{1000 * r['batch_size'] / r['img_per_s']:.3f} ms"

    for spec in MAIN:
        fit = by.get((spec.name, "fit"))
        if not fit:
            continue
        eager = by.get((spec.name, "fit_eager"))
        fast = by.get((spec.name, "fit_fast"))
        fp16 = by.get((spec.name, "fit_fp16"))
        loops = [
            by[(spec.name, v)]["img_per_s"]
            for v in ("bare_amp", "bare_graph", "compiled")
            if (spec.name, v) in by
        ]
        ips = fit["img_per_s"]
        cells = [
            f"{spec.name} ({spec.lab})",
            str(spec.batch),
            ms(fit),
            f"{ips:,.0f}",
            f"{fit['eff_tflops']:.1f}",
            ms(eager) if eager else "",
            f"{ips / eager['img_per_s']:.1f}x" if eager else "",
            f"{ips / max(loops):.2f}" if loops else "",
            f"{fast['img_per_s'] / ips - 1:+.1%}" if fast else "",
            ms(fp16) if fp16 else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------


def environment(device) -> dict:
    env = {
        "model": "environment",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cpu_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(
            gpu=p.name,
            sm_count=p.multi_processor_count,
            memory_gib=round(p.total_memory / 2**30, 1),
            capability=f"{p.major}.{p.minor}",
            bf16=torch.cuda.is_bf16_supported(),
        )
        try:
            env["nvidia_smi"] = subprocess.run(
                [
                    "nvidia-smi",
                    "--query-gpu=name,driver_version,memory.total,"
                    "clocks.max.sm,power.limit",
                    "--format=csv,noheader",
                ],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except Exception as err:
            env["nvidia_smi"] = f"failed: {err}"
    return env


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    out_default = (
        Path(os.environ["OUT"]) / "gpu_probe.json"
        if os.environ.get("OUT")
        else Path("gpu_probe.json")
    )
    p.add_argument("--out", default=str(out_default))
    p.add_argument(
        "--budget",
        type=float,
        default=360.0,
        help="seconds after which no new measurement starts",
    )
    p.add_argument("--tsne-reserve", type=float, default=45.0)
    p.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        help="timed seconds per throughput measurement",
    )
    p.add_argument("--fit-seconds", type=float, default=2.0)
    p.add_argument("--min-fit-images", type=int, default=20_000)
    p.add_argument("--pool", type=int, default=400_000)
    p.add_argument("--tsne-n", type=int, default=10_000)
    p.add_argument("--tsne-iters", type=int, default=50)
    p.add_argument("--cpu-threads", type=int, nargs="*", default=None)
    p.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="untimed steps before each timing",
    )
    p.add_argument("--eval-images", type=int, default=10_000)
    p.add_argument(
        "--compile-models",
        nargs="*",
        default=[
            "wide_b64",
            "small_b64",
            "vae_b32",
            "fashionnet_b128",
            "five_conv_3d",
            "two_conv_128d",
        ],
    )
    p.add_argument("--no-compile", action="store_true")
    p.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="main models to measure (default: all)",
    )
    p.add_argument(
        "--secondary",
        nargs="*",
        default=None,
        help="fit-only variants to measure (default: all)",
    )
    p.add_argument(
        "--layout-variants",
        nargs="*",
        default=[],
        help="models to time also as bf16 NCHW, fp32 "
        "channels_last and with cudnn.benchmark",
    )
    p.add_argument("--no-tsne", action="store_true")
    p.add_argument(
        "--fit-variants",
        nargs="*",
        default=list(FIT_VARIANTS),
        help="fit measurements per main model (fit: as the labs run)",
    )
    p.add_argument(
        "--patch-arcface-amp",
        action="store_true",
        help="run the margin heads in fp32 under autocast "
        "(works around scatter's dtype error on CUDA)",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="seconds on a CPU: checks the script runs",
    )
    p.add_argument(
        "--summarize",
        type=Path,
        default=None,
        help="print a results file's markdown table and stop",
    )
    ARGS = p.parse_args()
    if ARGS.summarize:
        print(summary_table(ARGS.summarize))
        return
    device = lu.default_device()
    if ARGS.tiny:
        device = torch.device("cpu")
        ARGS.seconds, ARGS.fit_seconds = 0.2, 0.2
        ARGS.min_fit_images, ARGS.pool = 512, 2048
        ARGS.tsne_n, ARGS.tsne_iters = 300, 4
        ARGS.warmup, ARGS.eval_images, ARGS.budget = 2, 512, 1e9
    if ARGS.cpu_threads is None:
        ARGS.cpu_threads = sorted({os.cpu_count() or 1, 2}, reverse=True)
    env = environment(device)
    if ARGS.patch_arcface_amp:
        patch_arcface_amp()
        env["patched"] = "margin heads forced to fp32 under autocast"
    emit(env)
    stop_at = ARGS.budget
    main_specs = [
        m for m in MAIN if ARGS.models is None or m.name in ARGS.models
    ]
    secondary = [
        m
        for m in SECONDARY
        if ARGS.secondary is None or m.name in ARGS.secondary
    ]

    def time_left(need=0.0):
        return elapsed() + need < stop_at

    for spec in main_specs:
        if not time_left(15):
            emit({"model": spec.name, "skipped": "budget"})
            continue
        flops = guarded(spec.name, count_flops, spec, device) or (None, None)
        r = guarded(spec.name, measure_bare, spec, flops, device, True)
        amp_ips = r["img_per_s"] if r else 5000.0
        fastest = amp_ips
        if device.type == "cuda":
            g = guarded(spec.name, measure_graph, spec, flops, device)
            if g:
                fastest = max(fastest, g["img_per_s"])
        for variant in ARGS.fit_variants:
            if device.type != "cuda" and variant != "fit":
                continue
            hint = amp_ips if variant == "fit_eager" else fastest
            guarded(spec.name, measure_fit, spec, flops, device, hint, variant)
        guarded(spec.name, measure_evaluate, spec, flops, device)
        if device.type == "cuda":
            guarded(spec.name, measure_evaluate_graph, spec, flops, device)
        spec.extra["flops"] = flops
        spec.extra["amp_ips"] = fastest

    for name in ARGS.layout_variants:
        spec = next(m for m in MAIN if m.name == name)
        flops = spec.extra.get("flops", (None, None))
        for variant, amp, cl, bench in (
            ("bare_amp_nchw", True, False, False),
            ("bare_fp32_cl", False, True, False),
            ("bare_amp_benchmark", True, True, True),
            ("bare_fp32_benchmark", False, False, True),
        ):
            if time_left(ARGS.tsne_reserve + 8):
                guarded(
                    name,
                    measure_bare,
                    spec,
                    flops,
                    device,
                    amp,
                    False,
                    variant,
                    cl,
                    bench,
                )

    for spec in secondary:
        if not time_left(ARGS.tsne_reserve + 8):
            emit({"model": spec.name, "skipped": "budget"})
            continue
        flops = guarded(spec.name, count_flops, spec, device) or (None, None)
        base = next(
            (m for m in MAIN if m.name.startswith(spec.name.split("_")[0])),
            None,
        )
        hint = (base.extra.get("amp_ips") if base else None) or 5000.0
        guarded(
            spec.name,
            measure_fit,
            spec,
            flops,
            device,
            hint * (spec.batch / 64) ** 0.5,
        )

    for name in ARGS.compile_models:
        spec = next(m for m in MAIN if m.name == name)
        limit = stop_at - ARGS.tsne_reserve - elapsed()
        if ARGS.no_compile or limit < 40:
            emit(
                {
                    "model": name,
                    "variant": "compiled",
                    "skipped": "budget" if not ARGS.no_compile else "flag",
                }
            )
            continue
        guarded(
            name,
            measure_compiled,
            spec,
            spec.extra.get("flops", (None, None)),
            device,
            limit,
        )

    goals()
    if ARGS.no_tsne:
        emit({"model": "done", "total_s": round(elapsed(), 1)})
        return
    if device.type == "cuda":
        POOLS.clear()
        torch.cuda.empty_cache()
    guarded("tsne", tsne_probe, device, ARGS.tsne_n)
    if elapsed() < stop_at + ARGS.tsne_reserve:
        guarded("pca", pca_probe, device)
    if elapsed() < stop_at + ARGS.tsne_reserve:
        guarded(
            "tsne_lab2",
            tsne_probe,
            device,
            min(2000, ARGS.tsne_n),
            128,
            "lab2",
        )
    emit({"model": "done", "total_s": round(elapsed(), 1)})


if __name__ == "__main__":
    main()
