"""Models shared by the labs; each lab's own architectures join here."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class SmallCNN(nn.Module):
    """Two conv blocks and a linear classifier: a quick baseline that
    learns MNIST-sized data in seconds on a CPU.

    in_channels, image_size, n_classes: from the data; width: channels of
    the first conv (the second has twice as many).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10,
                 image_size: int = 28, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.embedding = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * side * side, 64), nn.ReLU())
        self.classifier = nn.Linear(64, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, c, h, w) float -> logits (n, n_classes)."""
        return self.classifier(self.embedding(self.features(X)))


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
        raise ValueError(f"Unknown preset {preset!r}. Choose one of: "
                         f"{', '.join(PRESETS)}.")
    fields = set(ThreeConvConfig.__dataclass_fields__)
    unknown = set(changes) - fields
    if unknown:
        raise ValueError(f"ThreeConvNet has no option(s) "
                         f"{', '.join(sorted(unknown))}. Options: "
                         f"{', '.join(sorted(fields))}.")
    return replace(PRESETS[preset], **changes)


class ThreeConvNet(nn.Module):
    """Exactly three 3x3 conv layers (stride 1, pad 1), each followed by
    ReLU and 2x2 max-pooling, then a fully connected classifier.

    With ``dense=True`` the convs are densely connected: conv k sees the
    image and all earlier conv outputs, max-pooled to its resolution and
    concatenated, and the classifier sees all of them too. Still three
    convolutions: the connections add inputs, not layers.
    """

    def __init__(self, config: ThreeConvConfig = PRESETS["small"],
                 in_channels: int = 3, n_classes: int = 10,
                 image_size: int = 32):
        super().__init__()
        if not 0.0 <= config.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got "
                             f"{config.dropout}.")
        if image_size % 8:
            raise ValueError(f"image_size must be divisible by 8 (three "
                             f"2x2 poolings), got {image_size}.")
        self.config = config
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        seen = in_channels  # channels available to the next conv
        c_in = in_channels
        for width in config.widths:
            self.convs.append(nn.Conv2d(seen if config.dense else c_in,
                                        width, 3, padding=1,
                                        bias=config.bias))
            self.norms.append(nn.BatchNorm2d(width) if config.batch_norm
                              else nn.Identity())
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

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, c, h, w) float -> logits (n, n_classes)."""
        if self.config.dense:
            maps = [X]
            for conv, norm in zip(self.convs, self.norms):
                h = self.pool(torch.relu(norm(conv(torch.cat(maps, 1)))))
                maps = [self.pool(m) for m in maps] + [h]
            X = torch.cat(maps, 1)
        else:
            for conv, norm in zip(self.convs, self.norms):
                X = self.pool(torch.relu(norm(conv(X))))
        return self.classifier(self.hidden(self.flatten(X)))


def summarize(model: nn.Module, input_shape: tuple[int, ...]
              ) -> "pd.DataFrame":
    """Output shape and parameter count of every leaf layer for one input
    of ``input_shape`` (c, h, w), in call order."""
    import pandas as pd

    rows, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            rows.append({"layer": name, "type": type(module).__name__,
                         "output shape": tuple(output.shape[1:]),
                         "parameters": sum(p.numel() for p in
                                           module.parameters())})
        return hook

    for name, module in model.named_modules():
        if name and not list(module.children()) and \
                not isinstance(module, nn.Identity):
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
