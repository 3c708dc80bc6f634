"""Service configuration from RAGMETER_* environment variables (and the openai SDK's own OPENAI_*)."""
from __future__ import annotations

import os
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from ragmeter.metrics.citations import DEFAULT_PATTERN, compile_pattern
from ragmeter.metrics.judges.registry import JUDGE_SPELLINGS, JUDGES

from ragmeter.service import config_file


# A config file named on the command line (`ragmeter gate --config`), read as RAGMETER_CONFIG would be.
CONFIG_FILE: ContextVar[Path | None] = ContextVar("ragmeter_config_file", default=None)
# (table, key) in ragmeter.toml -> setting
CONFIG_FILE_KEYS = {("gate", "threshold"): "hallucination_threshold",
                    ("embedded", "claim_cutoff"): "embedded_claim_cutoff"}


# RAGMETER_JUDGE's values: auto, then every registered judge's name and aliases.
JUDGE_CHOICES: tuple[str, ...] = ("auto", *JUDGE_SPELLINGS)
JudgeChoice = Literal[JUDGE_CHOICES]  # type: ignore[valid-type]


def _judge_help() -> str:
    """RAGMETER_JUDGE's description, from the registry: each judge, its aliases, and the deprecated names."""
    def one(spec) -> str:
        names = f"{spec.name} (or {', '.join(spec.aliases)})" if spec.aliases else spec.name
        return f"{names}: {spec.description}"

    deprecated = [f"{old}: deprecated name of {spec.name} (results report {spec.name!r}; a warning is logged)"
                  for spec in JUDGES for old in spec.deprecated]
    return "; ".join(["auto: the LLM judge (openai) when OPENAI_API_KEY or OPENAI_BASE_URL is set, else the "
                      "embedded one", *map(one, JUDGES), *deprecated]) + "."


class ConfigFileSettings(PydanticBaseSettingsSource):
    """What `ragmeter calibrate --write` stores in ragmeter.toml ([gate] threshold, [embedded] claim_cutoff), or in
    pyproject.toml ([tool.ragmeter.gate], [tool.ragmeter.embedded]); RAGMETER_CONFIG names another file. The
    environment wins over it."""

    def get_field_value(self, field, field_name):  # every value comes from __call__
        return None, field_name, False

    def __call__(self) -> dict:
        named = CONFIG_FILE.get() or os.environ.get("RAGMETER_CONFIG")
        try:
            located = config_file.find(Path(named) if named else None, _settings_in)
        except config_file.ConfigFileError as exc:
            raise SettingsError(str(exc)) from exc
        return located[1] if located else {}


def _settings_in(_: Path, tables: dict) -> dict | None:
    found = {setting: table[key] for (name, key), setting in CONFIG_FILE_KEYS.items()
             if isinstance(table := tables.get(name), dict) and table.get(key) is not None}
    return found or None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGMETER_", extra="ignore")

    judge: JudgeChoice = Field("auto", description=_judge_help())
    judge_model: str = Field("gpt-4o-mini", description="Chat model of the LLM judge.")
    embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model of the LLM judge; `local` (or all-MiniLM-L6-v2) "
                                              "embeds in-process with the embedded MiniLM.")
    judge_concurrency: int = Field(16, ge=1, description="Judge calls in flight, across all requests.")
    judge_timeout: float = Field(60.0, gt=0, description="Seconds per judge call before it is retried.")
    judge_max_retries: int = Field(4, ge=0, description="Retries on 429, 5xx, timeouts and dropped connections.")
    judge_response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", description="How to ask for JSON: strict schema, JSON mode, or the prompt alone.")
    judge_breaker_failures: int = Field(5, ge=1, description="Judge failures in a row (timeouts, 5xx, 429 after "
                                                             "retries) that open the circuit breaker.")
    judge_breaker_cooldown_s: float = Field(30.0, gt=0, description="Seconds the breaker stays open: requests get 503 "
                                                                   "at once and batch jobs pause.")
    cascade_band_low: float = Field(0.6, ge=0, le=1, description="Cascade: embedded support probabilities from "
                                                                 "this value...")
    cascade_band_high: float = Field(0.95, ge=0, le=1, description="...up to (not including) this one go to the "
                                                                   "LLM judge.")
    cascade_decompose: Literal["embedded", "llm"] = Field(
        "embedded", description="Cascade: who splits the answer into claims and the reference into statements.")
    answer_relevancy_questions: int = Field(3, ge=1, le=10, description="Questions generated per answer.")
    cache_path: str | None = Field(None, description="SQLite file for the judge cache; memory only when unset.")
    cache_size: int = Field(10_000, ge=0, description="Judge replies kept in memory.")

    db: str = Field("sqlite:///ragmeter.db", description="SQLAlchemy URL of the batch job store.")
    keep_alive_s: float = Field(65.0, gt=0, description="Seconds an idle HTTP keep-alive connection stays open. "
                                                       "Keep it above the idle timeout of the clients' connection "
                                                       "pools and load balancers, so that they close first: a "
                                                       "server closing at the moment a client reuses the "
                                                       "connection drops that request.")
    header_timeout_s: float = Field(10.0, gt=0, description="Seconds a client has to send a request's line and "
                                                           "headers (from the connection or the request's first "
                                                           "byte); the connection is closed after them. Also how "
                                                           "long a body the service did not read may keep "
                                                           "arriving after the response. Applies to `ragmeter "
                                                           "serve`.")
    body_timeout_s: float = Field(30.0, gt=0, description="Seconds a request body may stall (no new bytes) while "
                                                         "the service reads it: then 408 and the connection closed. "
                                                         "Between chunks, not for the whole body, so a large "
                                                         "upload at any steady speed is not cut off.")
    shutdown_grace_s: float = Field(10.0, ge=0, description="On SIGTERM, seconds to let requests in flight finish; "
                                                            "batch rows in flight stay pending and resume on restart.")
    batch_concurrency: int = Field(8, ge=1, description="Batch rows this process scores at a time, taken in turn by "
                                                         "its running batches (with Ray: rows sent to the workers "
                                                         "at a time).")
    executor: Literal["local", "process", "ray"] = Field(
        "local", description="Who scores batch rows and production records: local (this process, with its judge), "
                             "process (RAGMETER_PROCESS_WORKERS worker processes on this machine at a lower OS "
                             "priority, so scoring with the embedded judge does not slow the requests) or ray (Ray "
                             "workers, each with its own judge; the cluster at RAY_ADDRESS, else a local Ray started "
                             "here, never a cluster found by accident; the optional extra ragmeter[ray]). Unrelated "
                             "to RAGMETER_JUDGE: `local` here is not the embedded judge, which any executor can run.")
    background_scoring: bool = Field(True, description="Score batch rows and production records in this process. "
                                                       "false: this replica stores them and answers every request "
                                                       "(/v1/evaluate and the guard included), and the replicas with "
                                                       "true on the same database score them, so that scoring takes "
                                                       "neither this process's time nor its GIL (docs/scaling.md).")
    process_workers: int = Field(1, ge=1, description="With RAGMETER_EXECUTOR=process: worker processes, each "
                                                      "scoring one row at a time on one core.")
    process_nice: int = Field(10, ge=0, le=19, description="With RAGMETER_EXECUTOR=process: how much lower the "
                                                           "workers' OS priority is (nice), so requests get a core "
                                                           "first.")
    ray_workers: int = Field(2, ge=1, description="Ray workers (actors) scoring rows; RAGMETER_JUDGE_CONCURRENCY is "
                                                  "split between them, so the LLM calls in flight stay under it.")
    ray_judge_concurrency: int = Field(64, ge=1, description="LLM judge calls in flight across all Ray workers "
                                                             "together (each worker: this / RAGMETER_RAY_WORKERS, "
                                                             "at most RAGMETER_JUDGE_CONCURRENCY).")
    ray_start_timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for the Ray cluster at RAY_ADDRESS "
                                                                  "to answer, and again for every Ray worker to start "
                                                                  "(a free CPU each, its judge built), before failing "
                                                                  "with a clear error.")
    lease_s: float = Field(30.0, gt=0, description="Lease on a batch row being scored, renewed every third of it; "
                                                   "a row whose process died is scored by another after this long.")
    poll_s: float = Field(2.0, gt=0, description="How often a process looks for batches it did not start (uploads "
                                                 "to other replicas, rows whose lease lapsed).")
    max_upload_mb: int = Field(200, ge=1, description="Largest batch upload.")
    upload_process_mb: float = Field(1.0, ge=0, description="Uploads at least this large are parsed and stored by "
                                                            "a separate process; smaller ones in a thread.")
    upload_workers: int = Field(2, ge=1, description="Large uploads parsed at a time (one process each).")
    loading_timeout_s: float = Field(3600.0, gt=0, description="An upload still being stored after this many "
                                                              "seconds is taken as abandoned (its service stopped "
                                                              "mid-way): its job is marked failed and its rows "
                                                              "deleted. Keep it above the longest upload's storing "
                                                              "time.")
    retention_days: float = Field(0.0, ge=0, description="Finished batch jobs (done, failed, cancelled) are deleted "
                                                         "with their rows and results this many days after they "
                                                         "finished, at start-up and every hour; each deletion is "
                                                         "logged to ragmeter.audit. 0 keeps them until deleted "
                                                         "(DELETE /v1/batches/{id}?purge=true, `ragmeter jobs "
                                                         "delete`).")
    record_retention_days: float = Field(0.0, ge=0, description="Production records (POST /v1/records, /v1/traces) "
                                                                "older than this many days are rolled up into hourly "
                                                                "aggregates per app and metric, then deleted, at "
                                                                "start-up and every hour; charts of older periods "
                                                                "read the roll-ups (no metadata slices). 0 keeps "
                                                                "every record.")
    monitor_window_s: float = Field(3600.0, gt=0, description="The window, in seconds, of the per-app Prometheus "
                                                              "gauges (ragmeter_record_score and others): the mean "
                                                              "over the records of the last this many seconds.")
    monitor_max_apps: int = Field(50, ge=1, description="Most apps given their own Prometheus series (those with "
                                                        "the most records in the window); the rest are counted "
                                                        "in ragmeter_monitor_apps_omitted.")
    otlp_staging_s: float = Field(60.0, gt=0, description="OTLP traces (/v1/traces): seconds the spans of a trace "
                                                          "whose root span has not arrived wait for it (in the "
                                                          "database, shared by replicas); then they are dropped "
                                                          "and counted (root_never_arrived). "
                                                          "Keep it above the exporter's export interval (5 s by "
                                                          "default).")
    otlp_staging_spans: int = Field(20_000, ge=0, description="OTLP traces: spans waiting for their trace's root, "
                                                              "in all (checked at most once a second per replica); "
                                                              "beyond it the oldest trace's are dropped and "
                                                              "counted (staging_full).")
    download_process_rows: int = Field(20_000, ge=0, description="Result downloads of jobs with at least this "
                                                                 "many rows are encoded by a separate process; "
                                                                 "smaller ones in a thread.")
    download_workers: int = Field(2, ge=1, description="Large result downloads encoded at a time (one process "
                                                       "each); more wait their turn.")

    record_sample_rate: float = Field(1.0, ge=0, le=1, description="Share of production records (POST /v1/records, "
                                                                    "/v1/traces) stored and scored; the others are "
                                                                    "counted as sampled out. Decided by a hash of "
                                                                    "the trace id (else the record's id), so a "
                                                                    "trace is kept or dropped whole.")
    record_sample_rates: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        {}, description='Per-tenant sampling rates as a JSON object {"tenant": 0.1}; tenants not named use '
                        "RAGMETER_RECORD_SAMPLE_RATE.")
    record_max_backlog: int = Field(100_000, ge=0, description="Production records per tenant stored but not yet "
                                                               "scored (0: no limit); a request that would exceed "
                                                               "it gets 429 with Retry-After, nothing stored.")
    record_max_per_request: int = Field(1_000, ge=1, description="Records one POST /v1/records may carry; more get "
                                                                 "413.")

    api_keys: dict[str, str] = Field(
        {}, description='Static API keys as a JSON object {"name": "key"}; each name is its own tenant. Keys made '
                        "with `ragmeter keys create` work too. With none, the service is open.")
    rate_limit_rps: float = Field(0.0, ge=0, description="Requests per second per tenant, its keys together "
                                                          "(0: no limit); 429 with Retry-After beyond it.")
    samples_per_day: int = Field(0, ge=0, description="Samples (evaluated, uploaded or records sent) per tenant, "
                                                      "its keys together, and day (0: no limit).")
    max_pending_rows: int = Field(0, ge=0, description="Batch rows per tenant, its keys together, queued or being "
                                                       "scored at once (0: no limit); 429 with Retry-After beyond it.")
    metrics_key: str | None = Field(None, min_length=16, description=(
        "When set, GET /metrics answers only `Authorization: Bearer <this key>` (Prometheus's bearer token): its "
        "per-tenant series name every tenant and app. Unset, /metrics is open, as /healthz is."))
    allow_open_network: bool = Field(
        False, description="Allow `ragmeter serve` without API keys on an address other than loopback.")
    allowed_hosts: list[str] = Field(
        ["*"], description='Host header values the service answers (JSON list, e.g. ["ragmeter.internal"]); '
                           '"*" answers any. Set it on a shared host to refuse DNS-rebinding requests.')
    cors_origins: list[str] = Field(
        [], description="Origins whose pages may call the API from a browser (JSON list); none by default.")

    alert_eval_s: float = Field(10.0, gt=0, description="Seconds between passes that evaluate every alert rule, "
                                                      "new scores or not (so windows age out and records scored by "
                                                      "other replicas count); rules watching a newly scored "
                                                      "record's app are evaluated within about a second anyway.")
    alert_allow_private_webhooks: bool = Field(
        False, description="Allow alert webhooks to loopback, private, link-local and other non-public addresses. "
                           "Off: a rule's URL must resolve to public addresses only (checked when the rule is made "
                           "and before each delivery), so API callers cannot make the service post to internal "
                           "hosts.")
    alert_webhook_timeout_s: float = Field(5.0, gt=0, description="Seconds one webhook delivery may take.")
    alert_webhook_max_attempts: int = Field(8, ge=1, description="Delivery attempts per alert event before it is "
                                                                 "given up (the event stays, marked failed).")
    alert_webhook_backoff_s: float = Field(2.0, gt=0, description="Wait after a webhook's first failed attempt; it "
                                                                  "doubles per attempt (at most 10 minutes), with "
                                                                  "jitter.")
    public_url: str = Field("", description="This service's base URL as people reach it (e.g. "
                                            "https://ragmeter.example.com), for the page links in alert webhooks; "
                                            "unset, they are paths (/#alerts).")

    hallucination_threshold: float | None = Field(
        None, ge=0, le=1, description="Default gate threshold; unset means ragmeter.toml's [gate] threshold "
                                      "(`ragmeter calibrate --write`), else the judge's own (0.2 for the LLM "
                                      "judge, the calibrated one for the embedded judge).")
    embedded_claim_cutoff: float | None = Field(
        None, gt=0.05, le=1, description="Embedded judge: the support probability from which a claim (or reference "
                                         "statement, or context) counts as supported; unset means ragmeter.toml's "
                                         "[embedded] claim_cutoff (`ragmeter calibrate --write`), else the weights' "
                                         "own (0.6 for the shipped weights). Contradicted claims sit at 0.05 or "
                                         "below.")
    encoder_quantized: bool = Field(
        True, description="Embedded judge and MiniLM embeddings: run the encoder's matrix products in 8-bit integers, "
                          "derived once from the shipped model with onnxruntime's quantization and cached in "
                          "RAGMETER_MODEL_CACHE (about twice as fast; similarities move by 0.01 on average and the "
                          "judge's accuracy per source by under 0.01, docs/embedded-judge.md). false runs the "
                          "shipped model's float products. Read from the environment by every process that loads "
                          "the encoder.")
    model_cache: str = Field("", description="Folder where the quantized encoder model is kept once derived; unset "
                                             "means $XDG_CACHE_HOME/ragmeter, else ~/.cache/ragmeter. When it cannot "
                                             "be written, each process derives the model again at start (about 3 "
                                             "s).")
    citation_pattern: str = Field(
        DEFAULT_PATTERN, description="Regex of a citation marker in an answer, with one group: the 1-based number "
                                     "of the context it cites. The default takes [1], [doc3] (or [Doc 3]) and "
                                     "footnotes [^1]. Markers are removed from the answer the judges read; "
                                     "citation_recall and citation_precision check them.")
    max_samples_per_request: int = Field(50, ge=1, description="Samples one POST /v1/evaluate may carry; more get 413, "
                                         "pointing to batch scoring (POST /v1/batches).")
    max_contexts: int = Field(100, ge=1, description="Contexts per sample.")
    max_field_chars: int = Field(20_000, ge=1, description="Characters in the question, answer or reference.")
    max_context_chars: int = Field(50_000, ge=1, description="Characters in one context.")
    max_sample_chars: int = Field(200_000, ge=1, description="Characters of one sample together (question, answer, "
                                  "reference and every context): the work budget of a sample, checked before "
                                  "it is scored (422 on /v1/evaluate, 400 naming the row for an upload). The "
                                  "judge's own cap applies too when smaller (the LLM judge 400,000, the embedded "
                                  "judge 1,000,000).")
    max_columns: int = Field(300, ge=1, description="Columns of a CSV or Parquet upload (and keys of a JSON record), "
                                                    "counted from the header before the file is parsed; more get 400 "
                                                    "at once.")
    max_metadata_keys: int = Field(100, ge=0, description="Keys in a sample's metadata (extra upload columns count).")
    max_metadata_chars: int = Field(10_000, ge=1, description="Characters in one metadata value.")
    guard_max_sessions: int = Field(64, ge=1, description="Streaming guard (/v1/guard): WebSocket sessions open at "
                                    "once in this process; one more is refused with close code 1013 (try again "
                                    "later).")
    guard_idle_timeout_s: float = Field(30.0, gt=0, description="Streaming guard: seconds a session may wait for the "
                                        "client's next message before it is closed (code 1008).")
    guard_workers: int = Field(0, ge=0, description="Streaming guard with the embedded or cascade judge: worker "
                               "threads that judge sentences, each for its share of the open streams (a new stream "
                               "goes to the one with the fewest), so that a sentence that needs a dozen context "
                               "sentences encoded holds up only its own worker's queue; 0: one more than the "
                               "cores this process may use (3 on 2 cores, the best of 1 to 4 in docs/guard.md).")
    guard_encoder_threads: int = Field(2, ge=0, description="Streaming guard with the embedded or cascade judge: "
                                       "cores of the guard's own encoder, which judges every stream's sentences apart "
                                       "from /v1/evaluate and batches (texts encoded at once by the integer encoder, "
                                       "onnxruntime threads by the float one); 0 shares the judge's encoder (every "
                                       "core). See docs/guard.md for the measurements behind 2.")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, file_secret_settings, ConfigFileSettings(settings_cls)

    @field_validator("citation_pattern")
    @classmethod
    def _one_group(cls, pattern: str) -> str:
        compile_pattern(pattern)  # ValueError says what is wrong
        return pattern

    @field_validator("cascade_band_high")
    @classmethod
    def _band_in_order(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("cascade_band_low")
        if low is not None and high < low:
            raise ValueError(f"must not be below RAGMETER_CASCADE_BAND_LOW ({low})")
        return high


def settings_for(config: Path | None) -> Settings:
    """The settings, with `config` (when given) as the ragmeter.toml that fills in what the environment leaves unset."""
    token = CONFIG_FILE.set(config)
    try:
        return Settings()
    finally:
        CONFIG_FILE.reset(token)


@lru_cache
def get_settings() -> Settings:
    return Settings()
