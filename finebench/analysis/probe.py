"""H1 of the Fine-R1 paper (§5.4): is the species linearly decodable from a model's features?

The paper's protocol, reproduced here: one linear layer trained with Adam and cross-entropy on
frozen, cached features of the training images (500 epochs, learning rate 1e-4), test accuracy
measured after every epoch, and the best epoch reported. Picking the best epoch on the test set
is optimistic, which is why the last epoch's accuracy is reported beside it. Features are used as
given (no standardisation), as in the paper; Adam's per-parameter step sizes make the probe
insensitive to the large but few outlier dimensions of LLM hidden states.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ProbeResult:
    best_test_accuracy: float
    best_epoch: int
    """1-based; the earliest epoch that reached ``best_test_accuracy``."""
    final_test_accuracy: float
    train_accuracy: float
    """After the last epoch."""
    n_train: int
    n_test: int
    n_classes: int
    """Number of distinct training labels (the probe's outputs)."""


def train_linear_probe(
    train_x: np.ndarray,
    train_y: Sequence[Hashable],
    test_x: np.ndarray,
    test_y: Sequence[Hashable],
    *,
    epochs: int = 500,
    lr: float = 1e-4,
    batch_size: int = 512,
    seed: int = 0,
    device: str = "cpu",
) -> ProbeResult:
    """Train a linear probe on ``(n, d)`` features with labels of any sortable type.

    ``seed`` fixes the initialisation and the minibatch order without touching the caller's RNG
    state; on the CPU the same inputs give the same result bit for bit.
    """
    import torch

    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    train_x, test_x = _features(train_x, "train_x"), _features(test_x, "test_x")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train_x has {train_x.shape[1]} features per row but test_x has {test_x.shape[1]}")
    classes, train_labels, test_labels = _encode_labels(train_y, test_y, len(train_x), len(test_x))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = torch.nn.Linear(train_x.shape[1], len(classes)).to(device)
    generator = torch.Generator().manual_seed(seed)
    xs, ys = torch.from_numpy(train_x).to(device), torch.from_numpy(train_labels).to(device)
    test_xs, test_ys = torch.from_numpy(test_x).to(device), torch.from_numpy(test_labels).to(device)
    optimiser = torch.optim.Adam(probe.parameters(), lr=lr)
    best_accuracy, best_epoch, test_accuracy = -1.0, 0, 0.0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(xs), generator=generator).to(device)
        for start in range(0, len(xs), batch_size):
            batch = order[start : start + batch_size]
            loss = torch.nn.functional.cross_entropy(probe(xs[batch]), ys[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        test_accuracy = _accuracy(probe, test_xs, test_ys)
        if test_accuracy > best_accuracy:
            best_accuracy, best_epoch = test_accuracy, epoch
    return ProbeResult(
        best_test_accuracy=best_accuracy,
        best_epoch=best_epoch,
        final_test_accuracy=test_accuracy,
        train_accuracy=_accuracy(probe, xs, ys),
        n_train=len(xs),
        n_test=len(test_xs),
        n_classes=len(classes),
    )


def _features(x: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(x, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) matrix, got shape {array.shape}")
    return np.ascontiguousarray(array)


def _encode_labels(
    train_y: Sequence[Hashable], test_y: Sequence[Hashable], n_train: int, n_test: int
) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """Sorted class list and int64 class indices; every test label must occur in training."""
    if len(train_y) != n_train or len(test_y) != n_test:
        raise ValueError(
            f"{len(train_y)} train labels for {n_train} rows and {len(test_y)} test labels for {n_test} rows"
        )
    classes = sorted(set(train_y))
    index = {label: i for i, label in enumerate(classes)}
    unseen = sorted({label for label in test_y if label not in index}, key=repr)
    if unseen:
        shown = ", ".join(repr(label) for label in unseen[:5])
        raise ValueError(f"{len(unseen)} test label(s) never occur in training, e.g. {shown}")
    train = np.array([index[label] for label in train_y], dtype=np.int64)
    return classes, train, np.array([index[label] for label in test_y], dtype=np.int64)


def _accuracy(probe: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    import torch

    with torch.no_grad():
        return int((probe(x).argmax(dim=1) == y).sum()) / len(y)
