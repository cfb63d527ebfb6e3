"""Unequal class sizes: a balanced epoch order and inverse-frequency loss weights (``training.class_balance``).

On the real records about nine training windows in ten are ARR; trained
plainly, a CNN learns to answer ARR. Two remedies, for both CNN learners:

* ``sampler`` (:func:`balanced_order`): each epoch has as many draws as
  there are training windows, split equally between the classes; a class
  with fewer windows than its share repeats them (every window once before
  any twice), a larger class contributes a different random subset each
  epoch. Drawn from ``(seed, epoch)`` only, so a resumed run and a rerun
  see the same order.
* ``loss`` (:func:`class_weights`): every window once per epoch, the
  cross-entropy weighted by ``n / (k * n_c)`` (``n`` windows, ``k`` classes,
  ``n_c`` of class ``c``): scikit-learn's ``class_weight="balanced"``, the
  wavelet baseline's weighting.
"""

from __future__ import annotations

import numpy as np

from ecgcwt.learn.runner import epoch_seed

#: The values of ``training.class_balance``.
CLASS_BALANCE = ("sampler", "loss", "none")


def balanced_order(labels: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Positions into ``labels`` (the training windows' classes) for one epoch, each class drawn equally often.

    ``len(labels)`` draws in all; when they do not split evenly the classes
    that get one draw more are chosen at random. Within a class, windows are
    taken from successive random permutations (no window twice before every
    window once). The result is shuffled.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    present = np.unique(labels)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(epoch_seed(seed, epoch))
    share = np.full(len(present), n // len(present), dtype=np.int64)
    share[rng.permutation(len(present))[: n % len(present)]] += 1
    picks = []
    for c, k in zip(present, share):
        members = np.flatnonzero(labels == c)
        rounds = -(-int(k) // len(members))  # ceil
        picks.append(np.concatenate([rng.permutation(members) for _ in range(rounds)])[:k])
    order = np.concatenate(picks)
    return order[rng.permutation(n)]


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Cross-entropy weight of each class, ``n / (k * n_c)`` over the ``k`` classes present (0 for absent ones)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes, dtype=np.float64)
    w[present] = len(labels) / (present.sum() * counts[present])
    return w


def class_counts(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    """Windows per class name (for logs and metrics.json)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    return {c: int(counts[i]) for i, c in enumerate(classes)}
