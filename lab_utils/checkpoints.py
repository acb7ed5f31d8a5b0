"""Checkpoints: a training run's full state, written so a crash never
leaves half a file, and read back with errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import torch

from .files import atomic_write


def save_checkpoint(path: str | Path, **state) -> Path:
    """Write ``state`` with ``torch.save`` atomically: a crash mid-write
    leaves the previous checkpoint intact."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by ``fit``, with an error that says what
    to do when the file is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint at {path}. Train first, or check the path."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise ValueError(
            f"Cannot read the checkpoint {path} ({err}). It is "
            f"damaged or not a checkpoint; it was left as it "
            f"is."
        ) from None


def save_training_state(path, epoch: int, state: dict, stopped: bool):
    """Everything ``fit`` needs to continue after ``epoch`` as if it had
    never stopped. state: fit's live objects (model, optimizer, scheduler,
    callbacks, loader, history, the mixed-precision loss scaler); saved
    with torch's random states (CPU and CUDA)."""
    loader = state["loader"]
    save_checkpoint(
        path,
        epoch=epoch,
        model=state["model"].state_dict(),
        optimizer=state["optimizer"].state_dict(),
        scheduler=(
            state["scheduler"].state_dict() if state["scheduler"] else None
        ),
        callbacks=[
            (type(cb).__name__, cb.state_dict()) for cb in state["callbacks"]
        ],
        scaler=(state["scaler"].state_dict() if state.get("scaler") else None),
        cuda_rng=(
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_available()
            else None
        ),
        loader=loader.state_dict() if hasattr(loader, "state_dict") else None,
        torch_rng=torch.get_rng_state(),
        history=list(state["history"]),
        start_loss=state.get("start_loss"),
        stopped=stopped,
    )


def restore_training_state(path, state: dict) -> tuple[int, bool]:
    """Load what ``save_training_state`` wrote into ``state``'s live
    objects; returns (the last finished epoch, whether a callback had
    stopped training)."""
    ckpt = load_checkpoint(path)
    try:
        state["model"].load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(
            f"The checkpoint {path} was written by a different model "
            f"({str(err).splitlines()[0]}). Use the model it was trained "
            f"with, or a new checkpoint path; the file was left as it "
            f"is."
        ) from None
    state["optimizer"].load_state_dict(ckpt["optimizer"])
    if state["scheduler"] is not None and ckpt.get("scheduler"):
        state["scheduler"].load_state_dict(ckpt["scheduler"])
    # Each callback gets the saved state of its own kind (in order), so a
    # callback added or dropped between runs never receives another's.
    # Checkpoints written before states were named hold bare states, in
    # the order of the callbacks.
    kinds = [type(cb).__name__ for cb in state["callbacks"]]
    saved = [
        entry if isinstance(entry, tuple) else (kinds[i], entry)
        for i, entry in enumerate(ckpt.get("callbacks", []))
        if isinstance(entry, tuple) or i < len(kinds)
    ]
    for cb, kind in zip(state["callbacks"], kinds):
        for i, (name, cb_state) in enumerate(saved):
            if name == kind:
                cb.load_state_dict(cb_state)
                del saved[i]
                break
    if state.get("scaler") is not None and ckpt.get("scaler"):
        state["scaler"].load_state_dict(ckpt["scaler"])
    if ckpt.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
    loader = state["loader"]
    if ckpt.get("loader") and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(ckpt["loader"])
    torch.set_rng_state(ckpt["torch_rng"])
    state["history"].extend(ckpt["history"])
    state["start_loss"] = ckpt.get("start_loss")
    return ckpt["epoch"], bool(ckpt.get("stopped"))
