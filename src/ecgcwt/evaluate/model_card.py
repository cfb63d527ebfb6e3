"""Model cards: what a trained model is, what it saw, and what it is not for (``model_card.md``).

The fold runner (:func:`ecgcwt.learn.runner.run_fold`) writes one beside the
model file of every model trained on all subjects (``fold = "all"``, the model
behind external validation and ``ecgcwt predict``), from what the training
job knows: the learner's description, the training and validation windows per
class, and the preprocessing recorded in its input file. Cross-validated
metrics are not known to that job (they come from the report, built after all
folds): the card points to ``results/report/ranking.csv`` instead.
``ecgcwt predict --model M --info`` prints the card beside ``M``, or one built
from the model file's own metadata (:func:`card_facts_from_meta`).

Everything is plain data in, Markdown out: :func:`model_card_text` takes a
*facts* mapping (keys below, all optional but ``model`` and ``classes``) so the
runner and the command line fill it from their own sources.
"""

from __future__ import annotations

import os
from typing import Mapping

from ecgcwt.atomic import write_text
from ecgcwt.config import kind_of_meta

#: Preprocessing facts shown on a card, in this order, with their wording.
PREPROCESSING_TEXT = {
    "data_source": "data source",
    "fs": "sampling rate (Hz)",
    "window": "window (samples)",
    "hop": "hop between windows (samples)",
    "leads": "leads",
    "wavelet": "CWT wavelet",
    "voices_per_octave": "voices per octave",
    "fmin_hz": "lowest frequency (Hz)",
    "fmax_hz": "highest frequency (Hz)",
    "freq_limits_source": "frequency limits from",
    "n_scales": "scales",
    "image_size": "image size (px)",
    "image_mode": "image mode / colour map",
    "colors": "colour levels",
    "log": "log magnitude",
}
#: What the models are for; the same words on every card.
INTENDED_USE = (
    "Research on the three rhythm classes ARR (arrhythmia), CHF (congestive heart failure) and NSR (normal "
    "sinus rhythm) of the PhysioNet databases it was trained on. Not a diagnostic device: it has not been "
    "validated clinically and must not be used to make or support decisions about patients."
)
#: Fewer subjects than this in a class and the card warns.
FEW_SUBJECTS = 20


#: The card's line naming the SHA-256 of the model file it describes (``- model file sha256: <hex>``).
MODEL_HASH_FIELD = "model file sha256"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_model_sha256(card: str) -> str | None:
    """The model file SHA-256 a card names (:data:`MODEL_HASH_FIELD`), or None."""
    prefix = f"- {MODEL_HASH_FIELD}: "
    for line in card.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v)


def model_card_text(facts: Mapping) -> str:
    """The Markdown card of one model from ``facts``.

    Keys: ``model``, ``kind``, ``classes``, ``fold``, ``backbone``, ``pretrained``
    (weights), ``strategy``, ``seeds``, ``epochs_run``, ``best_epoch``,
    ``ecgcwt_version``, ``model_file``; ``data``: ``{"databases": [...],
    "per_class": {class: {"subjects": n, "windows": n}}, "validation_windows": n}``;
    ``preprocessing``: keys of :data:`PREPROCESSING_TEXT`; ``source``: where
    the facts come from.
    """
    classes = list(facts.get("classes") or [])
    name = facts.get("model", "model")
    lines = [f"# Model card: {name}", ""]
    if facts.get("source"):
        lines += [f"_{facts['source']}_", ""]
    lines += ["## What it is", ""]
    what = [
        ("kind", facts.get("kind")),
        ("backbone", facts.get("backbone")),
        ("weights (pretrained)", facts.get("pretrained")),
        ("strategy", facts.get("strategy")),
        ("seeds", facts.get("seeds")),
        ("trained on", "all subjects (fold all)" if str(facts.get("fold")) == "all" else facts.get("fold")),
        ("epochs run", facts.get("epochs_run")),
        ("best epoch (kept)", facts.get("best_epoch")),
        ("classes", classes),
        ("model file", facts.get("model_file")),
        (MODEL_HASH_FIELD, facts.get("model_sha256")),
        ("ecgcwt version", facts.get("ecgcwt_version")),
    ]
    lines += [f"- {k}: {_value(v)}" for k, v in what if v not in (None, "", [])]

    data = facts.get("data") or {}
    per_class = data.get("per_class") or {}
    lines += ["", "## Data it saw", ""]
    if data:
        if data.get("databases"):
            lines.append(f"- databases: {_value(sorted(data['databases']))}")
        if data.get("validation_windows") is not None:
            lines.append(
                f"- windows used for validation (early stopping) among them: {int(data['validation_windows'])}"
            )
        lines += ["", "| class | subjects | windows |", "| --- | --- | --- |"]
        lines += [
            f"| {c} | {int(per_class.get(c, {}).get('subjects', 0))} | {int(per_class.get(c, {}).get('windows', 0))} |"
            for c in classes
        ]
    else:
        lines.append("- not recorded in the model file (see the training job's metrics.json)")

    prep = facts.get("preprocessing") or {}
    lines += ["", "## Preprocessing", ""]
    shown = [(text, prep[k]) for k, text in PREPROCESSING_TEXT.items() if prep.get(k) is not None]
    lines += [f"- {text}: {_value(v)}" for text, v in shown] or ["- not recorded"]
    if prep.get("fs") and prep.get("window"):
        lines.append(f"- window length: {float(prep['window']) / float(prep['fs']):g} s")

    lines += [
        "",
        "## Cross-validated performance",
        "",
        "Not known to the job that trained this model on all subjects. The subject-grouped cross-validation of the "
        "same model settings is in the evaluation report: `results/report/ranking.csv` and `report.html` (balanced "
        "accuracy per subject with its interval).",
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        "## Known limits",
        "",
        f"- Only the classes {_value(classes) or 'it was trained on'}: every input is forced into one of them, "
        "including rhythms it never saw (atrial fibrillation, paced beats, noise).",
    ]
    if prep.get("fs"):
        lines.append(
            f"- Trained at {_value(float(prep['fs']))} Hz; records at other rates are resampled, which it was not "
            "tested on beyond the PhysioNet databases."
        )
    if prep.get("leads") is not None:
        lines.append(f"- Leads: {_value(prep['leads'])}; each lead is classified as its own recording.")
    else:
        lines.append("- Leads: each lead of a record is classified on its own; lead placement differs by database.")
    if per_class:
        counts = {c: int(per_class.get(c, {}).get("subjects", 0)) for c in classes}
        lines.append("- Subjects per class: " + ", ".join(f"{c} {n}" for c, n in counts.items()) + ".")
        few = [c for c, n in counts.items() if n < FEW_SUBJECTS]
        if few:
            lines.append(
                f"- Few subjects: {', '.join(few)} had fewer than {FEW_SUBJECTS} people. Windows of one person are "
                "correlated, so what the model learned may be that person (or that database's recorder) rather than "
                "the rhythm; expect lower accuracy on new people and new recording equipment."
            )
    lines.append(
        "- Each class comes from its own database, so database (equipment, era, population) and class are confounded."
    )
    return "\n".join(lines) + "\n"


def write_model_card(path: str | os.PathLike, facts: Mapping) -> None:
    """Write :func:`model_card_text` of ``facts`` to ``path`` atomically."""
    write_text(path, model_card_text(facts))


def preprocessing_facts(attrs: Mapping) -> dict:
    """The card's preprocessing facts of a cache's or model file's attributes, the CWT and image settings read
    by the functions that wrote them (:meth:`ecgcwt.imaging.CwtParams.from_attrs`,
    :func:`ecgcwt.imaging.image_from_attrs`); attributes they refuse are shown as stored."""
    from ecgcwt.imaging import CwtParams, image_from_attrs, image_to_attrs

    facts = dict(attrs)
    try:
        facts.update(CwtParams.from_attrs(attrs).to_attrs())
        facts.update(image_to_attrs(image_from_attrs(attrs)))
    except ValueError:
        pass
    return {k: facts[k] for k in PREPROCESSING_TEXT if k in facts}


def card_facts_from_meta(meta: Mapping, model_file: str | None = None) -> dict:
    """Card facts from a model file's metadata (``model.pt``'s ``meta``) when no card was written beside it."""
    cfg = meta.get("config") or {}
    attrs = dict(meta.get("scalogram_attrs") or {})
    attrs.update(meta.get("preprocessing") or {})
    return {
        "model": meta.get("backbone", "model"),
        "kind": kind_of_meta(meta),
        "classes": list(meta.get("classes") or []),
        "fold": meta.get("fold"),
        "backbone": meta.get("backbone"),
        "pretrained": meta.get("weights_source") or cfg.get("pretrained"),
        "strategy": cfg.get("strategy"),
        "seeds": cfg.get("seed"),
        "best_epoch": meta.get("best_epoch"),
        "ecgcwt_version": meta.get("ecgcwt_version"),
        "model_file": model_file,
        "preprocessing": preprocessing_facts(attrs),
        "source": "built from the model file's metadata (no model_card.md beside it)",
    }
