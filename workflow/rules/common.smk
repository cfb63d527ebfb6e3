import os
import sys
from pathlib import Path

# The library lives in src/ecgcwt beside this workflow; jobs (local, conda or
# SLURM) import it from there, so every deployment runs the same code.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
# (set, not required: the lint's envvars rule is about variables a user must provide)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from ecgcwt.config import validate_config  # noqa: E402
from ecgcwt.errors import ConfigError  # noqa: E402
from ecgcwt.records import check_config_record_names  # noqa: E402

# Validate first: a bad value stops the run before any job starts, with the key
# named. Defaults from the schema are filled in place.
validate_config(config)
# Record names in data.records become paths below the database folder: one that
# could leave it (absolute, '..', ...) stops the run here too.
check_config_record_names(config["data"]["records"], error=ConfigError)

DATABASES = list(config["data"]["databases"])
CLASSES = sorted({v["label"] for v in config["data"]["databases"].values()})
BACKBONES = config["training"]["backbones"]
FOLDS = list(range(config["folds"]["k"]))


wildcard_constraints:
    db="|".join(DATABASES),
    backbone="|".join(BACKBONES),
    fold=r"\d+",


def database_dir(db):
    """Folder holding {db}/RECORDS and the WFDB files, for the configured source."""
    source = config["data"]["source"]
    if source == "local":
        return str(Path(config["data"]["path"]) / db)
    return f"resources/{source}/{db}"


def records_files(wildcards=None):
    return [f"{database_dir(db)}/RECORDS" for db in DATABASES]


def records_of(db):
    """Explicit record list of a database, or None for its RECORDS list."""
    records = config["data"]["records"]
    return records.get(db) if isinstance(records, dict) else None


def model_files(name):
    return expand(
        f"results/models/{{backbone}}/fold{{fold}}/{name}",
        backbone=BACKBONES,
        fold=FOLDS,
    )


def weights_input(wildcards):
    """The backbone's ImageNet weights file (rule weights) when training starts from it, else nothing.

    ancient(): the file's content is fixed (checked against torchvision's hash),
    so a re-fetched or hand-placed copy with a newer time does not retrain.
    """
    training = config["training"]
    if training["pretrained"] == "imagenet" and training["strategy"] != "scratch":
        return {"weights": ancient(f"resources/weights/{wildcards.backbone}.pth")}
    return {}
