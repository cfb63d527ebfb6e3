"""cnn2d: torchvision (and registered extra) backbones fine-tuned on scalogram images.

``learner`` (the training loop, checkpoints, resume), ``backbones`` (build by
name, replace the head in one place), ``weights`` (ImageNet weights files),
``numerics`` (device, precision, memory format), ``feeding`` (batches from
the cache at the device's pace), ``dataset`` (the same images as a plain
PyTorch ``Dataset`` for your own training loop).
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        "train_fold": ".learner",
        "Cnn2dLearner": ".learner",
        "HISTORY_COLUMNS": ".learner",
        "TrainingInterrupted": ".learner",
        "resolve_training_config": ".learner",
        "build_model": ".backbones",
        "replace_head": ".backbones",
        "set_train_mode": ".backbones",
        "supported_backbones": ".backbones",
        "BuiltModel": ".backbones",
        "IMAGENET_MEAN": ".backbones",
        "IMAGENET_STD": ".backbones",
        "STRATEGIES": ".backbones",
        "fetch_imagenet_weights": ".weights",
        "imagenet_weights_url": ".weights",
        "BatchFeeder": ".feeding",
        "InMemoryImages": ".feeding",
        "StreamingImages": ".feeding",
        "open_image_source": ".feeding",
        "predict_probabilities": ".feeding",
        "predict_logits": ".feeding",
        "roll_columns": ".feeding",
        "Numerics": ".numerics",
        "choose_numerics": ".numerics",
        "resolve_device": ".numerics",
        "resolve_precision": ".numerics",
        "cpu_has_native_bf16": ".numerics",
        "SignalImageFeeder": ".signal_images",
        "ScalogramDataset": ".dataset",
        "make_loader": ".dataset",
    },
)
