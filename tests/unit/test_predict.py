"""`ecgcwt predict`: classify new WFDB records with a trained model.

A tiny model (squeezenet1_1, 32-px images, one epoch) is trained once on a few
real records; the tests then run the command as a user does.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from scipy.signal import resample_poly

from ecgcwt.apply.predict import (
    ModelFileError,
    load_predict_model,
    predict_records,
    record_windows,
    window_probabilities,
)
from ecgcwt.cli import main as cli_main
from ecgcwt.data.segmentation import DatabaseSource, SegmentSpec
from ecgcwt.errors import RecordError
from ecgcwt.imaging import ChunkReader
from ecgcwt.imaging.pipeline import build_data
from ecgcwt.learn.cnn2d.learner import train_fold
from tests.conftest import require_physionet

CLASSES = ["ARR", "CHF", "NSR"]


def train_tiny_model(root: Path, d: Path) -> dict:
    """Train the tiny test model on a few real records under ``d``; return its paths."""
    sources = [
        DatabaseSource("mitdb", root / "mitdb", "ARR", ["100", "101", "103"]),
        DatabaseSource("chfdb", root / "chfdb", "CHF", ["chf02"]),
        DatabaseSource("nsrdb", root / "nsrdb", "NSR", ["16483"]),
    ]
    spec = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=4, max_duration_s=60)
    cache, table = build_data(sources, spec, {"image": {"size": 32}}, d / "data", threads=2)
    subjects = table.drop_duplicates("subject")[["subject", "label"]].copy()
    subjects["fold"] = np.arange(len(subjects)) % 2
    subjects.to_csv(d / "folds.csv", index=False)
    cfg = {"pretrained": "none", "epochs": 1, "batch_size": 8, "seed": 0, "checkpoint_interval_s": 0}
    train_fold(
        cache,
        d / "folds.csv",
        backbone="squeezenet1_1",
        fold="all",
        cfg=cfg,
        out_dir=d / "model",
        threads=2,
        log=lambda m: None,
    )
    return {
        "root": root,
        "dir": d,
        "model": d / "model" / "model.pt",
        "cache": cache,
        "segments": d / "data" / "segments.h5",
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = require_physionet()
    return train_tiny_model(root, tmp_path_factory.mktemp("predict"))


def run_cli_process(*args, cwd=None) -> subprocess.CompletedProcess:
    """``python -m ecgcwt predict ARGS`` in a new process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ecgcwt", "predict", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def run_cli(*args) -> subprocess.CompletedProcess:
    """``ecgcwt predict ARGS`` through the command's entry point in this process: its exit status and output.

    The same code as the console script (:func:`ecgcwt.cli.main`) without a new
    interpreter and torch import per call (5 s each on 2 cores);
    :func:`run_cli_process` covers the process itself.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(["predict", *map(str, args)])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["ecgcwt", "predict", *map(str, args)], code, out.getvalue(), err.getvalue())


def parse_line(line: str) -> tuple[str, str, dict, int]:
    parts = line.split()
    probs = {k: float(v) for k, v in (p.split("=") for p in parts[2:-1])}
    return parts[0], parts[1], probs, int(parts[-1].strip("()").split("=")[1])


def write_copy(src_base: Path, out_dir: Path, name: str, *, seconds: float, fs_out: int | None = None) -> Path:
    """The first ``seconds`` of a record, optionally resampled, written as a new WFDB record."""
    rec = wfdb.rdrecord(str(src_base), sampto=int(seconds * wfdb.rdheader(str(src_base)).fs))
    x, fs = rec.p_signal, rec.fs
    if fs_out is not None and fs_out != fs:
        x = resample_poly(x, fs_out, int(fs), axis=0)
        fs = fs_out
    wfdb.wrsamp(
        name, fs=fs, units=rec.units, sig_name=rec.sig_name, p_signal=x, fmt=["16"] * x.shape[1], write_dir=str(out_dir)
    )
    return out_dir / name


# --------------------------------------------------------------------------- normal use


def test_predict_prints_one_line_per_record_and_writes_csv(trained, tmp_path):
    mitdb = trained["root"] / "mitdb"
    out = tmp_path / "pred.csv"
    r = run_cli_process("--model", trained["model"], mitdb / "100", mitdb / "103", "--max-windows", 3, "--csv", out)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("100", "103")):
        record, predicted, probs, n = parse_line(line)
        assert record == str(mitdb / name) and predicted in CLASSES
        assert sorted(probs) == CLASSES and abs(sum(probs.values()) - 1) < 0.003
        assert predicted == max(probs, key=probs.get)
        assert 1 <= n <= 2 * 3  # two leads, at most 3 windows each
    df = pd.read_csv(out)
    assert list(df.columns) == ["record", "predicted", "prob_ARR", "prob_CHF", "prob_NSR", "n_windows"]
    assert df["record"].tolist() == [str(mitdb / "100"), str(mitdb / "103")]
    np.testing.assert_allclose(df[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-6)
    assert not list(tmp_path.glob("*.tmp*"))


def test_console_script_is_installed(trained):
    exe = Path(sys.executable).with_name("ecgcwt")
    if not exe.exists():
        pytest.skip("console script not installed (pip install -e .)")
    r = subprocess.run([str(exe), "predict", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--max-windows" in r.stdout


def test_predict_image_of_a_cached_segment_equals_the_cache_image(trained):
    model = load_predict_model(trained["model"])
    rows = [0, 5, 13]
    with h5py.File(trained["segments"], "r") as f:
        signals = f["signals"][rows]
    with ChunkReader(trained["cache"]) as reader:
        cached = reader.read(rows)  # colour indices
        colormap = reader.colormap
    together = model.indices(signals)
    assert together.dtype == np.uint8 and together.shape == cached.shape
    np.testing.assert_array_equal(together, cached)
    np.testing.assert_array_equal(model.indices(signals[1:2])[0], cached[1])  # one at a time too
    np.testing.assert_array_equal(model.colormap, colormap)
    np.testing.assert_array_equal(model.images(signals), colormap[cached])  # RGB, as the device colours them


def test_model_meta_carries_the_segmentation(trained):
    prep = torch.load(trained["model"], weights_only=True)["meta"]["preprocessing"]
    assert prep["fs"] == 128 and prep["window"] == 512 and prep["hop"] == 512 and prep["leads"] is None
    assert prep["quality"] == {"flat_std_mv": 0.01, "clip_fraction": 0.05, "max_abs_mv": 10.0}
    assert prep["defaulted"] == []


def test_a_resampled_record_gives_the_same_class(trained, tmp_path):
    base = trained["root"] / "mitdb" / "100"
    native = write_copy(base, tmp_path, "r360", seconds=60)
    other = write_copy(base, tmp_path, "r250", seconds=60, fs_out=250)
    assert wfdb.rdheader(str(other)).fs == 250
    table, errors = predict_records(trained["model"], [native, other])
    assert errors == []
    assert table["predicted"].iloc[0] == table["predicted"].iloc[1]
    assert table["n_windows"].tolist() == [2 * 15, 2 * 15]  # 60 s at 128 Hz = 15 windows of 512, two leads
    probs = table[[f"prob_{c}" for c in CLASSES]].to_numpy()
    assert np.abs(probs[0] - probs[1]).max() < 0.1


def test_a_model_saved_without_preprocessing_still_predicts(trained, tmp_path):
    saved = torch.load(trained["model"], weights_only=True)
    del saved["meta"]["preprocessing"]
    old = tmp_path / "old.pt"
    torch.save(saved, old)
    rec = [trained["root"] / "mitdb" / "101"]
    new_table, _ = predict_records(trained["model"], rec, max_windows=2)
    old_table, errors = predict_records(old, rec, max_windows=2)
    assert errors == []
    pd.testing.assert_frame_equal(new_table, old_table)


def test_predict_applies_the_models_temperature(trained, tmp_path):
    saved = torch.load(trained["model"], weights_only=True)
    t = saved["meta"]["temperature"]
    assert t > 0 and saved["meta"]["calibration"]["n_windows"] > 0  # fitted on the validation windows
    model = load_predict_model(trained["model"])
    windows = record_windows(trained["root"] / "mitdb" / "101", model.prep, max_windows=3)
    probs = window_probabilities(model, model.indices(windows))
    for temperature in (None, 4.0):  # None: a model file from before calibration (T = 1)
        if temperature is None:
            del saved["meta"]["temperature"]
        else:
            saved["meta"]["temperature"] = temperature
        torch.save(saved, tmp_path / "t.pt")
        other = load_predict_model(tmp_path / "t.pt")
        got = window_probabilities(other, other.indices(windows))
        # probs = softmax(z / t), so log(probs) * t is z up to a constant per row
        want = torch.softmax(torch.from_numpy(np.log(probs) * t / (temperature or 1.0)), dim=1).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert np.array_equal(got.argmax(1), probs.argmax(1))


def test_max_duration_reads_only_the_first_seconds(trained):
    rec = trained["root"] / "mitdb" / "100"  # 30 min at 360 Hz, two leads
    table, errors = predict_records(trained["model"], [rec, rec], max_duration_s=30)
    assert errors == []
    # 30 s at 128 Hz = 3840 samples = 7 whole windows of 512, per lead
    assert table["n_windows"].tolist() == [2 * 7, 2 * 7]
    model = load_predict_model(trained["model"])
    assert len(record_windows(rec, model.prep, max_duration_s=4.0)) == 2 * 1
    with pytest.raises(RecordError, match=r"too short.*only the first 3 s read"):
        record_windows(rec, model.prep, max_duration_s=3)
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(ValueError, match="max_duration_s"):
            predict_records(model, [rec], max_duration_s=bad)


def test_cli_max_duration_limits_the_windows(trained, capsys):
    rec = trained["root"] / "mitdb" / "100"
    assert cli_main(["predict", "--model", str(trained["model"]), str(rec), "--max-duration-s", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert parse_line(lines[0])[3] == 2 * 5  # 20 s at 128 Hz = 2560 samples = 5 windows per lead


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "ten"])
def test_cli_bad_max_duration_is_a_one_line_usage_error(trained, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["predict", "--model", str(trained["model"]), "--max-duration-s", value, "rec"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert captured.out == "" and len(err) == 1, captured.err
    assert err[0].startswith("ecgcwt predict: error: argument --max-duration-s") and repr(value) in err[0]


def test_records_are_read_and_classified_in_bounded_batches(trained):
    from ecgcwt.apply import iter_record_batches
    from ecgcwt.data import QualityLimits, cut_lead, read_record

    model = load_predict_model(trained["model"])
    rec = trained["root"] / "mitdb" / "100"
    batches = list(iter_record_batches(rec, model.prep, 16))
    assert all(len(b) <= 16 for b in batches) and all(len(b) == 16 for b in batches[:-1])
    # the windows of the whole record read at once and cut lead by lead (the training's cut), bit for bit
    whole = read_record(rec.parent, rec.name)
    p = model.prep
    expected = np.concatenate(
        [
            cut_lead(whole.signal[:, j], whole.clipped[:, j], whole.fs, p["fs"], p["window"], p["window"],
                     QualityLimits(**p["quality"]), None).windows
            for j in range(whole.signal.shape[1])
        ]
    )  # fmt: skip
    assert np.array_equal(np.concatenate(batches), expected)
    assert np.array_equal(record_windows(rec, model.prep), expected)
    # the batch size changes no class and no window count; probabilities agree to float rounding
    small, _ = predict_records(model, [rec], batch_size=5)
    default, _ = predict_records(model, [rec])
    assert small["n_windows"].tolist() == default["n_windows"].tolist() == [len(expected)]
    assert small["predicted"].tolist() == default["predicted"].tolist()
    probs = [t.filter(like="prob_").to_numpy() for t in (small, default)]
    np.testing.assert_allclose(*probs, atol=1e-6)
    r = run_cli("--model", trained["model"], rec, "--batch-size", 5, "--max-windows", 3)
    assert r.returncode == 0 and parse_line(r.stdout.strip())[3] == 2 * 3
    r = run_cli("--model", trained["model"], rec, "--batch-size", 0)
    assert r.returncode == 2 and "--batch-size" in r.stderr and "Traceback" not in r.stderr


# --------------------------------------------------------------------------- bad input


def test_bad_records_are_reported_one_line_each_and_the_others_predicted(trained, tmp_path):
    mitdb = trained["root"] / "mitdb"
    bad = tmp_path / "bad"
    bad.mkdir()
    # truncated signal file
    for ext in ("hea", "dat"):
        shutil.copy(mitdb / f"100.{ext}", bad / f"trunc.{ext}")
    (bad / "trunc.hea").write_text((bad / "trunc.hea").read_text().replace("100.dat", "trunc.dat"))
    with open(bad / "trunc.dat", "r+b") as f:
        f.truncate(1000)
    # missing signal file
    shutil.copy(mitdb / "100.hea", bad / "nodat.hea")
    (bad / "nodat.hea").write_text((bad / "nodat.hea").read_text().replace("100.dat", "nodat.dat"))
    # unreadable header
    (bad / "garbage.hea").write_bytes(b"\x00\xff this is not a header \x01\n")
    # too short for one window (2 s, the window is 4 s)
    short = write_copy(mitdb / "101", bad, "short", seconds=2)
    # no usable window: a flat line
    t = np.arange(30 * 360) / 360
    flat = 0.001 * np.sin(2 * np.pi * t)[:, None]
    wfdb.wrsamp("flat", fs=360, units=["mV"], sig_name=["MLII"], p_signal=flat, fmt=["16"], write_dir=str(bad))
    # a header naming a signal file outside its folder (wfdb's header syntax already refuses it)
    shutil.copy(mitdb / "100.hea", bad / "escape.hea")
    (bad / "escape.hea").write_text((bad / "escape.hea").read_text().replace("100.dat", "../100.dat"))
    # not a record: a plain file, and a folder
    (bad / "notes.txt").write_text("hello\n")
    cases = {
        bad / "trunc": "truncated",
        bad / "nodat": "not found",
        bad / "garbage": "header",
        short: "too short",
        bad / "flat": "no usable window",
        bad / "escape": "cannot parse header",
        bad / "notes.txt": "not a WFDB record",
        bad: "folder",
        tmp_path / "nowhere" / "100": "no such record",
    }
    good = mitdb / "101"
    r = run_cli("--model", trained["model"], good, *cases, "--max-windows", 2, "--csv", tmp_path / "p.csv")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    out = r.stdout.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"{good}  ")
    err = r.stderr.strip().splitlines()
    assert len(err) == len(cases), r.stderr
    for line, (record, reason) in zip(err, cases.items()):
        assert f"{record}: " in line and reason in line, line
    assert pd.read_csv(tmp_path / "p.csv")["record"].tolist() == [str(good)]


@pytest.mark.parametrize("kind", ["random", "state_dict", "missing"])
def test_a_foreign_model_file_is_a_usage_error(trained, tmp_path, kind):
    path = tmp_path / "model.pt"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "state_dict":
        import torchvision

        torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    r = run_cli("--model", path, trained["root"] / "mitdb" / "100")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    expected = {"random": "cannot be loaded", "state_dict": "state_dict", "missing": "does not exist"}[kind]
    assert expected in err[0]
    with pytest.raises(ModelFileError):
        load_predict_model(path)


def test_usage_errors_exit_2(trained):
    r = run_cli("--model", trained["model"])  # no record
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli("--model", trained["model"], "--max-windows", "0", trained["root"] / "mitdb" / "100")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_model_file_messages_say_what_the_file_is(trained, tmp_path):
    record = trained["root"] / "mitdb" / "100"
    cases = {}
    rand = tmp_path / "random.pt"
    rand.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    cases[rand] = "it is not a torch file (torch.save writes a zip archive"
    code = tmp_path / "code.pt"
    torch.save({"meta": __import__("fractions").Fraction(1, 2)}, code)  # a class: needs code to unpickle
    cases[code] = "need code to unpickle, refused"
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(trained["model"].read_bytes()[:5000])
    cases[trunc] = "a damaged or truncated torch file (5000 bytes"
    empty_file = tmp_path / "empty.pt"
    empty_file.write_bytes(b"")
    cases[empty_file] = "the file is empty"
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    cases[empty] = "holds no model file (*.joblib, *.pt); it is empty"
    other = tmp_path / "notes_folder"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    cases[other] = "holds no model file (*.joblib, *.pt); it holds 1 other file(s): notes.txt"
    for path, expected in cases.items():
        for info in ([], ["--info"]) if path in (rand, empty, other) else ([],):
            r = run_cli("--model", path, *info, *([] if info else [record]))
            assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr, r.stderr
            err = r.stderr.strip().splitlines()
            assert len(err) == 1 and str(path) in err[0] and expected in err[0], err
            assert "does not exist" not in err[0]
            if path is rand:
                assert "need code" not in err[0]
    # a folder of model files is an ensemble (its cards with --info)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(trained["model"], models / "model.pt")
    r = run_cli("--model", models, "--info")
    assert r.returncode == 0 and r.stdout.startswith("# Model card: squeezenet1_1")


def test_an_unwritable_csv_path_is_refused_before_any_record_is_classified(trained, tmp_path):
    record = trained["root"] / "mitdb" / "100"
    (tmp_path / "afile").write_text("x")
    for csv, expected in {
        tmp_path / "afile" / "p.csv": f"{tmp_path / 'afile'} is a file, not a folder",
        tmp_path / "afile" / "sub" / "p.csv": f"{tmp_path / 'afile'} is a file, not a folder",
        tmp_path: "it is a folder; give a file name",
    }.items():
        r = run_cli("--model", trained["model"], record, "--csv", csv)
        assert r.returncode == 2 and r.stdout == "", r.stdout  # nothing classified
        assert r.stderr.startswith(f"ecgcwt predict: error: --csv {csv}: {expected}") and r.stderr.count("\n") == 1
        assert "File exists" not in r.stderr
    r = run_cli("--model", trained["model"], record, "--explain", tmp_path / "afile", "--max-windows", 1)
    assert r.returncode == 2 and r.stdout == "" and "it is a file; give a folder" in r.stderr
    new = tmp_path / "new" / "dir" / "p.csv"  # missing folders are created
    r = run_cli("--model", trained["model"], record, "--csv", new, "--max-windows", 1)
    assert r.returncode == 0 and pd.read_csv(new)["record"].tolist() == [str(record)]


def _other_member(trained, path: Path, *, classes=None) -> Path:
    """A second model of the same run: the trained one with other weights (or, with ``classes``, other classes)."""
    saved = torch.load(trained["model"], weights_only=True)
    g = torch.Generator().manual_seed(1)
    saved["state_dict"] = {
        k: v + 0.05 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
        for k, v in saved["state_dict"].items()
    }
    if classes is not None:
        saved["meta"]["classes"] = classes
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(saved, path)
    return path


def test_an_ensemble_predicts_the_mean_of_its_members(trained, tmp_path):
    other = _other_member(trained, tmp_path / "ensemble" / "seed1.pt")
    shutil.copy(trained["model"], tmp_path / "ensemble" / "seed0.pt")
    rec = [trained["root"] / "mitdb" / "100", trained["root"] / "nsrdb" / "16483"]
    cols = [f"prob_{c}" for c in CLASSES]
    one, _ = predict_records(trained["model"], rec, max_windows=2)
    two, _ = predict_records(other, rec, max_windows=2)
    both, errors = predict_records([trained["model"], other], rec, max_windows=2)
    assert errors == [] and not np.allclose(one[cols], two[cols])
    np.testing.assert_allclose(both[cols].to_numpy(), (one[cols].to_numpy() + two[cols].to_numpy()) / 2, atol=1e-6)
    # the command line: --model twice, or a folder of model files, gives the same probabilities
    for models in (["--model", trained["model"], "--model", other], ["--model", tmp_path / "ensemble"]):
        out = tmp_path / "p.csv"
        r = run_cli(*models, *rec, "--max-windows", 2, "--csv", out)
        assert r.returncode == 0, r.stderr
        np.testing.assert_allclose(pd.read_csv(out)[cols].to_numpy(), both[cols].to_numpy(), atol=1e-5)


def test_an_ensemble_of_different_classes_names_the_file(trained, tmp_path):
    odd = _other_member(trained, tmp_path / "odd.pt", classes=["ARR", "NSR", "CHF"])
    r = run_cli("--model", trained["model"], "--model", odd, trained["root"] / "mitdb" / "100")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and str(odd) in err[0] and "classes" in err[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match="holds no"):
        load_predict_model(empty)


# --------------------------------------------------------------------------- model card


def test_the_all_model_has_a_card_and_info_prints_it(trained, tmp_path, capsys):
    card = trained["model"].parent / "model_card.md"
    text = card.read_text()
    assert text.startswith("# Model card: squeezenet1_1")
    for fact in (
        "- kind: cnn2d",
        "- backbone: squeezenet1_1",
        "- weights (pretrained): none",
        "- seeds: 0",
        "all subjects (fold all)",
        "- databases: chfdb, mitdb, nsrdb",
        "- sampling rate (Hz): 128",
        "- window (samples): 512",
        "- window length: 4 s",
        "- image size (px): 32",
        "- CWT wavelet:",
        "- image mode / colour map:",
        "Not a diagnostic device",
        "Few subjects:",
    ):
        assert fact in text, fact
    assert "| ARR | 3 |" in text and "| CHF | 1 |" in text  # subjects per class
    assert cli_main(["predict", "--model", str(trained["model"]), "--info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(text)  # the card, then how to cite (from the packaged CITATION.cff)
    assert "How to cite: ecgcwt" in out[len(text) :] and "Goldberger AL et al. PhysioBank" in out
    # a model file without a card beside it: a card from its own metadata
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(trained["model"], alone / "model.pt")
    assert cli_main(["predict", "--model", str(alone / "model.pt"), "--info"]) == 0
    built = capsys.readouterr().out
    assert "built from the model file's metadata" in built and "- backbone: squeezenet1_1" in built
    assert "- sampling rate (Hz): 128" in built and "Not a diagnostic device" in built
    # --info on a missing file: one line, exit 2; no records without --info: exit 2
    assert cli_main(["predict", "--model", str(tmp_path / "nope.pt"), "--info"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["predict", "--model", str(trained["model"])]) == 2
    assert "RECORD" in capsys.readouterr().err


def test_cli_explain_writes_one_figure_per_record(trained, tmp_path):
    out = tmp_path / "maps"
    rec = trained["root"] / "mitdb" / "100"
    assert (
        cli_main(["predict", "--model", str(trained["model"]), "--explain", str(out), "--max-windows", "3", str(rec)])
        == 0
    )
    png = out / "100.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _WritesMarker:
    """A pickle that, if ever unpickled, creates the file it names (it must never be)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickle_is_never_unpickled_unasked_and_a_kind_that_cannot_predict_is_named(tmp_path, capsys, monkeypatch):
    import pickle

    from ecgcwt.config import MODEL_KINDS

    record = tmp_path / "rec"  # never reached: the model file is refused first
    # a wavelet baseline's model.joblib is a pickle: refused without --trust-pickle, never unpickled
    marker = tmp_path / "unpickled"
    joblib_file = tmp_path / "wavelet" / "model.joblib"
    joblib_file.parent.mkdir()
    joblib_file.write_bytes(pickle.dumps({"pipeline": _WritesMarker(marker), "meta": {"kind": "wavelet"}}))
    assert cli_main(["predict", "--model", str(joblib_file), str(record)]) == 2
    err = capsys.readouterr().err
    assert "is a pickle" in err and "--trust-pickle" in err and "UserWarning" not in err
    assert not marker.exists()
    # a kind whose registry entry has no predictor: named, with the kinds that can
    monkeypatch.setitem(MODEL_KINDS, "amplitude", MODEL_KINDS["wavelet"]._replace(predictor=None))
    other = tmp_path / "amplitude" / "model.pt"
    other.parent.mkdir()
    torch.save({"state_dict": {}, "meta": {"kind": "amplitude", "classes": CLASSES}}, other)
    assert cli_main(["predict", "--model", str(other), str(record)]) == 2
    err = capsys.readouterr().err
    assert "is a model of kind 'amplitude', which cannot classify new records" in err
    assert "takes kinds cnn2d, cnn1d, wavelet" in err
    # a kind this version does not know
    torch.save({"state_dict": {}, "meta": {"kind": "transformer", "classes": CLASSES}}, other)
    assert cli_main(["predict", "--model", str(other), str(record)]) == 2
    assert "of kind 'transformer', which this version of ecgcwt does not know" in capsys.readouterr().err


def test_a_model_trained_on_synthetic_data_warns_on_real_records(trained, tmp_path):
    from ecgcwt.data import generate_database

    # the tiny model saw real records: no warning on a real record
    real = trained["root"] / "nsrdb" / "16483"
    r = run_cli("--model", trained["model"], "--max-windows", "2", real)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    # the same network, marked as trained on the synthetic source (as segments.h5 records it)
    saved = torch.load(trained["model"], map_location="cpu", weights_only=True)
    saved["meta"]["scalogram_attrs"]["data_source"] = "synthetic: ECG-like records generated by ecgcwt (seed 0)"
    synthetic_model = tmp_path / "synthetic_model.pt"
    torch.save(saved, synthetic_model)
    r = run_cli("--model", synthetic_model, "--max-windows", "2", real)
    assert r.returncode == 0
    warning = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "16483" in warning[0] and "trained on synthetic data" in warning[0], r.stderr
    # on a synthetic record (its header says so) the same model does not warn
    generate_database("nsrdb", "NSR", tmp_path / "syn", subjects=1, duration_s=20, seed=0)
    r = run_cli("--model", synthetic_model, "--max-windows", "2", tmp_path / "syn" / "syn001")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    info = run_cli("--model", synthetic_model, "--info")
    assert "data source: synthetic" in info.stdout, info.stdout


# --------------------------------------------------------------------------- hostile contents of files

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[H\x9b31m\x00\r"


def _hostile_model(trained, folder: Path, controls: bool = True) -> Path:
    """A copy of the model whose class names and data source carry terminal control sequences (with
    ``controls``) and a class name that is a spreadsheet formula."""
    saved = torch.load(trained["model"], weights_only=True)
    if controls:
        saved["meta"]["classes"][0] += HOSTILE
    saved["meta"]["classes"][1] = "=HYPERLINK(1)"
    saved["meta"]["scalogram_attrs"]["data_source"] = f"synthetic{HOSTILE}"
    folder.mkdir()
    torch.save(saved, folder / "model.pt")
    return folder / "model.pt"


def test_control_characters_from_model_files_and_cards_never_reach_the_terminal(trained, tmp_path):
    model = _hostile_model(trained, tmp_path / "m")
    r = run_cli("--model", model, trained["root"] / "mitdb" / "100", "--max-windows", "1")
    assert r.returncode == 0, r.stderr
    for text in (r.stdout, r.stderr):
        assert not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F for c in text), repr(text)
    assert "pwned" not in r.stdout and "ARR" in r.stdout
    # a card with control sequences: printed without them
    (model.parent / "model_card.md").write_text(f"# Model card{HOSTILE}\n- classes: ARR\tCHF\n")
    r = run_cli("--model", model, "--info")
    assert r.returncode == 0 and "\x1b" not in r.stdout and "\x07" not in r.stdout and "\x9b" not in r.stdout


def test_csv_cells_that_would_be_spreadsheet_formulas_are_escaped(trained, tmp_path, monkeypatch):
    for folder in ("=cmd", "@x"):
        (tmp_path / folder).mkdir()
        write_copy(trained["root"] / "mitdb" / "100", tmp_path / folder, "100", seconds=10)
    model = _hostile_model(trained, tmp_path / "m", controls=False)
    monkeypatch.chdir(tmp_path)  # relative record paths, as a user types them
    r = run_cli("--model", model, "--csv", "pred.csv", "=cmd/100", "@x/100")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(tmp_path / "pred.csv")
    assert df["record"].tolist() == ["'=cmd/100", "'@x/100"]
    assert set(df["predicted"]) <= {"ARR", "'=HYPERLINK(1)", "NSR"}
    with open(tmp_path / "pred.csv") as fh:
        cells = [c for line in fh for c in line.rstrip("\n").split(",")]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not c[1:2].isdigit())]
    assert (df.select_dtypes("number") >= 0).all().all()  # numbers are left alone


# --------------------------------------------------------------------------- numbers in model files and headers


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("temperature", -1.0, "temperature -1.0 must be a finite number > 0"),
        ("temperature", 0.0, "temperature 0.0 must be a finite number > 0"),
        ("temperature", float("nan"), "temperature nan must be a finite number > 0"),
        ("std", [0.229, 0.0, 0.225], "normalisation std [0.229, 0.0, 0.225] must be three finite numbers > 0"),
        ("mean", [0.4, float("inf"), 0.4], "normalisation mean"),
        ("window", 10**9, "window 1000000000 must be a whole number of samples in 16..262144"),
        ("fs", 1.0, "sampling rate 1.0 must be in 100..20000 Hz"),
    ],
)
def test_out_of_range_numbers_in_a_model_file_are_refused(trained, tmp_path, key, value, words):
    saved = torch.load(trained["model"], weights_only=True)
    if key in ("window", "fs"):
        saved["meta"]["preprocessing"][key] = value
    else:
        saved["meta"][key] = value
    bad = tmp_path / "model.pt"
    torch.save(saved, bad)
    r = run_cli("--model", bad, trained["root"] / "mitdb" / "100")
    assert r.returncode == 2 and r.stdout == "", r.stdout
    assert f"model file {str(bad)!r}: {words}" in r.stderr and "retrain the model" in r.stderr, r.stderr


def test_a_model_file_whose_scalogram_settings_contradict_its_images_is_refused(trained, tmp_path):
    for key, value in (("wavelet", "amor"), ("image_size", 64), ("fs", 360.0), ("voices_per_octave", 10**6)):
        saved = torch.load(trained["model"], weights_only=True)
        saved["meta"]["scalogram_attrs"][key] = value
        bad = tmp_path / f"{key}.pt"
        torch.save(saved, bad)
        with pytest.raises(ModelFileError) as err:
            load_predict_model(bad)
        assert str(bad) in str(err.value) and "retrain the model" in str(err.value), (key, err.value)


def _retimed(src_base: Path, out_dir: Path, fs_field: str) -> Path:
    """A copy of a record whose header declares the sampling frequency ``fs_field`` (samples untouched)."""
    name = src_base.name
    lines = (src_base.parent / f"{name}.hea").read_text().splitlines()
    first = lines[0].split()
    first[2] = fs_field
    (out_dir / f"{name}.hea").write_text("\n".join([" ".join(first), *lines[1:]]) + "\n")
    shutil.copy(src_base.parent / f"{name}.dat", out_dir / f"{name}.dat")
    return out_dir / name


@pytest.mark.parametrize("fs_field, words", [("50", "50 Hz"), ("1", "1 Hz"), ("-360", "-360 Hz"), ("25000", "25000")])
def test_records_at_implausible_sampling_rates_are_refused_naming_the_header(trained, tmp_path, fs_field, words):
    rec = _retimed(trained["root"] / "mitdb" / "100", tmp_path, fs_field)
    r = run_cli("--model", trained["model"], rec, trained["root"] / "mitdb" / "101", "--max-windows", "1")
    assert r.returncode == 1
    assert f"{rec}.hea" in r.stderr and f"sampling frequency {words}" in r.stderr and "100..20000 Hz" in r.stderr
    assert len(r.stdout.strip().splitlines()) == 1  # the other record is still classified


# --------------------------------------------------------------------------- outputs credited to the right model


def test_explain_figures_of_records_with_the_same_name_do_not_overwrite_each_other(trained, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, src in ((a, "100"), (b, "103")):
        folder.mkdir()
        write_copy(trained["root"] / "mitdb" / src, folder, "rec", seconds=20)
    out = tmp_path / "maps"
    r = run_cli("--model", trained["model"], "--explain", out, "--max-windows", "2", a / "rec", b / "rec", a / "rec")
    assert r.returncode == 0, r.stderr
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2 and all(p.name.startswith("rec.") for p in pngs)
    assert pngs[0].read_bytes() != pngs[1].read_bytes()
    # each figure's name is printed beside its record
    assert all(str(p) in r.stderr for p in pngs)


def test_info_shows_a_card_only_beside_the_model_file_it_describes(trained, tmp_path):
    card = trained["model"].parent / "model_card.md"
    text = card.read_text()
    from ecgcwt.evaluate import file_sha256

    assert f"- model file sha256: {file_sha256(trained['model'])}" in text
    # a fold's model beside the all-subjects card (another file): the card is not shown as its own
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(card, folder / "model_card.md")
    saved = torch.load(trained["model"], weights_only=True)
    saved["meta"]["fold"] = 1
    torch.save(saved, folder / "fold1.pt")
    r = run_cli("--model", folder / "fold1.pt", "--info")
    assert r.returncode == 0, r.stderr
    assert "model_card.md is not shown: it describes another model file" in r.stdout
    assert f"- model file sha256: {file_sha256(folder / 'fold1.pt')}" in r.stdout
    assert "all subjects (fold all)" not in r.stdout
    # the folder form: the card is shown once, for the file it names, and each other file gets its own
    shutil.copy(trained["model"], folder / "model.pt")
    r = run_cli("--model", folder, "--info")
    assert r.returncode == 0 and r.stdout.count("all subjects (fold all)") == 1
    assert r.stdout.count("is not shown: it describes another model file") == 1
    # a card without a hash (edited, or of an older version) is not trusted either
    (folder / "model_card.md").write_text(text.replace(f"- model file sha256: {file_sha256(trained['model'])}\n", ""))
    r = run_cli("--model", folder / "model.pt", "--info")
    assert "it names no model file hash" in r.stdout
