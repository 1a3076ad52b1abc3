"""Developer tools: benchmarks, the demo, a local SMTP sink and the Celery worker harness.

Only management commands (``seed_demo``, ``bench_*``) and tests import this package; no production
module does (an import-linter contract). May import every domain package.
"""
