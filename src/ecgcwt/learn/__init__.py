"""learn: scalograms or segments in, trained models and fold predictions out.

The fold runner (:func:`run_fold`: split, fit, predict, write) and its
``Learner`` protocol; ``cnn2d/`` (torchvision backbones on scalograms) and
``baselines/`` (1D CNN, wavelet features) are learners; the neural ones train
through one epoch loop (``loop``: optimizer and schedule, early stopping,
checkpoint and resume). :func:`train_model`
picks the learner of a model's kind from ``ecgcwt.config.MODEL_KINDS``.

Imports ``ecgcwt.config``, ``ecgcwt.data``, ``ecgcwt.imaging`` and ``ecgcwt.evaluate``.
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        # fold runner
        "FoldData": ".runner",
        "Learner": ".runner",
        "SPLITS": ".runner",
        "run_fold": ".runner",
        "split_subjects": ".runner",
        "split_rows": ".runner",
        "random_window_split": ".runner",
        "epoch_seed": ".runner",
        # unequal class sizes and calibration
        "CLASS_BALANCE": ".balance",
        "balanced_order": ".balance",
        "class_weights": ".balance",
        "class_counts": ".balance",
        "CALIBRATE": ".calibration",
        "fit_temperature": ".calibration",
        "softmax": ".calibration",
        "mean_nll": ".calibration",
        # signal augmentations (before the CWT)
        "SIGNAL_AUGMENTATIONS": ".augment",
        "AugmentSettings": ".augment",
        "AugmentPlan": ".augment",
        "augment_settings": ".augment",
        "draw_plan": ".augment",
        "augment_signals": ".augment",
        "time_stretch": ".augment",
        # the epoch loop every neural learner shares
        "create_optimizer": ".loop",
        "create_scheduler": ".loop",
        "train_one_epoch": ".loop",
        "fit_epochs": ".loop",
        "Checkpoint": ".loop",
        "run_identity": ".loop",
        "TrainingInterrupted": ".loop",
        # one model, one fold
        "train_model": ".train",
        "build_learner": ".train",
        "learner_class": ".train",
        # the 2D CNN (torch)
        "train_fold": ".cnn2d",
        "Cnn2dLearner": ".cnn2d",
        "build_model": ".cnn2d",
        "BuiltModel": ".cnn2d",
        "IMAGENET_MEAN": ".cnn2d",
        "IMAGENET_STD": ".cnn2d",
        "fetch_imagenet_weights": ".cnn2d",
        "BatchFeeder": ".cnn2d",
        "SignalImageFeeder": ".cnn2d",
        "InMemoryImages": ".cnn2d",
        "StreamingImages": ".cnn2d",
        "open_image_source": ".cnn2d",
        "predict_probabilities": ".cnn2d",
        "predict_logits": ".cnn2d",
        "choose_numerics": ".cnn2d",
        "resolve_device": ".cnn2d",
        "ScalogramDataset": ".cnn2d",
        # baselines
        "Cnn1dLearner": ".baselines",
        "WaveletLearner": ".baselines",
        "load_cnn1d": ".baselines",
        "load_wavelet_model": ".baselines",
        "signal_logits": ".baselines",
        "wavelet_features": ".baselines",
    },
)
