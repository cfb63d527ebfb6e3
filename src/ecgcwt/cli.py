"""The ``ecgcwt`` command line (``python -m ecgcwt``).

``ecgcwt predict --model model.pt RECORD...`` classifies WFDB records (paths
without extension) with a trained model: one line per record on stdout,
``--csv FILE`` also writes them as a table; ``--max-windows N`` and
``--max-duration-s SECONDS`` limit how much of each record is used (long
Holter records). Bad input gets one line on stderr naming the record, file or
argument and the reason, never a traceback (usage errors too: the usage
itself is in ``--help``).

Exit status: 0 when every record was classified; 1 when any record failed
(the others are still classified and printed); 2 for a usage error: bad
arguments, or a model file that is missing or not a ``model.pt`` written by
ecgcwt training.
"""

from __future__ import annotations

import argparse
import math
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
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


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
        description="Classify WFDB records with a trained model (model.pt of the train step). Each record's "
        "usable windows (the training's window, leads, sampling rate and quality checks; no overlap) "
        "become scalograms as in training; the record's class probabilities are the mean of its "
        "windows'. Exit status: 0 all classified, 1 a record failed, 2 usage or model-file error.",
    )
    p.add_argument("--model", required=True, metavar="PATH", help="model.pt written by the train step")
    p.add_argument(
        "records", nargs="+", metavar="RECORD", help="WFDB record path without extension, e.g. data/mitdb/100"
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
        "--explain", metavar="DIR", help="also write DIR/<record>.png: Grad-CAM maps of its most confident windows"
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, auto")
    p.add_argument("--threads", type=_positive_int, metavar="N", help="torch CPU threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits with status 2 on a usage error
    if args.command == "predict":
        return _predict(args)
    return EXIT_USAGE  # pragma: no cover (argparse requires a known command)


def _error(text: str) -> None:
    print(f"ecgcwt predict: error: {text}", file=sys.stderr, flush=True)


def _predict(args) -> int:
    import torch

    from ecgcwt.apply import ModelFileError, format_row, load_predict_model, predict_records
    from ecgcwt.atomic import write_csv
    from ecgcwt.errors import EcgCwtError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_predict_model(args.model, args.device)
    except (ModelFileError, EcgCwtError) as exc:
        _error(str(exc).splitlines()[0])
        return EXIT_USAGE
    except Exception as exc:  # e.g. an unknown device name
        _error(f"cannot load model {args.model!r}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
        return EXIT_USAGE

    def show(row: dict) -> None:
        print(format_row(row, model.classes), flush=True)
        if args.explain:  # the record was readable: its windows are cut again for the maps
            from ecgcwt.apply import explain_record

            explain_record(
                model, row["record"], args.explain, max_windows=args.max_windows, max_duration_s=args.max_duration_s
            )

    table, errors = predict_records(
        model,
        args.records,
        max_windows=args.max_windows,
        max_duration_s=args.max_duration_s,
        on_result=show,
        on_error=lambda record, reason: _error(f"{record}: {reason}"),
    )
    if args.csv:
        try:
            write_csv(table, args.csv)
        except OSError as exc:
            _error(f"cannot write {args.csv}: {exc.strerror or exc}")
            return EXIT_RECORD_FAILED
    return EXIT_RECORD_FAILED if errors else EXIT_OK
