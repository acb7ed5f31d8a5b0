"""CUDA graphs: a whole training step replayed with one launch.

A small network's step on a GPU costs what its launches cost, not its
arithmetic: forward, loss, backward and the optimizer's update are a few
hundred kernels of microseconds each, and the host needs longer than
that to launch them one by one. PyTorch can record the step once as a
CUDA graph ("whole network capture", its CUDA semantics notes) and replay
it with a single launch. :class:`GraphedSteps` does that for ``fit``:

* the first ``WARMUP`` batches train eagerly (real updates, on a side
  stream, so lazy initialisation happens outside the capture); the next
  full batch is captured and replayed, and every later full batch is
  copied into the graph's input buffers and replayed;
* a batch of another shape (the short last batch) trains eagerly, as
  does every batch when capture is impossible (a step that reads values
  to the host, an optimizer that keeps its state on the host);
* the per-batch metrics are summed inside the graph, so nothing is read
  to the host until ``fit`` asks;
* a learning rate is baked into the graph as a number, so the step is
  captured again when a scheduler or callback changes any
  hyper-parameter (at most once per epoch);
* fp16 (a T4 has no bf16) scales the loss and skips an update whose
  gradients overflowed on the device, without the host sync of
  ``GradScaler.step``: the parameters and optimizer state are restored
  where the overflow flag is set, and the scale is updated by the same
  kernel ``GradScaler.update`` uses;
* dropout's randomness comes from the default CUDA generator, whose
  offset advances with every replay, so it stays random and seeded.

Evaluation is captured likewise (eval mode, no gradients), once per
input shape. Nothing here runs on the CPU or Apple's MPS.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager

import torch
import torch.nn as nn

# Eager batches before the first capture: lazy initialisation (cuBLAS
# and cuDNN handles, autograd's buffers, the optimizer's state) must
# happen before capture; PyTorch's own example warms up with three.
WARMUP = 3

# Optimizers whose step keeps no state on the host once it has run:
# SGD's momentum buffer lives on the device; Adam, AdamW and RMSprop
# count their steps on the device when ``capturable`` is set.
CAPTURABLE = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.RMSprop,
)


def graphs_enabled(device: torch.device) -> bool:
    """Whether ``fit`` captures its steps: on CUDA, unless
    ``$LAB_CUDA_GRAPHS`` is 0/false/no (eager, to compare or debug)."""
    if device.type != "cuda":
        return False
    return os.environ.get("LAB_CUDA_GRAPHS", "1").strip().lower() not in (
        "0",
        "false",
        "no",
    )


def why_not_capturable(optimizer) -> str | None:
    """None if ``optimizer``'s step can be captured, else the reason."""
    if type(optimizer) not in CAPTURABLE:
        return (
            f"{type(optimizer).__name__} is not one of the optimizers "
            f"whose step runs on the device alone"
        )
    if any(g.get("differentiable") for g in optimizer.param_groups):
        return "a differentiable optimizer"
    return None


def wide(value: torch.Tensor) -> torch.Tensor:
    """A batch metric widened for summing on its device (float64, or
    float32 where the device has no float64, as Apple's MPS), so that
    sums are read to the host once per pass, not once per batch."""
    if not isinstance(value, torch.Tensor):
        return torch.tensor(float(value), dtype=torch.float64)
    value = value.detach()
    return value.double() if value.device.type != "mps" else value.float()


def eager_update(model, batch, optimizer, step, precision, scaler) -> dict:
    """One training step as a first course writes it, with mixed
    precision: forward (``step``), zero_grad, backward, optimizer step.
    Returns ``step``'s metrics."""
    with precision.autocast():
        out = step(model, batch)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(out["loss"]).backward()
    scaler.step(optimizer)
    scaler.update()
    return out


def _make_capturable(optimizer) -> None:
    """Keep Adam's (and RMSprop's) step counts on the device, so that a
    replayed update sees the count grow; a checkpoint's counts follow."""
    for group in optimizer.param_groups:
        on_cuda = all(p.device.type == "cuda" for p in group["params"])
        if on_cuda and "capturable" in group and not group["capturable"]:
            group["capturable"] = True
            for p in group["params"]:
                step = optimizer.state.get(p, {}).get("step")
                if isinstance(step, torch.Tensor) and step.device != p.device:
                    optimizer.state[p]["step"] = step.to(
                        p.device, torch.float32
                    )


def capture(fn):
    """Record ``fn()`` as a CUDA graph (computing nothing) and return its
    replay: a call that runs the recorded kernels again, on the same
    memory. ``fn`` must write its results into tensors that outlive it."""
    graph = torch.cuda.CUDAGraph()
    # thread_local: another thread's CUDA calls (a sweep's) never break
    # this capture.
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        fn()
    return graph.replay


@contextmanager
def side_stream(device: torch.device):
    """Work on a side stream that waits for, and is waited for by, the
    current one (where a capture's warm-up must run); nothing off CUDA."""
    if device.type != "cuda":
        yield
        return
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        yield
    torch.cuda.current_stream().wait_stream(side)


def _hyper_parameters(optimizer) -> tuple:
    """What a captured update baked in: every group's settings."""
    return tuple(
        tuple(sorted((k, repr(v)) for k, v in g.items() if k != "params"))
        for g in optimizer.param_groups
    )


def _signature(batch) -> tuple:
    return tuple((tuple(t.shape), t.dtype) for t in batch)


class GraphedSteps:
    """``fit``'s training and evaluation steps on CUDA, captured once and
    replayed (see the module's docstring). ``train_epoch`` and
    ``evaluate`` return what ``engine.fit_epoch`` and ``engine.evaluate``
    return, computed with the same operations.

    ``captures`` counts the training steps captured, ``replays`` the
    batches trained by replay, ``eager`` those trained eagerly;
    ``fallback`` says why a step could not be captured (then every
    batch trains eagerly).
    """

    def __init__(self, model: nn.Module, optimizer, step, precision, scaler):
        self.model, self.optimizer, self.step = model, optimizer, step
        self.precision, self.scaler = precision, scaler
        self.fp16 = scaler.is_enabled()
        self.fallback = why_not_capturable(optimizer)
        if self.fallback is None:
            _make_capturable(optimizer)
        self.replay = None  # the captured training step
        self.key = None  # (batch signature, hyper-parameters) captured
        self.inputs = None  # the graph's input buffers
        self.grads = None  # the gradients it writes
        self.loss = None  # the last batch's loss, written by the graph
        self.sums: dict = {}
        self.good_updates = 0
        self.captures = self.replays = self.eager = 0
        self.eval_graphs: dict = {}

    # --- training ----------------------------------------------------

    def train_epoch(self, batches, check, every: int) -> tuple[dict, float]:
        """One pass over ``batches`` (already cut for a dry run) in train
        mode: the metrics' batch-weighted means and the first batch's loss
        (as fit_epoch). check(loss_sum, first_batch, last_batch) is called
        every ``every`` batches and at the end."""
        self.model.train()
        for v in self.sums.values():
            v.zero_()
        n, first, checked, b = 0, None, 0, 0
        for b, batch in enumerate(batches, start=1):
            loss = self._train_batch(batch)
            if first is None:
                first = loss.detach().float().clone()
            n += len(batch[0])
            if b % every == 0:
                check(self.sums["loss"], checked + 1, b)
                checked = b
        if n == 0:
            raise ValueError(
                "The training loader produced no batches: "
                "check the dataset size and batch_size."
            )
        if checked < b:
            check(self.sums["loss"], checked + 1, b)
        return (
            {f"train_{k}": float(v) / n for k, v in self.sums.items()},
            float(first),
        )

    def _train_batch(self, batch) -> torch.Tensor:
        key = (_signature(batch), _hyper_parameters(self.optimizer))
        if self.replay is not None and key == self.key:
            for buffer, t in zip(self.inputs, batch):
                buffer.copy_(t, non_blocking=True)
            self.replay()
            self.replays += 1
            return self.loss
        ready = self.fallback is None and self.good_updates >= WARMUP
        if ready and self.key is not None and key[0] != self.key[0]:
            ready = False  # another shape: the short last batch
        if ready:
            try:
                self._capture(batch, key)
            except Exception as err:  # a step that cannot be captured
                self.fallback = f"capture failed: {str(err)[:300]}"
                self.replay = self.key = self.inputs = self.grads = None
                _recover(self.precision.device)
            else:
                return self._first_replay()
        return self._eager(batch)

    def _eager(self, batch) -> torch.Tensor:
        batch = self.precision.batch(batch)
        before = self.scaler.get_scale() if self.fp16 else None
        with side_stream(self.precision.device):
            out = eager_update(
                self.model,
                batch,
                self.optimizer,
                self.step,
                self.precision,
                self.scaler,
            )
            self._accumulate(out, len(batch[0]))
            if self.loss is None:
                self.loss = torch.zeros(
                    (), dtype=torch.float32, device=self.precision.device
                )
        # GradScaler lowers the scale exactly when it skipped the update.
        if not self.fp16 or self.scaler.get_scale() >= before:
            self.good_updates += 1
        self.eager += 1
        return out["loss"]

    def _accumulate(self, out: dict, size: int) -> None:
        for k, v in out.items():
            if k not in self.sums:
                self.sums[k] = torch.zeros(
                    (), dtype=torch.float64, device=self.precision.device
                )
            self.sums[k].add_(wide(v) * size)

    def _capture(self, batch, key) -> None:
        """Record one update on ``batch`` as a graph (which computes
        nothing: ``_first_replay`` then trains on that batch)."""
        batch = self.precision.batch(batch)
        self.replay = self.grads = None  # the old graph's memory goes back
        inputs = tuple(t.clone() for t in batch)
        self.optimizer.zero_grad(set_to_none=True)
        replay = capture(lambda: self._graphed_update(inputs))
        # Backward wrote the gradients into the graph's memory; keep them
        # alive even if an eager step later sets them to None.
        self.grads = [
            p.grad for g in self.optimizer.param_groups for p in g["params"]
        ]
        self.replay, self.inputs, self.key = replay, inputs, key
        self.captures += 1

    def _first_replay(self) -> torch.Tensor:
        self.replay()
        self.replays += 1
        return self.loss

    def _autocast(self):
        # Autocast's cast cache must be off inside a capture.
        return torch.autocast(
            "cuda",
            dtype=self.precision.amp_dtype(),
            enabled=self.precision.amp,
            cache_enabled=False,
        )

    def _graphed_update(self, batch) -> None:
        with self._autocast():
            out = self.step(self.model, batch)
        loss = out["loss"]
        if self.fp16:
            (loss.float() * self.scaler._scale).backward()
            self._unscale_and_step()
        else:
            loss.backward()
            self.optimizer.step()
        self._accumulate(out, len(batch[0]))
        self.loss.copy_(loss.detach())

    def _unscale_and_step(self) -> None:
        """GradScaler's unscale, step-unless-overflow and update, with
        the decision taken on the device: no host sync."""
        scaler, optimizer = self.scaler, self.optimizer
        params = [
            p
            for g in optimizer.param_groups
            for p in g["params"]
            if p.grad is not None
        ]
        found_inf = torch.zeros(1, device=self.precision.device)
        inv_scale = scaler._scale.double().reciprocal().float()
        torch._amp_foreach_non_finite_check_and_unscale_(
            [p.grad for p in params], found_inf, inv_scale
        )
        state = [
            t
            for p in params
            for t in optimizer.state[p].values()
            if isinstance(t, torch.Tensor)
        ]
        before = [t.clone() for t in params + state]
        optimizer.step()
        overflow = found_inf[0] > 0  # 0-d: broadcasts to every shape
        with torch.no_grad():
            for t, old in zip(params + state, before):
                t.copy_(torch.where(overflow, old, t))
        torch._amp_update_scale_(
            scaler._scale,
            scaler._growth_tracker,
            found_inf,
            scaler._growth_factor,
            scaler._backoff_factor,
            scaler._growth_interval,
        )

    # --- evaluation --------------------------------------------------

    @torch.no_grad()
    def evaluate(self, batches) -> dict:
        """Mean of each ``step`` metric over ``batches`` in eval mode, as
        ``engine.evaluate``; full batches after the first of their shape
        replay a captured forward pass."""
        was_training = self.model.training
        self.model.eval()
        sums, n = {}, 0
        try:
            for batch in batches:
                batch = self.precision.batch(batch)
                out = self._eval_batch(batch)
                size = len(batch[0])
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v * size
                n += size
        finally:
            self.model.train(was_training)
        if n == 0:
            raise ValueError(
                "evaluate() got an empty loader: check the "
                "dataset size and batch_size."
            )
        return {k: float(v) / n for k, v in sums.items()}

    def _eval_batch(self, batch) -> dict:
        key = _signature(batch)
        entry = self.eval_graphs.get(key)
        if entry is None:  # first of its shape: eager, and warms up
            self.eval_graphs[key] = "seen"
            return self._eval_eager(batch)
        if entry == "seen" and self.fallback is None:
            inputs = tuple(t.clone() for t in batch)
            outputs = {}

            def forward():
                for k, v in self._eval_eager(inputs).items():
                    if k not in outputs:
                        outputs[k] = torch.empty_like(v)
                    outputs[k].copy_(v)

            try:
                forward()  # makes the output buffers (and warms up)
                entry = (capture(forward), inputs, outputs)
            except Exception:  # a forward pass that cannot be captured
                entry = "eager"
                _recover(self.precision.device)
            self.eval_graphs[key] = entry
        if isinstance(entry, tuple):
            replay, inputs, outputs = entry
            for buffer, t in zip(inputs, batch):
                buffer.copy_(t, non_blocking=True)
            replay()
            return {k: v.clone() for k, v in outputs.items()}
        return self._eval_eager(batch)

    def _eval_eager(self, batch) -> dict:
        with self._autocast():
            out = self.step(self.model, batch)
        return {k: wide(v) for k, v in out.items()}


def _recover(device: torch.device) -> None:
    """Leave a failed capture behind. It never reached its end, so the
    default CUDA generator still believes it is being captured, and every
    later random draw outside a capture (dropout, the VAE's noise) fails
    with "Offset increment outside graph capture encountered
    unexpectedly". An empty capture that does end puts it back."""
    if device.type != "cuda":
        return
    try:
        torch.cuda.synchronize(device)
    except RuntimeError:
        pass  # the capture's own error; the eager step reports others
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The CUDA Graph is empty"
        try:
            capture(lambda: None)
        except RuntimeError:
            pass
