"""Resample and window every recording into results/data/segments.h5."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.atomic import write_csv  # noqa: E402
from ecgcwt.config import describe_data_source  # noqa: E402
from ecgcwt.data import (  # noqa: E402
    DatabaseSource,
    QualityLimits,
    SegmentSpec,
    segment_to_store,
    skipped_records,
)

seg = snakemake.params.segments
spec = SegmentSpec(
    fs=seg["fs"],
    window=seg["window"],
    hop=seg["hop"],
    max_per_recording=seg["max_per_recording"],
    leads=None if seg["leads"] == "all" else seg["leads"],
    max_duration_s=snakemake.params.max_duration_s,
    quality=QualityLimits(**seg["quality"]),
)
sources = [
    DatabaseSource(db, Path(v["path"]), v["label"], v["records"]) for db, v in snakemake.params.databases.items()
]
# record by record into the store: memory holds one record, not every window
table, qc, classes = segment_to_store(
    snakemake.output.segments,
    sources,
    spec,
    snakemake.params.subject_map,
    on_bad_record=snakemake.params.on_bad_record,
    data_source=snakemake.params.source,
    # the data source in words, stored in segments.h5 and carried on to the scalograms and the models
    data_description=describe_data_source(snakemake.config),
)
skipped = skipped_records(qc)
if len(skipped):
    log.warning(
        "data.on_bad_record: skip left out %d record(s) (listed with status skipped in %s):\n%s",
        len(skipped),
        snakemake.output.qc,
        "\n".join(f"  {r.db}/{r.record} ({r.label}): {r.reason}" for r in skipped.itertuples()),
    )
log.info(
    "%d windows from %d recordings of %d subjects; per class: %s",
    len(table),
    table["recording"].nunique(),
    table["subject"].nunique(),
    table.groupby("label")["subject"].nunique().to_dict(),
)
dropped = qc.filter(like="dropped_").sum().to_dict()
log.info("dropped windows: %s", dropped)
write_csv(qc, snakemake.output.qc)
