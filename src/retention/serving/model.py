"""What the serving process holds: the champion and what scoring with it needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from retention.features.catalogue import Catalogue, load_catalogue
from retention.model.artifact import ChurnModel
from retention.model.effects_artifact import EffectModels
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import Playbook, load_playbook
from retention.settings import Settings
from retention.tariffs.tables import TariffTables, load_tariffs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """Swapped whole on reload, so a request in flight keeps the model it started with."""

    name: str
    version: str
    model: ChurnModel
    catalogue: Catalogue = field(default_factory=load_catalogue)
    playbook: Playbook = field(default_factory=load_playbook)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    tariffs: TariffTables = field(default_factory=load_tariffs)  # the tariff_plan offers
    # The effects champion's version and models (key-account-effects@champion), or None: on-
    # demand answers then carry no expected effects, as a batch scored without one.
    effects: tuple[str, EffectModels] | None = None


def champion_version(settings: Settings) -> str | None:
    """The version the registry's champion alias points to now (a cheap registry query)."""
    from retention.model import registry

    registry.configure(settings.tracking_uri)
    return registry.champion_version()


def load_champion_for_serving(settings: Settings) -> ServingModel:
    """The registry's champion (`models:/key-account-churn@champion`), refused (like no
    champion at all) when the catalogue cannot compute every feature it reads."""
    from retention.model.compatibility import require_catalogue
    from retention.model.registry import MODEL_NAME, configure, load_champion

    configure(settings.tracking_uri)
    version, model = load_champion()
    catalogue = load_catalogue()
    require_catalogue(version, model, catalogue)
    return ServingModel(
        name=MODEL_NAME,
        version=version,
        model=model,
        catalogue=catalogue,
        effects=_effects_champion(),
    )


def _effects_champion() -> tuple[str, EffectModels] | None:
    """The effects champion, as `retention score` loads it; one that cannot be loaded leaves
    on-demand answers without expected effects rather than the service without a model."""
    from retention.model.registry import load_effects_champion

    try:
        return load_effects_champion()
    except Exception:  # a broken effects artifact: the churn model is still served
        log.warning("the effects champion could not be loaded: no expected effects on demand")
        return None
