"""One settings object, read once when a job starts and passed down.

Every field can be set with an environment variable `RETENTION_<FIELD>` or in a `.env` file in
the working folder (production: a PostgreSQL URL, a remote MLflow URI, the data folder, the
horizon and the team's capacity).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, FilePath, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_Model = TypeVar("_Model", bound=BaseModel)


class Settings(BaseSettings):
    """Where things live and the few numbers the business sets."""

    model_config = SettingsConfigDict(
        env_prefix="RETENTION_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    work_dir: Path = Field(
        default=Path("var"),
        description="Folder for the demo dataset, the SQLite store, exports and reports.",
    )
    data_dir: Path | None = Field(
        default=None, description="Dataset folder the jobs read; default: <work_dir>/demo-data."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store; default: SQLite in work_dir."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking and registry URI; default: ./mlruns/mlflow.db."
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler (tcp://host:8786) the jobs given --scheduler use when "
        "the option is left out; none: one process.",
    )
    horizon_months: int = Field(default=6, ge=1, le=24, description="Prediction horizon H.")
    capacity: int = Field(
        default=200, ge=1, description="Accounts the team can visit in one cycle (top K)."
    )
    # money_at_risk by default: on the simulator, ranking by the estimated effects saved
    # less than ranking by money at risk (benchmarks/targeting.py), so it is opt-in
    list_mode: Literal["auto", "money_at_risk"] = Field(
        default="money_at_risk",
        description="What ranks the list: money_at_risk (the default) always ranks by money at "
        "risk; auto ranks by expected money saved once the effect models have enough "
        "randomised evidence, by money at risk until then.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs the web page's session cookies; default: a random key kept in "
        "<work_dir>/secret_key (set it in production so every server shares one).",
    )
    model_check_seconds: float = Field(
        default=60,
        ge=0,
        description="How often the server asks the registry which version is champion and "
        "loads a new one (every worker does; 0: only POST /v1/admin/reload).",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Send the web page's session cookie over HTTPS only (set true in "
        "production behind TLS).",
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="The largest POST /v1/score body the server reads (413 beyond it, as soon "
        "as the header or the stream passes it); every other request body may be 64 KiB.",
    )
    score_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Worker processes that parse and score POST /v1/score bodies, so scoring "
        "never holds the server's event loop (each serving process has its own).",
    )
    medium_probability: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description="Accounts outside the top K with at least this probability are medium risk.",
    )

    # Monitoring (`retention monitor`): when the summary recommends retraining.
    drift_threshold: float = Field(
        default=0.2,
        gt=0,
        description="PSI (population stability index) from which a feature's or the scores' "
        "distribution counts as drifted from the training reference.",
    )
    drift_share: float = Field(
        default=0.04,
        gt=0,
        le=1,
        description="Retrain when at least this share of the model's features drifted.",
    )
    max_auc_drop: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="Retrain when a matured batch's realised ROC AUC is more than this below "
        "the model's test ROC AUC.",
    )

    # Files users edit; each default is the copy shipped in the package (the repository keeps
    # the same file under features/, serving/ and training/ to copy from). A path that names
    # no file is refused when the settings are read, not when a job first needs it.
    catalogue: FilePath | None = Field(
        default=None,
        description="The feature catalogue YAML; default: the packaged features/catalogue.yaml.",
    )
    playbook: FilePath | None = Field(
        default=None,
        description="The follow-up playbook YAML; default: the packaged serving/playbook.yaml.",
    )
    holidays: FilePath | None = Field(
        default=None,
        description="Holidays and make-up workdays for years chinese_calendar does not know; "
        "default: the packaged serving/holidays.yaml.",
    )
    service_clocks: FilePath | None = Field(
        default=None,
        description="The applicants' service clocks YAML (time limits of the connection "
        "steps, 业扩环节时限); default: the packaged serving/service_clocks.yaml.",
    )
    tariffs: FilePath | None = Field(
        default=None,
        description="The tariff tables YAML (电价表: energy prices, basic charges, the power-"
        "factor adjustment); default: the packaged serving/tariffs.yaml (an example province).",
    )

    # The embedded demo: a simulated portfolio, see retention.data.simulator.
    demo_accounts: int = Field(default=5000, ge=50)
    demo_months: int = Field(default=36, ge=24, le=120)
    demo_start: str = Field(default="2023-11", pattern=r"^\d{4}-\d{2}$")
    demo_seed: int = 20261129

    @field_validator(
        "work_dir",
        "data_dir",
        "catalogue",
        "playbook",
        "holidays",
        "service_clocks",
        "tariffs",
    )
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @property
    def dataset_dir(self) -> Path:
        return self.data_dir or self.work_dir / "demo-data"

    def session_secret(self) -> str:
        """The key that signs session cookies: the setting, or one generated once per work
        folder (readable only by its owner)."""
        if self.secret_key:
            if len(self.secret_key) < 32 or self.secret_key.lower() in {"changeme", "secret"}:
                raise ValueError("RETENTION_SECRET_KEY must be a random string of 32+ characters")
            return self.secret_key
        path = self.work_dir / "secret_key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        return path.read_text(encoding="utf-8").strip()

    @property
    def catalogue_file(self) -> Path:
        return self.catalogue or packaged_file("features/catalogue.yaml")

    @property
    def playbook_file(self) -> Path:
        return self.playbook or packaged_file("serving/playbook.yaml")

    @property
    def holidays_file(self) -> Path:
        return self.holidays or packaged_file("serving/holidays.yaml")

    @property
    def service_clocks_file(self) -> Path:
        return self.service_clocks or packaged_file("serving/service_clocks.yaml")

    @property
    def tariffs_file(self) -> Path:
        return self.tariffs or packaged_file("serving/tariffs.yaml")

    @property
    def outputs_dir(self) -> Path:
        """Where exports and reports are written by default."""
        return self.work_dir / "outputs"

    @property
    def reports_dir(self) -> Path:
        """Where `retention monitor` writes its HTML reports."""
        return self.work_dir / "reports"

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.work_dir / 'retention.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{Path('mlruns').resolve() / 'mlflow.db'}"


def packaged_file(name: str) -> Path:
    """A file shipped in the package under retention/resources/, e.g. 'serving/playbook.yaml'.

    pip installs a wheel unpacked, so the resource is a file on disk that errors can name.
    """
    path = resources.files("retention").joinpath("resources", name)
    if not isinstance(path, Path):
        raise RuntimeError(f"retention is installed zipped; {name} is not a file on disk")
    return path


class ConfigFileError(ValueError):
    """A YAML file users edit (catalogue, training config, playbook, service clocks) that
    cannot be used; the message names the file and the field."""


def load_yaml_model(path: Path, model: type[_Model], what: str) -> _Model:
    """Read a YAML file into a validated pydantic model, every problem named with its field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ConfigFileError(f"{path}: {what} not found") from err
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{path}: not valid YAML: {err}") from err
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigFileError(f"{path}: {problems}") from err
