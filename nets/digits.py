"""Digit classification data and evaluation: scikit-learn's load_digits (8×8 images, 1,797
samples, shipped inside the package, so nothing is downloaded), a stratified split, and the
metrics the report needs (accuracy, confusion matrix, per-class accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DigitsSplit:
    X_train: np.ndarray  # (N_train, 64) pixels scaled to [0, 1]
    y_train: np.ndarray  # (N_train,) labels 0-9
    X_test: np.ndarray  # (N_test, 64)
    y_test: np.ndarray  # (N_test,)


def load_digits_split(test_size: float = 0.2, random_state: int = 0) -> DigitsSplit:
    """Stratified train/test split of load_digits with pixels divided by 16 (their maximum)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    X = data.data / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=test_size, stratify=data.target, random_state=random_state)
    return DigitsSplit(X_train, y_train, X_test, y_test)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the labels."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)  # add.at, unlike cm[i, j] += 1, counts repeated pairs
    return cm


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """(n_classes,) fraction of each true class predicted correctly (the recall)."""
    return np.diag(cm) / np.maximum(cm.sum(axis=1), 1)


def shift_augment(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images plus copies shifted one pixel up, down, left and right (zeros fill in).

    X: (N, 64) flattened 8×8 images, y: (N,) -> (5N, 64), (5N,). A digit moved by one pixel is
    still the same digit, so this teaches the network the small translations that the
    hand-written test digits show, at five times the epoch cost and no randomness.
    """
    imgs = X.reshape(-1, 8, 8)
    copies = [imgs]
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        shifted = np.zeros_like(imgs)
        shifted[:, max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)] = \
            imgs[:, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)]
        copies.append(shifted)
    return np.concatenate(copies).reshape(-1, X.shape[1]), np.tile(y, len(copies))
