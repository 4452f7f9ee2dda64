"""The detached sender: delivers what a crashing process left, after it has exited.

Started by ``pipeline/_handoff.py`` at the exit of a process that captured a consented
crash (``os.posix_spawn``, a session of its own, stdio on ``/dev/null``), with its
instructions in the environment. It:

1. waits until its parent has exited (its claims on outbox files are then abandoned,
   so nothing is sent twice), at most :data:`PARENT_WAIT` seconds: a parent still
   ending keeps what it claimed, and the rest is sent without it;
2. takes the sender lock of the config dir (one sender per config dir: a second one
   exits at once, and the holder rescans before it leaves);
3. scrubs the spooled captures into the outbox (``_handoff.take_spooled``: the same
   record, scrub and bound as every report), then drains the outbox with the normal
   pipeline (a ``Pipeline`` built from the parent's settings: its drain and flush);
4. releases the lock and looks again: a capture spooled meanwhile, or a report that
   was not in the outbox when it drained, means another round (if it can take the
   lock again); otherwise, or at :data:`LIMIT`, it exits. It never retries forever: what
   it could not send waits in the outbox for a later run.

Consent: the live decision of the config dir, except that a process-only yes of the
parent (``enable(always=False)``: the live decision would ask) stands for the reports
it consented to. Nothing is sent while the decision is ``denied``; what was spooled
before consent was withdrawn is deleted unsent.
"""

from __future__ import annotations

import os
import time

from otel_telemetry.pipeline._handoff import (
    HANDOFF_VARIABLE,
    lock_sender,
    spooled_names,
    take_spooled,
    unlock_sender,
    unregister,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from otel_telemetry._settings import Settings
    from otel_telemetry.consent._precedence import ConsentDecision

LIMIT = 30.0
"""Seconds the sender lives at most, from its start: waiting for the parent included."""
PARENT_WAIT = 10.0
"""Seconds the sender waits at most for its parent to end before it converts and sends."""
REAPED_WAIT = 1.0
"""Seconds it waits, after the parent exited, for the parent's own parent to reap it: a
zombie's pid is still alive, and its claims would look held."""
_POLL = 0.005
LOCK_POLL = 0.05
"""Seconds between two tries of a sender lock another process holds."""


def main() -> None:
    """The sender process's entry point; always ends the process."""
    started = time.monotonic()
    raw = os.environ.pop(HANDOFF_VARIABLE, None)
    config_dir = None
    try:
        if raw is not None:
            import json

            instructions = json.loads(raw)
            config_dir = str(instructions["settings"]["config_dir"])
            run(instructions, started + LIMIT)
    except BaseException:
        pass  # nobody reads our stderr: what is not sent waits on disk
    finally:
        if config_dir is not None:
            unregister(config_dir, os.getpid())
        os._exit(0)  # never wait for a worker still blocked on the network


def run(instructions: dict[str, Any], deadline: float) -> None:
    """Wait for the parent, then convert and drain under the lock until nothing is new."""
    # A parent still ending after PARENT_WAIT (atexit handlers that upload a log, wait for
    # a child) is not waited for longer: what it spooled is scrubbed and sent now (an
    # unscrubbed capture is on disk only for moments), and what it holds claimed stays
    # its own, the claims being respected while it lives.
    _parent_ended(int(instructions["parent"]), min(deadline, time.monotonic() + PARENT_WAIT))
    settings = _settings(instructions["settings"])
    config_dir = settings.config_dir_path()
    gate = _gate(settings, instructions.get("consent") or {})
    withdrawn = _withdrawn(settings)
    from otel_telemetry.pipeline._pipeline import Pipeline

    pipeline = Pipeline(settings, gate, withdrawn_ns=withdrawn)
    # Held by another sender (it rescans once it lets go: what is ours is then its) or
    # by a host's worker converting the spool (it does not rescan): wait for it, so a
    # report never waits for a later run because the lock was busy a moment.
    fd = _lock_within(config_dir, deadline)
    while fd is not None:
        try:
            seen = _outbox_names(settings)
            take_spooled(settings, gate(), withdrawn(), locked=True)
            if gate().state == "granted":
                pipeline.schedule_drain()
                pipeline.flush(max(0.0, deadline - time.monotonic()))
        finally:
            unlock_sender(fd)
        if time.monotonic() >= deadline:
            return
        # Another process may have spooled, or left a report, while we held the lock;
        # its sender found the lock taken and left: it is ours to send.
        if not spooled_names(config_dir) and not (_outbox_names(settings) - seen):
            return
        fd = lock_sender(config_dir)


def _lock_within(config_dir: str, deadline: float) -> Optional[int]:
    """The sender lock, waited for until ``deadline``; None if it stayed taken."""
    while True:
        fd = lock_sender(config_dir)
        if fd is not None or time.monotonic() >= deadline:
            return fd
        time.sleep(LOCK_POLL)


def _parent_ended(parent: int, deadline: float) -> bool:
    """Wait until ``parent`` has exited (and, briefly, until it was reaped)."""
    while os.getppid() == parent:
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    reaped_by = min(deadline, time.monotonic() + REAPED_WAIT)
    while time.monotonic() < reaped_by:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            break
        except OSError:
            break  # another user's process now: ours is gone
        time.sleep(_POLL)
    return True


def _settings(arguments: dict[str, Any]) -> Settings:
    from otel_telemetry._settings import Settings

    options = arguments.get("scrubbing")
    scrubbing = None
    if isinstance(options, dict):
        from otel_telemetry.scrubbing import ScrubbingOptions

        scrubbing = ScrubbingOptions(
            extra_patterns=tuple(options.get("extra_patterns") or ()),
            allow_patterns=tuple(options.get("allow_patterns") or ()),
            disabled_rules=tuple(options.get("disabled_rules") or ()),
            keep_values=bool(options.get("keep_values")),
        )
    settings = Settings(
        arguments["app"],
        arguments.get("packages"),
        arguments.get("version") or "unknown",
        sentry_dsn=arguments.get("sentry_dsn"),
        exporters=arguments.get("exporters"),
        config_dir=arguments.get("config_dir"),
        scrubbing=scrubbing,
        display_name=arguments.get("display_name"),
        environment=arguments.get("environment"),
        otlp_endpoint=arguments.get("otlp_endpoint"),
        otlp_headers=arguments.get("otlp_headers"),
        otlp_protocol=arguments.get("otlp_protocol"),
        policy_version=arguments.get("policy_version", 1),
        server_level=arguments.get("server_level", "crash"),
        posthog_key=arguments.get("posthog_key"),
        posthog_host=arguments.get("posthog_host"),
        opt_out_env=arguments.get("opt_out_env"),
    )
    settings.mode_override = arguments.get("mode")
    return settings


def _gate(settings: Settings, parent: dict[str, Any]) -> Callable[[], ConsentDecision]:
    """The live decision; the parent's yes where the live one would ask (a process-only yes)."""
    from otel_telemetry.consent._consent import Consent
    from otel_telemetry.consent._precedence import ConsentDecision

    consent = Consent(settings)
    level = parent.get("level")
    email = parent.get("email")
    given = ConsentDecision(
        "granted",
        str(parent.get("source") or "session"),
        email=email if isinstance(email, str) else None,
        level=level if level in ("crash", "all", "local") else "crash",
    )

    def gate() -> ConsentDecision:
        decision = consent.decide()
        return given if decision.state == "ask" else decision

    return gate


def _withdrawn(settings: Settings) -> Callable[[], int]:
    from otel_telemetry.consent._store import withdrawn_ns

    return lambda: withdrawn_ns(settings.config_dir)


def _outbox_names(settings: Settings) -> set[str]:
    """The outbox's reports by their name without a claim (a claimed one is the same report)."""
    try:
        names = os.listdir(settings.layout().outbox_dir)
    except OSError:
        return set()
    return {name.split(".claimed-", 1)[0] for name in names if not name.startswith(".")}


if __name__ == "__main__":
    main()
