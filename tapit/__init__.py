"""tapit: one-off tasks and consoles as Nomad batch jobs."""

__version__ = "0.1.0"
