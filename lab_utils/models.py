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

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """The maps the classifier reads: X (n, c, h, w) float ->
        (n, channels, h / 8, w / 8); with ``dense`` the image and all three
        conv outputs, pooled to that size and concatenated."""
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


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class EmbeddingNet(nn.Module):
    """An MNIST backbone that maps a (n, 1, 28, 28) batch to embeddings.

    preset "five_conv": the 3-D report's net, convs 1->64 (stride 2),
    64->256 (s2), 256->256, 256->64, 64->16 (s2), all 3x3 with batch norm,
    then linear 256 -> embedding_dim. preset "two_conv": the 128-D report's
    net, convs 1->32 and 32->64 (3x3, batch norm, 2x2 max-pool each), then
    linear 3136 -> embedding_dim. width: multiplies every conv's channels
    (1.0 = the report; smaller for a quick CPU run).
    """

    PRESETS = ("five_conv", "two_conv")

    def __init__(self, preset: str = "five_conv", embedding_dim: int = 3,
                 width: float = 1.0):
        super().__init__()
        if preset not in self.PRESETS:
            raise ValueError(f"Unknown preset {preset!r}. Choose one of: "
                             f"{', '.join(self.PRESETS)}.")

        def w(c):
            return max(1, round(c * width))

        if preset == "five_conv":
            self.features = nn.Sequential(
                _conv_bn(1, w(64), 2), _conv_bn(w(64), w(256), 2),
                _conv_bn(w(256), w(256)), _conv_bn(w(256), w(64)),
                _conv_bn(w(64), 16, 2), nn.Flatten())
            flat = 16 * 4 * 4  # 28 -> 14 -> 7 -> 4
        else:
            self.features = nn.Sequential(
                _conv_bn(1, w(32)), nn.MaxPool2d(2),
                _conv_bn(w(32), w(64)), nn.MaxPool2d(2), nn.Flatten())
            flat = w(64) * 7 * 7
        self.embedding = nn.Linear(flat, embedding_dim)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, 1, 28, 28) -> embeddings (n, embedding_dim)."""
        return self.embedding(self.features(X))


class MarginClassifier(nn.Module):
    """A backbone producing embeddings and a head turning them into logits
    (see ``lab_utils.heads``). ``model(X)`` gives inference logits (no
    margin); ``model(X, y)`` the training logits with the margin."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, X: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.backbone(X), labels)

    def embed(self, X: torch.Tensor) -> torch.Tensor:
        return self.backbone(X)


class FashionNet(nn.Module):
    """The Fashion-MNIST report's CNN: four blocks of 3x3 conv (pad 1),
    ReLU, batch norm and 2x2 max-pool (1->16->32->64->128 channels), then
    FC 512->256->128->10 with batch norm. It was designed for 32x32 input;
    28x28 images are zero-padded to 32x32 (their background is black), so
    both sizes work without resizing.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        blocks, c_in = [], 1
        for c_out in (16, 32, 64, 128):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                       nn.BatchNorm2d(c_out), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.hidden = nn.Sequential(
            nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(),
            nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU())
        self.classifier = nn.Linear(128, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, 1, 28 or 32, same) -> logits (n, n_classes)."""
        size = X.shape[-1]
        if size == 28:
            X = nn.functional.pad(X, (2, 2, 2, 2))
        elif size != 32:
            raise ValueError(f"FashionNet takes 28x28 or 32x32 images, got "
                             f"{size}x{size}.")
        return self.classifier(self.hidden(self.features(X)))
