"""Production settings: base settings with DEBUG off and the secure defaults ``check --deploy`` asks for."""

from planner.settings.base import *  # noqa: F403
import os

from django.core.exceptions import ImproperlyConfigured

from planner.settings.base import env_bool

if not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured("SECRET_KEY must be set in production (planner.settings.production).")
DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# One year: the minimum the HSTS preload list accepts.
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# seed_demo would create the superuser demo/demo-margin: refused here unless --force.
SEED_DEMO_REQUIRES_FORCE = True
