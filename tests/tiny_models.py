"""A tiny CNN for engine and optimizer tests: not a lab model, so it lives
with the tests."""

import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    """Two conv blocks and a linear classifier: a quick baseline that
    learns MNIST-sized data in seconds on a CPU.

    in_channels, image_size, n_classes: from the data; width: channels of
    the first conv (the second has twice as many).
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        image_size: int = 28,
        width: int = 16,
    ):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.embedding = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * side * side, 64), nn.ReLU()
        )
        self.classifier = nn.Linear(64, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (n, c, h, w) float -> logits (n, n_classes)."""
        return self.classifier(self.embedding(self.features(X)))
