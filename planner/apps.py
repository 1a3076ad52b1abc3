from django.apps import AppConfig


class PlannerConfig(AppConfig):
    name = "planner"
    verbose_name = "Margin planner"

    def ready(self) -> None:
        # Load the Celery app in every Django process so tasks bind to it (see planner/__init__.py),
        # and register every task (planner.tasks): services enqueue tasks by name
        # (planner.core.enqueue), so the registry must not depend on who imported what.
        # Job kinds other domains compute on the run machinery register themselves on import.
        import planner.actuals.replay_jobs  # noqa: F401
        import planner.tasks  # noqa: F401
        from planner.actuals.receivers import usage_reprice_on_price_change
        from planner.celery import app  # noqa: F401
        from pricing.signals import prices_changed

        prices_changed.connect(usage_reprice_on_price_change, dispatch_uid="planner.usage_reprice")
