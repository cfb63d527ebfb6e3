"""Train one model (any kind) on one fold, on every subject ("all") or on the leaky random split."""

from pathlib import Path

from ecgcwt.logs import log_to, progress_echo

log = log_to(snakemake.log[0])
w = snakemake.wildcards
# one line per epoch on the terminal too (the log file has everything)
label = " ".join(
    [snakemake.rule, w.model, *([f"seed {w.seed}"] if "seed" in w.keys() else []), f"fold {w.get('fold', 'all')}"]
)

from ecgcwt.config import job_config, with_run_settings  # noqa: E402
from ecgcwt.learn import train_model  # noqa: E402


def check_scalogram_cache(path: str) -> None:
    """A cache of other settings (a copied file, --rerun-triggers mtime) would train a model that says otherwise;
    with experiments the settings are those of the job's experiment. Imported here: the kinds that read segments
    (their envs hold no torch) never load the imaging wing."""
    from ecgcwt.imaging import CACHE_FORMAT, DEFAULT_CODEC, check_cache_settings

    cfg = job_config(snakemake.config, dict(w.items()), {"format": CACHE_FORMAT, "codec": DEFAULT_CODEC})
    check_cache_settings(path, cfg["cwt"])


if snakemake.input.get("scalograms"):
    check_scalogram_cache(snakemake.input.scalograms)

train_model(
    # the tracked spec plus the settings that cannot change a result (memory budget, checkpoint
    # interval), read from the job's config: changing one of those retrains nothing
    with_run_settings(snakemake.params.spec, snakemake.config, snakemake.wildcards.model),
    name=snakemake.wildcards.model,
    # results/models/{model}/fold{k}/, results/models/{model}/all/ or results/leak/{model}/
    fold=snakemake.wildcards.get("fold", "all"),
    out_dir=Path(snakemake.output.model).parent,
    scalograms=snakemake.input.get("scalograms"),
    segments=snakemake.input.get("segments"),
    folds_csv=snakemake.input.get("folds"),
    n_folds=snakemake.params.n_folds,
    split=snakemake.params.split,
    threads=snakemake.threads,
    # resources/weights/{backbone}.pth when training starts from ImageNet weights
    weights_file=snakemake.input.get("weights"),
    log=progress_echo(log.info, label),
)
