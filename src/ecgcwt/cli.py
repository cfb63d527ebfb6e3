"""The ``ecgcwt`` command line (``python -m ecgcwt``).

``ecgcwt predict --model model.pt RECORD...`` classifies WFDB records (paths
without extension) with a trained model: one line per record on stdout,
``--csv FILE`` also writes them as a table; ``--max-windows N`` and
``--max-duration-s SECONDS`` limit how much of each record is used (long
Holter records). ``ecgcwt predict --model model.pt --info`` prints the model's
card (what it is, the data it saw, intended use, known limits) and needs no
records. Bad input gets one line on stderr naming the record, file or
argument and the reason, never a traceback (usage errors too: the usage
itself is in ``--help``).

Exit status: 0 when every record was classified; 1 when any record failed
(the others are still classified and printed); 2 for a usage error: bad
arguments, an output path (``--csv``, ``--explain``) that cannot be written
(checked before any record is read), or a model file that is missing or not
a ``model.pt`` written by ecgcwt training.

``ecgcwt config FILE...`` prints the effective configuration as YAML on
stdout: the package's defaults (the schema's, equal to ``config.yaml``)
updated by each FILE in order, key by key, exactly as the workflow merges
``snakemake --configfile FILE...``, then checked by the same functions the
workflow's ``common.smk`` runs (``validate_config``, the record-name check).
Exit status 0; 2 when a file cannot be read or a value is invalid, with one
line on stderr naming the key (``ecgcwt config: error: folds.k: ...``). It
imports no torch, so it answers quickly on a login node.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Sequence

EXIT_OK, EXIT_RECORD_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    # the config's bound on data.max_duration_s: 1e308 s would overflow into inf samples (OverflowError)
    from ecgcwt.config import schema_range

    top = schema_range("data.max_duration_s")[1] or math.inf
    if not (math.isfinite(value) and 0 < value <= top):
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds > 0 and at most {top:g} (365 days), got {text!r}"
        )
    return value


# an escape sequence (CSI "ESC [ ... final", OSC "ESC ] ... BEL or ESC \\", or ESC and one character), then any
# other C0/C1 control character but newline and tab
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without terminal control sequences and control characters (newlines and tabs kept).

    Everything ``ecgcwt`` prints comes partly from files (a model card, a model
    file's class names and data source, record names): an edited file must not
    be able to clear the screen, retitle the terminal or hide a line.
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", str(text)))


#: How a spreadsheet starts a formula (or, with tab and CR, a cell it then reads as one).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(table):
    """A copy of ``table`` whose text cells starting a formula (= + - @, tab, CR) begin with a ``'``.

    Record names and class names come from files; opened in a spreadsheet, a
    cell ``=HYPERLINK(...)`` would run as a formula. Numbers are left as they are.
    """
    from pandas.api.types import is_numeric_dtype

    out = table.copy()
    for col in out.columns:
        if not is_numeric_dtype(out[col].dtype):
            out[col] = [
                "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v for v in out[col].tolist()
            ]
    return out


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ecgcwt", description="ECG rhythm classification from CWT scalograms.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "predict",
        help="classify WFDB records with a trained model",
        description="Classify WFDB records with a trained model of any kind (the train step's model.pt of a "
        "2D or 1D CNN, or model.joblib of the wavelet baseline). Each record's usable windows (the "
        "training's window, leads, sampling rate and quality checks; no overlap) go to the model as in "
        "training (scalograms for a 2D CNN, the raw signal otherwise); the record's class probabilities are "
        "the mean of its windows'. Exit status: 0 all classified, 1 a record failed, 2 usage or model-file error.",
    )
    # repeatable rather than nargs="+": a list option would swallow the RECORD arguments after it
    p.add_argument(
        "--model",
        required=True,
        action="append",
        metavar="PATH",
        help="model file written by the train step (model.pt, model.joblib), or a folder of them; give --model "
        "several times for an ensemble (the mean of the models' probabilities; all need the same kind, classes "
        "and preprocessing)",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load a model.joblib (the wavelet baseline): a pickle, which runs code when loaded; only for files "
        "you trust (ones your own workflow wrote)",
    )
    p.add_argument(
        "records",
        nargs="*",
        metavar="RECORD",
        help="WFDB record path without extension, e.g. data/mitdb/100 (at least one, unless --info)",
    )
    p.add_argument(
        "--info",
        action="store_true",
        help="print the model card (model_card.md beside the model, else one built from the model file) and exit",
    )
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the predictions to FILE (columns record, predicted, prob_<class>..., n_windows)",
    )
    p.add_argument(
        "--max-windows",
        type=_positive_int,
        metavar="N",
        help="use at most N windows per lead, spread evenly over the recording (default: all)",
    )
    p.add_argument(
        "--max-duration-s",
        type=_positive_seconds,
        metavar="SECONDS",
        help="use only the first SECONDS of each record, e.g. 512 for long Holter records (default: all of it)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=16,
        metavar="N",
        help="windows read, transformed and classified at a time (default 16): memory is bounded by it, "
        "not by the record's length",
    )
    p.add_argument(
        "--explain",
        metavar="DIR",
        help="also write DIR/<record>.png: Grad-CAM maps of its most confident windows (a 2D CNN's kind only)",
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, auto")
    p.add_argument("--threads", type=_positive_int, metavar="N", help="torch CPU threads")
    c = sub.add_parser(
        "config",
        help="print the effective configuration of config files (merged over the defaults, validated)",
        description="Merge the config FILEs over the package's defaults (later files update earlier ones key by "
        "key, as `snakemake --configfile FILE...` does), validate the result as the workflow does and print "
        "it as YAML. Exit status: 0 valid, 2 a file cannot be read or a value is invalid (one line on "
        "stderr naming the key).",
    )
    c.add_argument("files", nargs="+", metavar="FILE", help="YAML config file, e.g. config.yaml or a profile")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits with status 2 on a usage error
    if args.command == "predict":
        if args.info:
            return _info(args)
        if not args.records:
            print(
                "ecgcwt predict: error: the following arguments are required: RECORD (see ecgcwt predict --help)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return _predict(args)
    if args.command == "config":
        return _config(args)
    return EXIT_USAGE  # pragma: no cover (argparse requires a known command)


def _error(text: str, command: str = "predict") -> None:
    print(terminal_safe(f"ecgcwt {command}: error: {text}"), file=sys.stderr, flush=True)


def _config(args) -> int:
    # config and data faces only: neither imports torch (a test checks)
    from ecgcwt.config import effective_config_yaml, merge_config_files
    from ecgcwt.data import check_config_record_names
    from ecgcwt.errors import ConfigError, RecordError

    try:
        # the two checks of workflow/rules/common.smk: validate_config (inside the merge), then record names
        config = merge_config_files(args.files)
        check_config_record_names(config["data"]["records"], error=ConfigError)
    except (ConfigError, RecordError) as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        _error("; ".join(" ".join(p.split()) for p in problems), "config")  # one line, each "key: reason"
        return EXIT_USAGE
    sys.stdout.write(effective_config_yaml(config, args.files))
    return EXIT_OK


def _info(args) -> int:
    """Print the model card of ``--model``: ``model_card.md`` beside it, or one built from its metadata."""
    from pathlib import Path

    from ecgcwt.apply import ModelFileError, model_card_of

    try:  # --model may be given several times (an ensemble): one card each
        text = "\n".join(model_card_of(Path(m)) for m in args.model)
    except ModelFileError as exc:
        _error(str(exc).splitlines()[0])
        return EXIT_USAGE
    from ecgcwt.config import citation_text

    text = terminal_safe(text)
    print(text, end="" if text.endswith("\n") else "\n")
    print(f"\n{citation_text()}", flush=True)
    return EXIT_OK


def _output_problem(path: str, *, folder: bool) -> str | None:
    """Why ``path`` (a file to write, or with ``folder`` a folder to write into) cannot be written, or None.

    Creates the missing parent folders (the write would), then writes and removes a probe file there.
    """
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.is_dir() and not folder:
        return "it is a folder; give a file name, e.g. predictions.csv"
    if target.exists() and not target.is_dir() and folder:
        return "it is a file; give a folder (it is created when missing)"
    where = target if folder else target.parent
    for above in [where, *where.parents]:
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                return f"{above} is a file, not a folder: choose another path or move that file"
            break
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=where, prefix=".ecgcwt-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot write there ({exc.strerror or exc})"
    return None


def _predict(args) -> int:
    from pathlib import Path

    import torch

    from ecgcwt.apply import ModelFileError, format_row, load_predict_model, predict_records
    from ecgcwt.atomic import write_csv
    from ecgcwt.errors import EcgCwtError

    if args.threads:
        torch.set_num_threads(args.threads)
    # the output paths are checked before any record is classified (a 24 h record takes minutes)
    for option, path, folder in (("--csv", args.csv, False), ("--explain", args.explain, True)):
        problem = path and _output_problem(path, folder=folder)
        if problem:
            _error(f"{option} {path}: {problem}")
            return EXIT_USAGE
    try:
        model = load_predict_model(args.model, args.device, trust_pickle=args.trust_pickle)
    except (ModelFileError, EcgCwtError) as exc:
        _error(str(exc).splitlines()[0])
        return EXIT_USAGE
    except Exception as exc:  # e.g. an unknown device name
        _error(
            f"cannot load model {', '.join(args.model)!r}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        )
        return EXIT_USAGE

    from ecgcwt.apply import synthetic_model_warning
    from ecgcwt.config import model_kind

    if args.explain and not model_kind(model.kind).explains:
        _error(f"--explain: a {model.kind} model has no explanation maps; leave out --explain")
        return EXIT_USAGE

    for record in args.records:  # before any result, so the warning is not missed
        warning = synthetic_model_warning(model, record)
        if warning:
            print(terminal_safe(f"ecgcwt predict: warning: {warning}"), file=sys.stderr, flush=True)

    from ecgcwt.apply import explain_file_names

    # two records of the same name from different folders get different figure names
    figure_names = explain_file_names(args.records) if args.explain else {}

    def show(row: dict) -> None:
        print(terminal_safe(format_row(row, model.classes)), flush=True)
        if args.explain:  # the record was readable: its windows are cut again for the maps
            from ecgcwt.apply import explain_record

            png = explain_record(
                model,
                row["record"],
                args.explain,
                max_windows=args.max_windows,
                max_duration_s=args.max_duration_s,
                file_name=figure_names.get(str(row["record"])),
            )
            if png.name != f"{Path(str(row['record'])).name}.png":
                print(terminal_safe(f"ecgcwt predict: {row['record']}: Grad-CAM figure {png}"), file=sys.stderr)

    table, errors = predict_records(
        model,
        args.records,
        max_windows=args.max_windows,
        max_duration_s=args.max_duration_s,
        batch_size=args.batch_size,
        on_result=show,
        on_error=lambda record, reason: _error(f"{record}: {reason}"),
    )
    if args.csv:
        try:
            write_csv(spreadsheet_safe(table), args.csv)
        except OSError as exc:
            _error(f"cannot write {args.csv}: {exc.strerror or exc}")
            return EXIT_RECORD_FAILED
    return EXIT_RECORD_FAILED if errors else EXIT_OK
