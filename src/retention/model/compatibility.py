"""Whether today's feature catalogue can feed a model: a model reads its features by name, and
a feature renamed or removed from the catalogue would otherwise reach it as missing, silently."""

from __future__ import annotations

import hashlib
import logging

from retention.features.catalogue import Catalogue
from retention.model.artifact import ChurnModel

log = logging.getLogger(__name__)


class CatalogueMismatch(LookupError):
    """The catalogue cannot compute every feature the model reads: the model is refused."""

    def __init__(self, version: str, missing: list[str]) -> None:
        super().__init__(
            f"模型版本 {version} 需要的特征不在当前特征目录中 / model version {version} reads "
            f"features the current catalogue does not compute: {', '.join(missing)} (restore "
            f"them in the catalogue, or train and promote a model on this catalogue)"
        )
        self.version = version
        self.missing = missing


def catalogue_sha256(catalogue: Catalogue) -> str:
    """A digest of the catalogue's content (not of its file: formatting and comments aside)."""
    return hashlib.sha256(catalogue.model_dump_json().encode("utf-8")).hexdigest()


def missing_features(model: ChurnModel, catalogue: Catalogue) -> list[str]:
    """The model's features the catalogue does not compute, in the model's order."""
    return [name for name in model.features if name not in catalogue.by_name]


def require_catalogue(version: str, model: ChurnModel, catalogue: Catalogue) -> None:
    """Refuse a model whose features the catalogue cannot compute; a different catalogue that
    still computes them all (a reworded reason, a new feature) is only logged."""
    missing = missing_features(model, catalogue)
    if missing:
        raise CatalogueMismatch(version, missing)
    trained_with = model.info.catalogue_sha256
    if trained_with is not None and trained_with != catalogue_sha256(catalogue):
        log.info(
            "model version %s was trained with another catalogue; it reads all of its "
            "features from this one",
            version,
        )
