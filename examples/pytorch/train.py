"""Trains the CNN for one epoch on 4,000 synthetic images and saves its weights to
$MODEL_PATH. Run at build time (RUN python3 train.py)."""
import os

import torch
from torch import nn

import model
import shapes

torch.manual_seed(0)
torch.set_num_threads(1)  # the same numbers on every machine
images, labels = shapes.make(4000, seed=1)
net = model.cnn()
optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
loss_fn = nn.CrossEntropyLoss()

batch = 64
net.train()
total_loss, correct = 0.0, 0
for start in range(0, len(images), batch):
    x, y = images[start:start + batch], labels[start:start + batch]
    optimizer.zero_grad()
    out = net(x)
    loss = loss_fn(out, y)
    loss.backward()
    optimizer.step()
    total_loss += loss.item() * len(x)
    correct += int((out.argmax(1) == y).sum())
    step = start // batch + 1
    if step % 20 == 0:
        print(f"epoch 1 step {step:3d}: loss {loss.item():.4f}")
print(f"epoch 1: loss {total_loss / len(images):.4f}, training accuracy {correct / len(images):.3f}")

os.makedirs(os.path.dirname(os.environ["MODEL_PATH"]), exist_ok=True)
torch.save(net.state_dict(), os.environ["MODEL_PATH"])
print(f"saved {os.environ['MODEL_PATH']}")
