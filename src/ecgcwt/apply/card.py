"""The model card of a model file, for ``ecgcwt predict --model M --info``."""

from __future__ import annotations

import os
from pathlib import Path

from ecgcwt.apply.predict import ModelFileError, check_model_file, load_failure, model_paths
from ecgcwt.evaluate import card_facts_from_meta, card_model_sha256, file_sha256, model_card_text

CARD_NAME = "model_card.md"


def model_card_of(model_file: str | os.PathLike) -> str:
    """``model_card.md`` beside ``model_file`` when the training job wrote one, else a card from its metadata.

    ``model_file`` may be a folder of model files (as ``predict --model`` takes): their cards, one after
    another. Raises :class:`ModelFileError` when the model file is missing, a folder holds no model file,
    or a file has no card beside it and is not a ``model.pt`` with metadata.
    """
    return "\n".join(_card_of(p) for p in model_paths(model_file))


def _card_of(model_file: Path) -> str:
    path = check_model_file(model_file)
    card = path.parent / CARD_NAME
    note = None
    if card.is_file():
        text = card.read_text(errors="replace")
        named, actual = card_model_sha256(text), file_sha256(path)
        if named == actual:
            return text
        # a card beside another model (a fold's model in the all-subjects folder, a copied or retrained file)
        why = (
            f"it describes another model file (sha256 {named[:12]}..., this file's is {actual[:12]}...)"
            if named
            else "it names no model file hash (a card of an older ecgcwt, or edited), so it may describe another model"
        )
        note = f"{card} is not shown: {why}. This card is built from {path.name} itself."
        if path.suffix != ".pt":
            raise ModelFileError(f"{card} does not describe model file {str(path)!r}: {why}")
    import torch  # only when no card beside it describes it

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # random bytes, a pickle needing code, a truncated file
        raise ModelFileError(
            f"model file {str(path)!r} has no {CARD_NAME} beside it and cannot be loaded as a model.pt written "
            f"by ecgcwt: {load_failure(path, exc)}"
        ) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("meta"), dict):
        raise ModelFileError(
            f"model file {str(path)!r} has no {CARD_NAME} beside it and no metadata: not a model.pt written by ecgcwt"
        )
    facts = card_facts_from_meta(saved["meta"], model_file=path.name)
    facts["model_sha256"] = file_sha256(path)
    if note:
        facts["source"] = f"{note} {facts['source']}"
    return model_card_text(facts)
