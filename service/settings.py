"""Settings from WEBCARE_* environment variables (and an optional .env), read once."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "development"}


class DeliveryTarget(BaseModel):
    """Another system that receives routed reports: Signalen, an Open311 endpoint, or a signed webhook."""

    format: Literal["signalen", "open311", "webhook"]
    url: str
    # Signalen: a bearer token; Open311: the api_key; webhook: the HMAC secret.
    secret: SecretStr | None = None
    # Open311's service_code, or Signalen's sub-category URL, per our subcategory ("default" for the rest).
    codes: dict[str, str] = {}
    timeout_seconds: float = 10.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBCARE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///webcare.db"
    # Secrets have no defaults; production refuses to start without real ones.
    secret_key: SecretStr | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    x_consumer_secret: SecretStr | None = None

    model_path: Path | None = None
    # Below this classifier confidence a ticket goes to the triage queue (the seeded triage rule uses it).
    triage_threshold: float = 0.6
    # A message whose sent_at lies further ahead than this is refused (clock skew allowance).
    max_future_skew_minutes: int = 5
    # A citizen's message on a ticket resolved at most this long ago reopens it instead of starting a new one.
    reopen_window_days: int = 7
    # A claim lapses after this many minutes without activity by the agent, and the ticket returns to the queue.
    claim_lease_minutes: int = 20
    # A target is "at risk" once this share of its time has passed.
    sla_at_risk_share: float = Field(default=0.8, gt=0, lt=1)
    # How often the SLA sweeper looks for targets at risk or breached.
    sweep_interval_seconds: float = 30
    # `webcare serve` also runs the background jobs itself (the single-machine setup); switch off when
    # separate `webcare worker` processes run them.
    run_worker_in_process: bool = True
    # Systems that receive reports, by name (routing rules name them in deliver_to), as JSON, e.g.
    # {"openbare_ruimte": {"format": "signalen", "url": "https://signalen.example.nl/signals/v1/public/signals/"}}
    delivery_targets: dict[str, DeliveryTarget] = {}
    delivery_max_attempts: int = 8
    delivery_poll_seconds: float = 5

    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 10.0
    log_level: str = "INFO"

    @property
    def claim_lease(self) -> timedelta:
        return timedelta(minutes=self.claim_lease_minutes)

    @model_validator(mode="after")
    def _real_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if key.lower() in PLACEHOLDER_SECRETS or len(key) < 32:
                raise ValueError(
                    "WEBCARE_SECRET_KEY must be set to a random value of at least 32 characters in production"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
