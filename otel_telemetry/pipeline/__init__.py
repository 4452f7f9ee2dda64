"""Pipeline: the worker side. From a queued capture to a delivered report.

``_pipeline`` owns two queues (``_worker``): one records reports, one sends them. At
the first report it builds the private OpenTelemetry provider (``_provider``). A
capture becomes a short span (``_spans``); the one span processor (``_processor``) asks
the consent gate and scrubs; ``_sending`` writes the report to the outbox (``_outbox``,
records in ``_records``) and hands it to the exporters on the sending queue, honouring
waits that endpoints asked for (``_backoff``). Only
``_pipeline`` and ``_worker`` are imported on the app thread, and they import nothing of
OpenTelemetry: everything else is imported on the worker.
"""
