"""Baselines for the scalogram CNNs, evaluated on the same subject folds (issue 7).

Two learners answer "is 2D transfer learning worth it?":

* :class:`~ecgcwt.learn.baselines.wavelet.WaveletLearner` (``kind="wavelet"``):
  discrete-wavelet sub-band statistics of each window + a scikit-learn
  classifier (logistic regression or an RBF SVM), the kind of model MathWorks'
  wavelet-based ECG classification example uses.
* :class:`~ecgcwt.learn.baselines.cnn1d.Cnn1dLearner` (``kind="cnn1d"``): a small 1D
  CNN trained from scratch on the raw windows.

Both follow the fold runner's learner protocol (:mod:`ecgcwt.learn.runner`): the
runner splits the subjects and writes the fold's outputs, a learner only does

``fit(data, out_dir, log) -> history rows``
    fit on ``data.rows["train"]``; ``data.rows["val"]`` (may be empty) is
    reported per epoch (and drives early stopping of the 1D CNN).
``predict_proba(data, rows) -> (len(rows), n_classes) float64``
    class probabilities in ``data.classes`` order, each row summing to 1.
``save(path, data)``
    the fitted model, written atomically; ``model_file`` names the file.
``describe() -> dict``
    JSON-safe facts for ``metrics.json``.

Signals are read from the segment store (``data.source``) with
:func:`ecgcwt.data.segment_store.iter_signal_batches`.

The learner classes are imported lazily (``ecgcwt.learn.baselines.Cnn1dLearner``
imports torch only when first used). Each is one entry of
``ecgcwt.config.MODEL_KINDS``; the fold runner builds it from there.
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        "BaselineConfigError": ".common",
        "check_train_rows": ".common",
        "fold_labels": ".common",
        "scores": ".common",
        "check_window": ".common",
        "Cnn1dLearner": ".cnn1d",
        "load_cnn1d": ".cnn1d",
        "signal_logits": ".cnn1d",
        "WaveletLearner": ".wavelet",
        "WaveletFeatures": ".wavelet",
        "load_wavelet_model": ".wavelet",
        "wavelet_features": ".wavelet",
        "feature_names": ".wavelet",
    },
)
