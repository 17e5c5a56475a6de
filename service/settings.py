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
    # Retries wait a random time up to base * 2**(attempt-1) seconds, never more than the cap ("full jitter").
    delivery_backoff_base_seconds: float = 30
    delivery_backoff_cap_seconds: float = 3600
    # Where replies and acknowledgements go out: the platforms' APIs and our credentials there.
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_page_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    x_api_url: str = "https://api.x.com"
    x_bearer_token: SecretStr | None = None

    # Per process: total connections = processes × (pool size + overflow), which must stay below PostgreSQL's
    # max_connections less a reserve (docs/scaling.md, "Connection pools").
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 10.0
    # PostgreSQL cancels a statement running longer than this (0: no limit), so that a runaway query cannot hold a
    # pooled connection and its locks indefinitely.
    db_statement_timeout_seconds: float = Field(default=0, ge=0)
    log_level: str = "INFO"

    # Log-in: this many wrong passwords in a row lock the account for the given minutes.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: float = Field(default=15, gt=0)
    # Origins (scheme://host[:port]) besides the request's own Host that may post the log-in form, for a
    # proxy that rewrites Host.
    trusted_origins: list[str] = []
    # Request bodies larger than this are refused with 413 before they are read; per path prefix overrides.
    # A full batch (500 messages of 10,000 characters) is about 5 MB, more when the JSON escapes non-ASCII.
    max_body_bytes: int = Field(default=1_000_000, ge=0)
    max_body_bytes_by_path: dict[str, int] = {"/api/v1/messages/batch": 8_000_000}
    # Token buckets, in this process's memory (each API process enforces its own; a proxy does the global one).
    # Requests per second refilled, and the burst a bucket holds; a rate of 0 switches that limit off.
    ingest_rate_per_token: float = Field(default=20, ge=0)
    ingest_burst_per_token: int = Field(default=100, ge=1)
    ingest_rate_per_ip: float = Field(default=50, ge=0)
    ingest_burst_per_ip: int = Field(default=200, ge=1)
    login_rate_per_ip: float = Field(default=10 / 60, ge=0)
    login_burst_per_ip: int = Field(default=10, ge=1)

    # Privacy. The unmasked text of a message is kept (encrypted with a key derived from the secret key) only
    # when this is on; otherwise personal data is masked before anything is stored.
    keep_original_text: bool = False
    # A ticket resolved this long ago is closed; a closed one is anonymised this long after its last change.
    auto_close_days: int = Field(default=14, ge=1)
    retention_days: int = Field(default=365, ge=1)
    # How often a worker process runs the retention job.
    retention_interval_seconds: float = Field(default=3600, gt=0)
    # A webhook's raw body holds the unmasked text: emptied this long after it was processed.
    webhook_payload_retention_hours: float = Field(default=24, ge=0)
    # Proxies (addresses or networks, as JSON) whose X-Forwarded-For is believed for the client's address.
    trusted_proxies: list[str] = []

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

    @model_validator(mode="after")
    def _a_key_for_original_texts(self) -> "Settings":
        if self.keep_original_text and not (self.secret_key and self.secret_key.get_secret_value()):
            raise ValueError("WEBCARE_KEEP_ORIGINAL_TEXT needs WEBCARE_SECRET_KEY: the original texts are encrypted")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
