"""The model card of a model file, for ``ecgcwt predict --model M --info``."""

from __future__ import annotations

import os
from pathlib import Path

from ecgcwt.apply.predict import ModelFileError
from ecgcwt.evaluate import card_facts_from_meta, model_card_text

CARD_NAME = "model_card.md"


def model_card_of(model_file: str | os.PathLike) -> str:
    """``model_card.md`` beside ``model_file`` when the training job wrote one, else a card from its metadata.

    Raises :class:`ModelFileError` when the model file is missing, or has no
    card beside it and is not a ``model.pt`` with metadata.
    """
    path = Path(model_file)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist (give the model.pt written by the train step)")
    card = path.parent / CARD_NAME
    if card.is_file():
        return card.read_text()
    import torch  # only when there is no card to read

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # random bytes, a pickle needing code, a truncated file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelFileError(
            f"model file {str(path)!r} has no {CARD_NAME} beside it and cannot be loaded as a model.pt written "
            f"by ecgcwt ({type(exc).__name__}: {first})"
        ) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("meta"), dict):
        raise ModelFileError(
            f"model file {str(path)!r} has no {CARD_NAME} beside it and no metadata: not a model.pt written by ecgcwt"
        )
    return model_card_text(card_facts_from_meta(saved["meta"], model_file=path.name))
