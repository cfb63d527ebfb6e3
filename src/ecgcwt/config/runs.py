"""The runs of a workflow by name: one row per (model, seed, fold) with the files each run wrote.

The workflow lists these files as a rule's inputs (so the DAG holds every one)
and hands the same rows to the job as a parameter, so a job looks a file up by
``(model, seed, fold)`` and never by its position in a list. Both come from
:func:`run_table`, the one place that knows where a run's files lie.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from ecgcwt.errors import ConfigError

#: the files of one cross-validation run that the evaluation reads: name -> file name
RUN_FILES: Mapping[str, str] = {
    "predictions": "predictions.csv",
    "metrics": "metrics.json",
    "history": "history.csv",
}


def run_table(
    models: Iterable[str],
    seeds: Sequence[int],
    folds: Sequence[int],
    run_dir: str,
    files: Mapping[str, str] = RUN_FILES,
) -> list[dict]:
    """One row ``{"model", "seed", "fold", <name>: path, ...}`` per model x seed x fold.

    ``run_dir`` is the folder of one run with ``{model}``, ``{seed}`` and ``{fold}``
    fields (``{seed}`` may be absent: a one-seed run keeps seedless paths); ``files``
    maps each name a row carries to the file's name inside that folder.
    """
    clash = sorted(set(files) & {"model", "seed", "fold"})
    if clash:
        raise ValueError(f"run_table: file names {clash} would hide the row's key; name the files otherwise")
    rows = []
    for model in models:
        for seed in seeds:
            for fold in folds:
                folder = run_dir.format(model=model, seed=seed, fold=fold).rstrip("/")
                rows.append(
                    {
                        "model": str(model),
                        "seed": int(seed),
                        "fold": int(fold),
                        **{name: f"{folder}/{file}" for name, file in files.items()},
                    }
                )
    return rows


def table_files(rows: Iterable[Mapping], name: str) -> list[str]:
    """The ``name`` file of every row (the inputs a rule declares for them)."""
    return [str(row[name]) for row in rows]


def runs_by_model(rows: Iterable[Mapping], name: str) -> dict[str, dict[int, list[tuple[int, str]]]]:
    """``model -> seed -> [(fold, path of its name file)]``, folds in the order the rows give them."""
    out: dict[str, dict[int, list[tuple[int, str]]]] = {}
    for row in rows:
        out.setdefault(str(row["model"]), {}).setdefault(int(row["seed"]), []).append(
            (int(row["fold"]), str(row[name]))
        )
    return out


def check_declared(paths: Iterable[str], declared: Iterable[str], where: str) -> None:
    """Stop when a job would read a file its rule did not declare as an input (the DAG would not build it)."""
    known = {str(p) for p in declared}
    missing = sorted({str(p) for p in paths} - known)
    if missing:
        raise ConfigError(
            f"{where}: {len(missing)} file(s) of params are not inputs of the rule, e.g. {missing[0]}; "
            "build the inputs and the params from the same run_table()"
        )


def files_by_model(models: Iterable[str], patterns: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``model -> {name: path}``: each ``{model}`` pattern of ``patterns`` filled in, e.g. a model's figures."""
    return {str(m): {name: pattern.format(model=m) for name, pattern in patterns.items()} for m in models}
