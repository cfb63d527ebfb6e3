"""Temperature scaling (``training.calibrate``): one scalar T > 0 that makes a CNN's probabilities honest.

A network trained to low loss is over-confident: its softmax says 0.99 where
it is right far less often. Dividing the logits by one temperature
``T`` fitted on the validation windows (Guo et al., 2017) fixes most of
that without changing any decision: ``argmax(logits / T) == argmax(logits)``.
``T`` minimises the validation windows' mean negative log-likelihood, found
by a bounded scalar search over ``log T`` (:func:`scipy.optimize.minimize_scalar`,
deterministic); the NLL is unimodal in ``log T`` (convex in ``1 / T``).
Without validation windows, or with ``calibrate: none``, ``T = 1`` and the
reason is recorded.
"""

from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """``scipy.special.log_softmax`` in numpy: every training job imports this module (the fold runner),
    and scipy's import is start-up it need not pay before its first batch."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


#: The values of ``training.calibrate``.
CALIBRATE = ("temperature", "none")
#: The search range of T (wider than any temperature seen in practice: 1-5).
T_RANGE = (0.05, 20.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    return np.exp(log_softmax(z, axis=1)) if z.size else np.empty(z.shape)


def mean_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    labels = np.asarray(labels, dtype=np.int64)
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, method: str = "temperature") -> dict:
    """The temperature of ``logits`` (n x classes) with true ``labels``, and what metrics.json records of it.

    Returns ``{"method", "temperature", "n_windows", "val_nll_raw", "val_nll_calibrated"}``
    plus ``"reason"`` when ``T = 1`` was not fitted.
    """
    if method not in CALIBRATE:
        raise ValueError(f"training.calibrate must be one of {CALIBRATE}, got {method!r}")
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    out: dict = {"method": method, "temperature": 1.0, "n_windows": int(n)}
    if method == "none":
        return {**out, "reason": "training.calibrate is none"}
    if n == 0:
        return {**out, "method": "none", "reason": "no validation windows to fit a temperature on"}
    if not np.isfinite(logits).all():
        return {**out, "method": "none", "reason": "the validation logits are not finite"}
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    from scipy.optimize import minimize_scalar  # only when a temperature is fitted, after training

    res = minimize_scalar(
        lambda log_t: mean_nll(logits, labels, np.exp(log_t)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-6},
    )
    raw = mean_nll(logits, labels, 1.0)
    t = float(np.exp(res.x))
    fitted = mean_nll(logits, labels, t)
    if not fitted <= raw:  # the search never does worse than leaving the logits alone
        t, fitted = 1.0, raw
    return {**out, "temperature": t, "val_nll_raw": raw, "val_nll_calibrated": fitted}


def calibration_line(calibration: dict) -> str:
    """The log's line about the fitted temperature."""
    if "reason" in calibration:
        return f"temperature 1 ({calibration['reason']})"
    return (
        f"temperature {calibration['temperature']:.3f} fitted on {calibration['n_windows']} validation windows: "
        f"NLL {calibration['val_nll_raw']:.4f} -> {calibration['val_nll_calibrated']:.4f}"
    )
