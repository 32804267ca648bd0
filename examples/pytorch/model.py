"""The network: two convolutions with pooling, then a linear layer over the four shapes."""
from torch import nn

import shapes


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 8x14x14
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16x7x7
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, len(shapes.CLASSES)),
    )
