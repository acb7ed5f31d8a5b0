"""The CUDA-graph path of ``fit`` (lab_utils.graphs), checked on the CPU.

A CUDA graph records a step once and replays its kernels on the same
memory. Here ``graphs.capture`` is replaced by its eager equivalent (the
recorded function itself, with the gradients the capture would have
written fresh), so everything around the capture runs for real on real
digits: the warm-up, the input buffers, the sums kept on the device, the
recapture when a scheduler changes the rate, the short last batch, the
fallback when a step cannot be captured, and fp16's overflow handling
without a host sync. Each must train exactly as the eager engine does.
tests/test_cuda.py runs the real graphs on a GPU.
"""

import pytest
import torch
import torch.nn.functional as F
from tiny_models import SmallCNN

import lab_utils as lu
from lab_utils import engine, graphs


@pytest.fixture
def eager_capture(monkeypatch):
    """graphs.capture as the function it records: each replay runs it,
    after setting the gradients to None (a captured backward writes them
    fresh, it does not add to them)."""
    recorded = []

    def capture(fn):
        recorded.append(fn)

        def replay():
            for model in tracked_models:
                for p in model.parameters():
                    p.grad = None
            fn()

        return replay

    tracked_models: list = []
    monkeypatch.setattr(graphs, "capture", capture)
    return tracked_models, recorded


def run(data, steps_for, epochs=2, seed=0, step=lu.classification_step):
    """Train a SmallCNN for ``epochs`` with Adam and a rate halved every
    epoch; steps_for(model, optimizer, precision, scaler) returns an
    object with train(batches, epoch) and evaluate(batches)."""
    train, test = data
    lu.seed_everything(seed)
    model = SmallCNN(in_channels=1, width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    precision = engine.Precision.choose("cpu")
    scaler = precision.scaler()
    steps = steps_for(model, optimizer, step, precision, scaler)
    loader = lu.TensorLoader(train, 64, shuffle=True, seed=seed)
    val = lu.TensorLoader(test, 128)
    rows = []
    for epoch in range(1, epochs + 1):
        metrics, first = steps.train(loader, epoch)
        metrics.update(steps.evaluate(val))
        rows.append((metrics, first))
        scheduler.step()
    return model, rows, steps


def eager_steps(model, optimizer, step, precision, scaler):
    return engine._Steps(model, optimizer, step, precision, scaler, False)


def graphed_steps(tracked):
    def make(model, optimizer, step, precision, scaler):
        tracked.append(model)
        steps = engine._Steps(model, optimizer, step, precision, scaler, False)
        steps.graphed = graphs.GraphedSteps(
            model, optimizer, step, precision, scaler
        )
        return steps

    return make


def assert_same_training(a, b):
    model_a, rows_a, _ = a
    model_b, rows_b, _ = b
    for (m_a, first_a), (m_b, first_b) in zip(rows_a, rows_b):
        assert first_a == first_b
        assert m_a.keys() == m_b.keys()
        for k in m_a:
            assert m_a[k] == pytest.approx(m_b[k], rel=1e-12, abs=1e-12), k
    assert lu.max_weight_difference(model_a, model_b) == 0.0


def test_replayed_steps_train_exactly_as_eager_ones(
    mnist_small, eager_capture
):
    tracked, recorded = eager_capture
    eager = run(mnist_small, eager_steps)
    graphed = run(mnist_small, graphed_steps(tracked))
    assert_same_training(eager, graphed)
    steps = graphed[2].graphed
    # 600 images in batches of 64: 9 full batches and a short one a
    # epoch. Warm-up 3, then one capture per epoch (the rate changed),
    # every other full batch replayed, the short ones eager.
    assert steps.fallback is None
    assert steps.captures == 2
    assert steps.eager == graphs.WARMUP + 2
    assert steps.replays == 2 * 9 - graphs.WARMUP
    # and the evaluation's two shapes (128 of 300: two full batches, then
    # 44), each captured the second time it is seen
    assert len(recorded) == 4


def test_a_step_that_cannot_be_captured_trains_eagerly(
    mnist_small, eager_capture, monkeypatch
):
    tracked, _ = eager_capture

    def refuse(fn):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(graphs, "capture", refuse)
    eager = run(mnist_small, eager_steps, epochs=1)
    graphed = run(mnist_small, graphed_steps(tracked), epochs=1)
    assert_same_training(eager, graphed)
    steps = graphed[2].graphed
    assert "capture failed" in steps.fallback
    assert steps.replays == 0 and steps.eager == 10


def test_an_optimizer_with_state_on_the_host_is_never_captured(
    mnist_small, eager_capture
):
    tracked, recorded = eager_capture
    model = SmallCNN(in_channels=1, width=8)
    optimizer = lu.HandWrittenOptimizer(model.parameters(), "adam", 1e-3)
    assert "HandWrittenOptimizer" in graphs.why_not_capturable(optimizer)
    precision = engine.Precision.choose("cpu")
    steps = graphs.GraphedSteps(
        model, optimizer, lu.classification_step, precision, precision.scaler()
    )
    loader = lu.TensorLoader(mnist_small[0], 64)
    steps.train_epoch(loader, lambda *a: None, 100)
    assert steps.eager == 10 and not recorded


def overflowing_step(model, batch):
    """Cross-entropy times 1e36 on batches whose first label is 0: under
    loss scaling their gradients overflow, and the update is skipped."""
    out = lu.classification_step(model, batch)
    factor = torch.where(batch[1][0] == 0, 1e36, 1.0)
    return {**out, "loss": out["loss"] * factor}


def test_fp16_overflow_skips_the_update_on_the_device(
    mnist_small, eager_capture, monkeypatch
):
    """GradScaler's skip-and-back-off, done in the graph without reading
    the overflow flag to the host, skips the same batches and ends with
    the same weights, optimizer state and scale."""
    tracked, _ = eager_capture

    def with_scaler(make):
        def steps_for(model, optimizer, step, precision, scaler):
            scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
            return make(model, optimizer, step, precision, scaler)

        return steps_for

    eager = run(mnist_small, with_scaler(eager_steps), step=overflowing_step)
    graphed = run(
        mnist_small,
        with_scaler(graphed_steps(tracked)),
        step=overflowing_step,
    )
    model_e, _, steps_e = eager
    model_g, _, steps_g = graphed
    assert steps_g.graphed.fp16 and steps_g.graphed.replays > 5
    assert lu.max_weight_difference(model_e, model_g) == 0.0
    scale_e = steps_e.args[4].get_scale()
    scale_g = steps_g.graphed.scaler.get_scale()
    assert scale_e == scale_g < 2.0**10  # some updates were skipped
    state_e = steps_e.args[1].state_dict()["state"]
    state_g = steps_g.graphed.optimizer.state_dict()["state"]
    for i in state_e:
        assert float(state_e[i]["step"]) == float(state_g[i]["step"])
        torch.testing.assert_close(
            state_e[i]["exp_avg"], state_g[i]["exp_avg"], rtol=0, atol=0
        )


def test_the_loader_prepares_chunks_on_cuda_only(mnist_small):
    train, _ = mnist_small
    assert lu.TensorLoader(train, 64).batches_per_chunk() == 1
    batches = list(lu.TensorLoader(train, 64, shuffle=True, seed=3))
    assert [len(y) for _, y in batches] == [64] * 9 + [24]
    assert F.one_hot(torch.cat([y for _, y in batches])).sum(0).sum() == 600
