"""Settings for Margin Planner, read from the environment (12-factor).

With nothing set, the app runs on the *embedded default*: a SQLite file in ``DATA_DIR``
(WAL mode, a busy timeout and immediate transactions so that web, worker and beat can share
it) and kombu's server-less filesystem broker in the same folder. ``DATABASE_URL`` and
``CELERY_BROKER_URL`` switch to PostgreSQL (psycopg 3) and Redis/RabbitMQ.

Every variable read here is listed in ``ENV_VARS`` so a test can check that
docker-compose.yml sets only variables the settings actually read.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

ENV_VARS: frozenset[str] = frozenset(
    {
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "DATA_DIR",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "TIME_ZONE",
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
        "LOG_LEVEL",
        "DJANGO_SETTINGS_MODULE",
        "SECURE_SSL_REDIRECT",
        "API_THROTTLE_KEY_RATE",
        "API_THROTTLE_USER_RATE",
        "SITE_URL",
        "CACHE_URL",
        "CACHE_SOCKET_TIMEOUT_SECONDS",
        "LOGIN_THROTTLE_USER_IP_FAILURES",
        "LOGIN_THROTTLE_IP_FAILURES",
        "LOGIN_THROTTLE_COOLOFF_MINUTES",
        "PLANNER_HEARTBEAT_SECONDS",
        "PLANNER_RUN_STALE_SECONDS",
        "PLANNER_REAP_SECONDS",
        "ALERTS_HTTP_TIMEOUT_SECONDS",
        "PLANNER_ALERT_ALLOW_PRIVATE_URLS",
    }
)


def env_str(name: str, default: str) -> str:
    """Return the environment variable ``name`` or ``default`` when unset or empty."""
    value = os.environ.get(name, "")
    return value if value != "" else default


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean environment variable; anything but a known spelling is an error."""
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    """Parse a comma-separated environment variable into a list of non-empty items."""
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_seconds(name: str, default: float) -> float:
    """Parse a duration in seconds (a positive, finite number such as ``0.1`` or ``5``)."""
    raw = env_str(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ImproperlyConfigured(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


DEBUG = env_bool("DEBUG", True)
_secret = os.environ.get("SECRET_KEY", "")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: DEBUG is on and no key was given. Never used in production.
    _secret = "insecure-development-key-set-SECRET_KEY-in-production"
SECRET_KEY = _secret
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "csp",
    "pricing",
    "planner",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # API bodies over API_MAX_BODY_BYTES: a JSON 413 before any view (Django's smaller limit stays
    # for the web's forms; docs/API.md).
    "api.parsers.BodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below; docs/WEB.md).
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "planner.urls"
WSGI_APPLICATION = "planner.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "planner.web.context_processors.organizations",
            ],
        },
    },
]


def database_config(url: str | None) -> dict[str, object]:
    """Return Django's DATABASES['default'] for ``url``, or the embedded SQLite default.

    SQLite is tuned so several processes can share one file: WAL journal (readers never block
    the writer), a 30 s busy timeout, and ``BEGIN IMMEDIATE`` transactions so a transaction
    takes the write lock up front instead of failing with "database is locked" on upgrade.
    """
    if url:
        config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "margin-planner.sqlite3",
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        },
    }


DATABASES = {"default": database_config(os.environ.get("DATABASE_URL") or None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.js from the pinned `plotly` PyPI package (planner/web/staticfiles.py): no CDN, no npm.
    "planner.web.staticfiles.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Content-Security-Policy (django-csp; docs/WEB.md) --------------------------------------
# Everything comes from this origin: no CDN, no inline script, no style or on* attribute. Swagger
# UI's inline script and style (templates/drf_spectacular/swagger_ui.html) carry the request's
# nonce. plotly.js needs no eval for the charts drawn here; when it loads it adds two <style>
# elements, admitted by their hashes: an empty one it then fills through the CSSOM (which
# style-src does not govern), and maplibre's CSS (map traces, unused here). A plotly upgrade that
# changes the second fails the CSP browser test (tests/web/test_csp_browser.py) with the new hash.
# Its PNG/SVG downloads draw through data: and blob: images; Swagger UI's CSS has data: icons.
PLOTLY_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE, *PLOTLY_STYLE_HASHES],
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Cache ---------------------------------------------------------------------------------
# "default" holds the API throttle counters, and nothing else: unset CACHE_URL gives each process
# its own memory cache (right for one web process, as in ``make run``); with several web processes
# set CACHE_URL=redis://host:6379/1 so they count requests together (docs/API.md). The throttle
# lets requests through when Redis is unreachable; the socket timeouts bound what each request
# waits for a dead or unreachable Redis (one attempt: redis-py does not retry a pool's connections).
# "local" is always this process's memory: verified API keys (a few seconds) and rendered
# documents of finished runs (immutable), where a network round trip would cost more than it
# saves.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, got {CACHE_URL.split(':', 1)[0]!r}")
_LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 2000}}
CACHE_SOCKET_TIMEOUT_SECONDS = env_seconds("CACHE_SOCKET_TIMEOUT_SECONDS", 0.1)


def shared_cache_config(url: str) -> dict[str, object]:
    """Return Django's CACHES entry for the Redis at ``url``, with the socket timeouts."""
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "OPTIONS": {
            "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
            "socket_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
        },
    }


CACHES: dict[str, dict[str, object]] = {
    "default": shared_cache_config(CACHE_URL) if CACHE_URL else {**_LOCAL_CACHE, "LOCATION": "default"},
    "local": {**_LOCAL_CACHE, "LOCATION": "local"},
}

# --- Celery --------------------------------------------------------------------------------
# The filesystem transport needs no server: messages are files in DATA_DIR/broker. It deletes
# a message when a worker reads it (no redelivery), so crash recovery rests on the database
# reaper (see docs/ARCHITECTURE.md).
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # kombu defaults the control folder to ./control (the working directory).
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis/SQS redeliver an unacknowledged message after the visibility timeout: keep it above
    # the chunk task's hard time limit, or a long chunk would be delivered twice while running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
# Connecting to send: one quick retry, then fail (kombu's default retries for about 6 s while a
# web request waits); what could not be sent is sent again from the database (the reaper).
CELERY_BROKER_TRANSPORT_OPTIONS |= {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Sending never retries in the caller (a web request must not wait on a dead broker): whatever is
# sent can be sent again from the database (the reaper dispatches runs and merges, the periodic
# delivery sends alert mail).
CELERY_TASK_PUBLISH_RETRY = False
#: Crash recovery (docs/JOBS.md): a thread in each chunk task refreshes the heartbeat of its run
#: and of its running block every PLANNER_HEARTBEAT_SECONDS, however long the block takes; a
#: queued/running run (or running block) without a heartbeat for PLANNER_RUN_STALE_SECONDS is
#: stale, and the reaper, every PLANNER_REAP_SECONDS, re-queues its missing blocks or fails the
#: run once a block has used PLANNER_MAX_BLOCK_ATTEMPTS attempts. So a dead worker is noticed
#: within stale + reap seconds.
PLANNER_HEARTBEAT_SECONDS = env_seconds("PLANNER_HEARTBEAT_SECONDS", 5)
PLANNER_RUN_STALE_SECONDS = env_seconds("PLANNER_RUN_STALE_SECONDS", 15)
PLANNER_REAP_SECONDS = env_seconds("PLANNER_REAP_SECONDS", 5)
# Two missed heartbeats, not one late one, make a run stale: a worker busy writing (a SQLite lock
# wait, a slow commit) must not look dead.
if PLANNER_RUN_STALE_SECONDS < 2 * PLANNER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        f"PLANNER_RUN_STALE_SECONDS ({PLANNER_RUN_STALE_SECONDS:g}) must be at least twice "
        f"PLANNER_HEARTBEAT_SECONDS ({PLANNER_HEARTBEAT_SECONDS:g})."
    )
#: How often the periodic task folds the usage rollup journal into the customer-months.
PLANNER_ROLLUP_FOLD_SECONDS = env_seconds("PLANNER_ROLLUP_FOLD_SECONDS", 10)
# Periodic tasks, registered in one place; django-celery-beat copies them into its database
# tables at start, where the admin can edit them. Each expires before the next tick.
CELERY_BEAT_SCHEDULE = {
    "planner-runs-reap": {
        "task": "planner.runs_reap",
        "schedule": PLANNER_REAP_SECONDS,
        # Expires before the next tick (a backlog of reaper passes is never useful).
        "options": {"expires": PLANNER_REAP_SECONDS * 0.8},
    },
    # Alerts (docs/ALERTS.md): the sweep evaluates due rules (each rule's own crontab decides);
    # delivery drains the outbox (it is also enqueued when rows are written).
    "planner-alerts-sweep": {
        "task": "planner.alerts_sweep",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    "planner-alerts-deliver": {
        "task": "planner.alerts_deliver",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    # The rollup journal (docs/ACTUALS.md): every reader folds before it reads; this keeps the
    # journal small between reads.
    "planner-usage-rollup-fold": {
        "task": "planner.usage_rollup_fold",
        "schedule": PLANNER_ROLLUP_FOLD_SECONDS,
        "options": {"expires": PLANNER_ROLLUP_FOLD_SECONDS * 0.8},
    },
}

# --- Mail ----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env_str("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Margin Planner <alerts@localhost>")
#: Seconds an SMTP connection may block (Django's default is forever: a hung server would stall
#: the delivery task).
EMAIL_TIMEOUT = 30
#: Public address of the web app, for links in mail.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# --- Alerts (docs/ALERTS.md) ---------------------------------------------------------------
#: Attempts before an outbox row is failed (the error is kept; the admin can retry it).
ALERTS_MAX_ATTEMPTS = 10
#: Backoff after the n-th failed attempt: base x 2^(n-1) seconds, capped.
ALERTS_RETRY_BASE_SECONDS = 60
ALERTS_RETRY_MAX_SECONDS = 6 * 3600
#: A claimed row is skipped by other deliverers for this long; a deliverer that dies while
#: sending leaves it to be retried after it.
ALERTS_SEND_LEASE_SECONDS = 300
#: Enqueue the delivery task when outbox rows are written (the periodic task delivers anyway).
ALERTS_DELIVER_ON_COMMIT = True
#: Seconds each socket operation of a Slack or webhook delivery may block (connect, send, read).
ALERTS_HTTP_TIMEOUT_SECONDS = env_seconds("ALERTS_HTTP_TIMEOUT_SECONDS", 10)
#: Let channel URLs be http:// and reach private, loopback and link-local addresses (local
#: receivers, tests). Off, a URL must be https:// and every address its host resolves to public.
PLANNER_ALERT_ALLOW_PRIVATE_URLS = env_bool("PLANNER_ALERT_ALLOW_PRIVATE_URLS", False)

# --- REST API ------------------------------------------------------------------------------
# Conventions (docs/API.md): API keys first (so an unauthenticated request gets a 401 with a
# WWW-Authenticate challenge), then session auth with CSRF for the web; JSON only; every 4xx
# body is {"errors": [{"field", "code", "message"}]} (api.exceptions.api_exception_handler).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "api.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.ApiKeyRateThrottle",
        "api.throttling.SessionUserRateThrottle",
    ],
    # Requests per API key / per signed-in user. Counters live in the default cache: configure
    # a shared cache (Redis) in production so every web process counts together.
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env_str("API_THROTTLE_KEY_RATE", "1200/min"),
        "session_user": env_str("API_THROTTLE_USER_RATE", "600/min"),
    },
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "NON_FIELD_ERRORS_KEY": "non_field_errors",
    "COERCE_DECIMAL_TO_STRING": True,
}
#: Largest request body of the API (bytes); larger bodies get a JSON 413 (api.parsers). It holds
#: the largest ingestion batch: 10,000 records with every field at its longest is 15.9 MiB of
#: ASCII JSON (tests/api/test_body_limits.py). Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB)
#: still bounds the web's forms: the API never lets Django read its bodies.
API_MAX_BODY_BYTES = 16 * 1024 * 1024
SPECTACULAR_SETTINGS = {
    "TITLE": "Margin Planner API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Pricing and inference-margin planning. See docs/API.md for authentication, "
    "scopes, errors and pagination.",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components: read-only fields stay out of request bodies.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "planner.simulation.models.SimulationRun.Status",
        "UsageKindEnum": "planner.products.models.UsageDistribution.Kind",
        "PriceSheetEntryKindEnum": "planner.prices.models.PriceSheetEntry.Kind",
        "ConstraintMetricEnum": "planner.simulation.optimize.METRICS",
        "SensitivityMetricEnum": "planner.simulation.optimizations.SENSITIVITY_METRICS",
        "JobKindEnum": "planner.simulation.models.SimulationRun.Kind",
        "MetricEnum": "planner.alerts.models.AlertRule.Metric",  # the alert rules' (named so before #14)
        "AlertChannelKindEnum": "planner.alerts.models.AlertChannel.Kind",
    },
    # Swagger UI and Redoc assets are served from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Simulation limits ---------------------------------------------------------------------
PLANNER_MAX_SIMULATED_USERS = 20_000_000
#: Runs an organisation may have queued or running at once.
PLANNER_MAX_CONCURRENT_RUNS = 4
#: Blocks of 65,536 users per chunk task (a chunk amortises the run's setup over its blocks).
PLANNER_CHUNK_BLOCKS = 4
#: Chunk time limits (seconds); the broker's visibility timeout above stays larger.
PLANNER_CHUNK_SOFT_TIME_LIMIT = 1800
PLANNER_CHUNK_TIME_LIMIT = 2400
# Crash recovery: PLANNER_HEARTBEAT_SECONDS, PLANNER_RUN_STALE_SECONDS and PLANNER_REAP_SECONDS
# are with the Celery settings (the reaper's beat schedule reads them).
# A run the broker could not take is dispatched by the reaper once it is this old (the request's
# own dispatch after commit gets the first try).
PLANNER_DISPATCH_GRACE_SECONDS = 5
PLANNER_MAX_BLOCK_ATTEMPTS = 3
#: Customers per block of a replay job (planner.actuals.replay_jobs): one chunk task each.
PLANNER_REPLAY_BLOCK_CUSTOMERS = 5_000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Login throttling (django-axes; docs/WEB.md) -------------------------------------------
# Every password sign-in, the web's and the admin's, goes through django.contrib.auth's
# authenticate(), where axes counts failures. Two rules, each with its own limit: one username
# from one IP (a guessed password), and one IP across usernames (a sprayed one). Failures count
# until none has come for the cool-off; a locked-out sign-in is refused even with the right
# password. API keys never pass through authenticate(): they keep their own throttle (API_THROTTLE_*).


def _env_positive_int(name: str, default: int) -> int:
    raw = env_str(name, str(default))
    if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


#: (lockout parameters, failures that lock them): planner.accounts.login_throttling reads the
#: limits; axes reads the parameters.
LOGIN_THROTTLE_RULES: list[tuple[list[str], int]] = [
    (["username", "ip_address"], _env_positive_int("LOGIN_THROTTLE_USER_IP_FAILURES", 10)),
    (["ip_address"], _env_positive_int("LOGIN_THROTTLE_IP_FAILURES", 50)),
]
AXES_LOCKOUT_PARAMETERS: list[str | list[str]] = [parameters for parameters, _ in LOGIN_THROTTLE_RULES]
AXES_FAILURE_LIMIT = LOGIN_THROTTLE_RULES[0][1]
AXES_HANDLER = "planner.accounts.login_throttling.LoginThrottleHandler"
AXES_COOLOFF_TIME = timedelta(minutes=_env_positive_int("LOGIN_THROTTLE_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_CALLABLE = "planner.web.views.account.login_locked_out"
# Successful sign-ins are not logged (only failures matter here, and that log only grows); a
# success does not clear failures either: clearing the IP's would let one valid account reset
# the IP rule between guesses.
AXES_DISABLE_ACCESS_LOG = True
AXES_RESET_ON_SUCCESS = False
# No start-up banner from axes in every process and management command.
AXES_VERBOSE = False

# --- Demo ----------------------------------------------------------------------------------
#: ``manage.py seed_demo`` creates the superuser demo/demo-margin; production settings set this
#: so that it runs there only with --force.
SEED_DEMO_REQUIRES_FORCE = False
