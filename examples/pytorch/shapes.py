"""Synthetic 28x28 grey images of four shapes at random places, with noise: the data set
train.py learns and predict.py tests on. A seed gives the same images every time."""
import torch

CLASSES = ["horizontal bar", "vertical bar", "square", "cross"]
SIZE = 28


def draw(label, generator):
    """One image (1x28x28, values about 0..1) of shape `label`."""
    img = torch.zeros(SIZE, SIZE)
    r, c = (int(v) for v in torch.randint(4, SIZE - 14, (2,), generator=generator))
    if label == 0:
        img[r + 5:r + 8, c - 2:c + 12] = 1.0
    elif label == 1:
        img[r - 2:r + 12, c + 5:c + 8] = 1.0
    elif label == 2:
        img[r:r + 11, c:c + 11] = 1.0
        img[r + 2:r + 9, c + 2:c + 9] = 0.0
    else:
        for i in range(11):
            img[r + i, c + i] = 1.0
            img[r + i, c + 10 - i] = 1.0
    img += 0.3 * torch.randn(SIZE, SIZE, generator=generator)
    return img.unsqueeze(0)


def make(n, seed):
    """n images and their labels, the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(CLASSES), (n,), generator=g)
    images = torch.stack([draw(int(label), g) for label in labels])
    return images, labels
