"""Spool: captures the recorder did not take in time, written to the outbox at once.

When a flush runs out of time before the recording worker took every capture (at
exit, the SDK may still be importing), the flushing thread writes what is left here:
each capture becomes a record (``_report``), is scrubbed with the same rules as the span
processor uses, bounded, and written to the outbox, where the next flush or the next
run sends it with the ids written now. Only consented captures come here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from otel_telemetry._log import debug
from otel_telemetry.capture._snapshot import Captured, CapturedEvent

from ._outbox import Outbox
from ._report import bound_record, new_record, resource_attributes, scrub_record

if TYPE_CHECKING:
    from otel_telemetry._settings import Settings
    from otel_telemetry.consent._precedence import ConsentDecision


def write_captures(
    captures: Sequence[Captured], settings: Settings, decision: ConsentDecision
) -> list[Captured]:
    """Write ``captures`` to the outbox of ``settings``.

    Args:
        captures: consented captures, in the order they were made.
        settings: the host's settings (exporters, config dir, scrubbing, mode).
        decision: the consent in force: ``granted``, with the email the user gave.

    Returns:
        The captures the disk refused (a full or read-only disk, a link where the outbox
        should be), for the caller to send without a copy on disk; a capture that could
        not be scrubbed is not among them: it is never written, nor sent, raw.
    """
    from otel_telemetry.scrubbing import Scrubber

    from ._install_id import load_or_create

    # Local mode: for the file exporter alone; a later run's drain records it there.
    pending = ["file"] if decision.local else list(settings.exporters_in_use())
    if not pending:
        return []  # exporter "none": nothing is sent, so nothing is kept
    outbox = Outbox(settings.layout().outbox_dir)
    scrubber = Scrubber(settings.scrubbing)
    resource = resource_attributes(settings.app, settings.version, settings.environment())
    mode = settings.mode()
    for index, captured in enumerate(captures):
        try:
            install_id = None
            if isinstance(captured, CapturedEvent):
                install_id = load_or_create(settings.config_dir)
            record = new_record(
                captured,
                packages=settings.packages,
                mode=mode,
                install_id=install_id,
                resource=resource,
            )
            record = bound_record(scrub_record(record, scrubber, email=decision.email))
        except Exception:
            # Fail closed: a capture that could not be scrubbed is never written raw.
            debug("otel_telemetry: a report could not be written at exit", exc_info=True)
            continue
        if outbox.put(record, pending, claimed=False) is None:
            return list(captures[index:])  # the disk refuses: put() warned once
    return []
