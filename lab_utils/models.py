"""Models shared by the labs; each lab's own architectures join here."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
import torch
import torch.nn as nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class ThreeConvConfig:
    """Options of :class:`ThreeConvNet`.

    widths: output channels of the three 3x3 convs; fc: hidden sizes of the
    classifier; batch_norm: after each conv and hidden linear layer;
    dropout: p after each hidden linear layer (0 = off); dense: DenseNet
    style, each conv sees the concatenation of the image and every earlier
    conv output; bias: conv and linear biases (batch norm keeps its own
    shift, which plays the same role).
    """

    widths: tuple[int, int, int] = (16, 32, 64)
    fc: tuple[int, ...] = (500,)
    batch_norm: bool = False
    dropout: float = 0.0
    dense: bool = False
    bias: bool = True


# The two designs of past course reports (see Lab 2).
PRESETS = {
    "wide": ThreeConvConfig(widths=(256, 128, 64), fc=(512, 128)),
    "small": ThreeConvConfig(widths=(16, 32, 64), fc=(500,)),
}


def three_conv_config(preset: str = "small", **changes) -> ThreeConvConfig:
    """A preset's config with some options changed, checked by name."""
    if preset not in PRESETS:
        raise ValueError(
            f"Unknown preset {preset!r}. Choose one of: {', '.join(PRESETS)}."
        )
    fields = set(ThreeConvConfig.__dataclass_fields__)
    unknown = set(changes) - fields
    if unknown:
        raise ValueError(
            f"ThreeConvNet has no option(s) "
            f"{', '.join(sorted(unknown))}. Options: "
            f"{', '.join(sorted(fields))}."
        )
    return replace(PRESETS[preset], **changes)


def check_images(
    model: nn.Module, X: torch.Tensor, channels, size, fixed: bool = False
):
    """Refuse a batch the model was not built for, with a message that
    says what it expects (instead of a shape error deep inside). fixed:
    the model comes in this one size only."""
    if X.dim() != 4 or X.shape[1] != channels or X.shape[-2:] != (size, size):
        other = (
            ""
            if fixed
            else " (or build the model for this data's size and channels)"
        )
        raise ValueError(
            f"{type(model).__name__} was built for images of shape "
            f"(n, {channels}, {size}, {size}), got {tuple(X.shape)}. Load "
            f"the data with image_size={size}{other}."
        )


class ThreeConvNet(nn.Module):
    """Exactly three 3x3 conv layers (stride 1, pad 1), each followed by
    ReLU and 2x2 max-pooling, then a fully connected classifier.

    With ``dense=True`` the convs are densely connected: conv k sees the
    image and all earlier conv outputs, max-pooled to its resolution and
    concatenated, and the classifier sees all of them too. Still three
    convolutions: the connections add inputs, not layers.
    """

    def __init__(
        self,
        config: ThreeConvConfig = PRESETS["small"],
        in_channels: int = 3,
        n_classes: int = 10,
        image_size: int = 32,
    ):
        super().__init__()
        if not 0.0 <= config.dropout < 1.0:
            raise ValueError(
                f"dropout must be in [0, 1), got {config.dropout}."
            )
        if image_size % 8:
            raise ValueError(
                f"image_size must be divisible by 8 (three "
                f"2x2 poolings), got {image_size}."
            )
        self.config = config
        self.in_channels, self.image_size = in_channels, image_size
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        seen = in_channels  # channels available to the next conv
        c_in = in_channels
        for width in config.widths:
            self.convs.append(
                nn.Conv2d(
                    seen if config.dense else c_in,
                    width,
                    3,
                    padding=1,
                    bias=config.bias,
                )
            )
            self.norms.append(
                nn.BatchNorm2d(width) if config.batch_norm else nn.Identity()
            )
            seen += width
            c_in = width
        flat_channels = seen if config.dense else c_in
        d = flat_channels * (image_size // 8) ** 2
        hidden = []
        for h in config.fc:
            hidden += [nn.Linear(d, h, bias=config.bias)]
            if config.batch_norm:
                hidden.append(nn.BatchNorm1d(h))
            hidden.append(nn.ReLU())
            if config.dropout:
                hidden.append(nn.Dropout(config.dropout))
            d = h
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        # The penultimate representation (after the hidden layers): the
        # "features" Lab 2 draws with t-SNE.
        self.hidden = nn.Sequential(*hidden)
        self.classifier = nn.Linear(d, n_classes, bias=config.bias)

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """The maps the classifier reads: X (n, c, h, w) float ->
        (n, channels, h / 8, w / 8); with ``dense`` the image and all three
        conv outputs, pooled to that size and concatenated."""
        check_images(self, X, self.in_channels, self.image_size)
        if self.config.dense:
            maps = [X]
            for conv, norm in zip(self.convs, self.norms):
                h = self.pool(torch.relu(norm(conv(torch.cat(maps, 1)))))
                maps = [self.pool(m) for m in maps] + [h]
            return torch.cat(maps, 1)
        for conv, norm in zip(self.convs, self.norms):
            X = self.pool(torch.relu(norm(conv(X))))
        return X

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, c, h, w) float -> logits (n, n_classes)."""
        return self.classifier(self.hidden(self.flatten(self.features(X))))


def forward_flops(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """FLOPs of one forward pass per image of ``input_shape`` (c, h, w),
    counted by ``torch.utils.flop_counter`` on a batch of two in eval
    mode (a multiply-add counts as two)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        X = torch.zeros(2, *input_shape, device=device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(X)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> pd.DataFrame:
    """Output shape and parameter count of every leaf layer for one input
    of ``input_shape`` (c, h, w), in call order."""
    rows, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            rows.append(
                {
                    "layer": name,
                    "type": type(module).__name__,
                    "output shape": tuple(output.shape[1:]),
                    "parameters": sum(p.numel() for p in module.parameters()),
                }
            )

        return hook

    for name, module in model.named_modules():
        if (
            name
            and not list(module.children())
            and not isinstance(module, nn.Identity)
        ):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return pd.DataFrame(rows)


class FashionNet(nn.Module):
    """After the Fashion-MNIST report's CNN: four blocks of 3x3 conv (pad
    1), ReLU, batch norm and 2x2 max-pool (1->16->32->64->128 channels),
    as the report's, then FC 512->256->128->10 with batch norm, where the
    hidden layers run Linear, BatchNorm, ReLU (the report's ran Linear,
    ReLU, BatchNorm). It was designed for 32x32 input;
    28x28 images are zero-padded to 32x32 (their background is black), so
    both sizes work without resizing.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        blocks, c_in = [], 1
        for c_out in (16, 32, 64, 128):
            blocks += [
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.ReLU(),
                nn.BatchNorm2d(c_out),
                nn.MaxPool2d(2),
            ]
            c_in = c_out
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.hidden = nn.Sequential(
            nn.Linear(512, 256),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.Linear(256, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(128, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, 1, 28 or 32, same) -> logits (n, n_classes)."""
        size = X.shape[-1]
        if size == 28:
            X = nn.functional.pad(X, (2, 2, 2, 2))
        elif size != 32:
            raise ValueError(
                f"FashionNet takes 28x28 or 32x32 images, got {size}x{size}."
            )
        return self.classifier(self.hidden(self.features(X)))
