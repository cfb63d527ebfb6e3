"""Classify every record of an external folder of WFDB databases: results/external/{model}/."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

import torch  # noqa: E402

from ecgcwt.apply import predict_external  # noqa: E402

torch.set_num_threads(max(1, snakemake.threads))
params = snakemake.params
# one model file per training seed (a single one is a plain string); several: their ensemble
models = snakemake.input.model
predict_external(
    [models] if isinstance(models, str) else list(models),
    params.path,
    # {db: label} or the config's data.databases ({db: {label: ...}})
    databases=params.databases,
    out_dir=Path(snakemake.output.predictions).parent,
    device=params.get("device", "auto"),
    max_windows=params.get("max_windows"),
    max_duration_s=params.get("max_duration_s"),
    n_boot=params.get("bootstrap", 1000),
    ci=params.get("ci", 0.95),
    seed=params.get("seed", 0),
    # the model.joblib of a wavelet baseline is a pickle: this workflow wrote it
    trust_pickle=True,
    log=log.info,
)
