"""H3 of the Fine-R1 paper (§5.4): are correctly and incorrectly answered images apart in
feature space?

The paper shows a 2-D PCA of the image features coloured by whether the model answered the item
correctly. A picture is not a measurement, so ``linear_separability`` adds a number: the
cross-validated accuracy of a logistic regression on the full features (about 0.5, or the
majority share for unbalanced labels, when the two groups are indistinguishable).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from finebench.util.fsutil import atomic_write_bytes

L2_INVERSE_STRENGTH = 1.0
"""scikit-learn's ``C``: the fit minimises ``C * sum(cross-entropy) + ||W||^2 / 2`` (bias not penalised)."""

MAX_ITERATIONS = 500


def pca_2d(x: np.ndarray) -> np.ndarray:
    """``(n, 2)`` projections on the first two principal axes of the centred data.

    SVD leaves each axis's sign arbitrary; it is fixed so that the axis's largest-magnitude
    loading is positive, so two runs (or two machines) draw the same picture.
    """
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 2 or min(data.shape) < 2:
        raise ValueError(f"pca_2d needs an (n, d) matrix with n, d >= 2, got shape {data.shape}")
    centred = data - data.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes = axes * np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])[:, None]
    return centred @ axes.T


def linear_separability(x: np.ndarray, labels: Sequence[object], *, folds: int = 5, seed: int = 0) -> float:
    """Mean held-out accuracy of an L2-regularised (multinomial) logistic regression under
    stratified k-fold cross-validation; features are standardised with the training fold's
    statistics only, so nothing about a test fold leaks into its model."""
    data = np.asarray(x, dtype=np.float64)
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    if data.ndim != 2 or len(data) != len(y):
        raise ValueError(f"x must be an (n, d) matrix with one label per row, got {data.shape} and {len(y)} labels")
    counts = np.bincount(y)
    if folds < 2 or len(classes) < 2 or counts.min() < folds:
        raise ValueError(
            f"need folds >= 2, at least 2 classes and at least `folds` rows per class; "
            f"got folds={folds} and class sizes {dict(zip(classes.tolist(), counts.tolist()))}"
        )
    fold_of = _stratified_folds(y, folds, seed)
    accuracies = []
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        mean, std = data[train].mean(axis=0), data[train].std(axis=0)
        std[std == 0] = 1.0
        weights, bias = _fit_logistic((data[train] - mean) / std, y[train], len(classes))
        predictions = (((data[test] - mean) / std) @ weights + bias).argmax(axis=1)
        accuracies.append(float(np.mean(predictions == y[test])))
    return float(np.mean(accuracies))


def plot_pca(
    points: np.ndarray,
    labels: Sequence[int],
    path: Path,
    *,
    title: str,
    label_names: Sequence[str] = ("incorrect", "correct"),
) -> None:
    """Scatter ``(n, 2)`` points coloured by label (an index into ``label_names``; booleans work)
    and write a PNG. The figure is drawn on matplotlib's Agg canvas without pyplot, so the caller's
    backend and figure registry are untouched; the file is written to a temporary name and renamed."""
    from matplotlib.figure import Figure

    points = np.asarray(points, dtype=np.float64)
    codes = np.asarray(labels).astype(np.int64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(codes):
        raise ValueError(f"points must be (n, 2) with one label per row, got {points.shape} and {len(codes)} labels")
    if len(codes) and (codes.min() < 0 or codes.max() >= len(label_names)):
        raise ValueError(f"labels must be in 0..{len(label_names) - 1} to index label_names {tuple(label_names)}")
    figure = Figure(figsize=(5.5, 5.0), dpi=100, layout="constrained")
    ax = figure.subplots()
    for code, name in enumerate(label_names):
        mask = codes == code
        ax.scatter(points[mask, 0], points[mask, 1], s=10, alpha=0.6, label=f"{name} ({int(mask.sum())})")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend()
    png = io.BytesIO()
    figure.savefig(png, format="png")
    atomic_write_bytes(Path(path), png.getvalue())


def _stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index per row: each class shuffled and dealt round-robin, continuing the deal across
    classes so that fold sizes differ by at most one."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    dealt = 0
    for label in range(int(y.max()) + 1):
        members = rng.permutation(np.flatnonzero(y == label))
        fold_of[members] = (dealt + np.arange(len(members))) % folds
        dealt += len(members)
    return fold_of


def _fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(d, k)`` and bias ``(k,)`` from full-batch L-BFGS, started at zero (deterministic)."""
    from scipy.optimize import minimize

    n, d = x.shape
    onehot = np.eye(n_classes)[y]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights, bias = theta[: d * n_classes].reshape(d, n_classes), theta[d * n_classes :]
        logits = x @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        residual = L2_INVERSE_STRENGTH * (np.exp(log_probs) - onehot)
        loss = -L2_INVERSE_STRENGTH * float((onehot * log_probs).sum()) + 0.5 * float((weights**2).sum())
        gradient = np.concatenate([(x.T @ residual + weights).ravel(), residual.sum(axis=0)])
        return loss, gradient

    result = minimize(objective, np.zeros(d * n_classes + n_classes), jac=True, method="L-BFGS-B",
                      options={"maxiter": MAX_ITERATIONS})
    return result.x[: d * n_classes].reshape(d, n_classes), result.x[d * n_classes :]
