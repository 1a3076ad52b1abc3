"""Settings package: ``base`` (the default), ``test`` and ``production`` overrides."""
