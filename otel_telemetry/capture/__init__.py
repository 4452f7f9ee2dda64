"""Capture: the app-thread side. What an exception is, seen from the host's thread.

Hooks (``_hooks``), the decorator and context manager (``_decorator``), the ASGI
request context (``_request``) and the notebook cell hook all hand an exception to the
:class:`~._reporter.Reporter`, which snapshots it (``_snapshot``), lets the storm
guard (``_storm``) count repeats, and queues it for the pipeline. Nothing here imports
the OpenTelemetry SDK, an exporter or Sentry: a test enforces it.
"""
