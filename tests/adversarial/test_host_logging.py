"""Our sends leave no trace in the host's logging, and an unreachable endpoint costs one line.

Attacks (G02, G05): a host that logs everything (``basicConfig(level=DEBUG)`` on stdout)
saw urllib3's and OpenTelemetry's lines about our sends; a host offline saw one
"Failed to export" line per waiting report, per run, from the ``opentelemetry``
loggers. Our internals log nothing above DEBUG into loggers a host captures, and our
own problems are one WARNING per run on the ``otel_telemetry`` logger.
"""

from __future__ import annotations

import pytest

from tests.conftest import free_port, run_python
from tests.processes import wait_until
from tests.receivers.recording import RecordingEndpoint

pytestmark = pytest.mark.integration

# A host that logs everything, the way it configures logging, with the logger's name.
HOST = """
import logging, sys
logging.basicConfig(level=getattr(logging, sys.argv[1]), stream=getattr(sys, sys.argv[2]),
                    format="LOG|%(name)s|%(levelname)s|%(message)s")
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
t.flush(30)
print("host done", file=sys.stderr)
"""
FOREIGN = ("urllib3", "requests", "opentelemetry", "otel_telemetry", "sentry_sdk")


def _log_lines(text: str) -> list[tuple[str, str, str]]:
    """(logger, level, message) of each line the host's logging printed."""
    return [
        tuple(line.split("|", 3)[1:])  # type: ignore[misc]
        for line in text.splitlines()
        if line.startswith("LOG|")
    ]


def test_a_debug_logging_host_sees_no_line_of_our_sends(host_env):
    with RecordingEndpoint() as collector, RecordingEndpoint() as sentry:
        host_env.update(
            ACME_TELEMETRY="1",
            ACME_TELEMETRY_EXPORTER="otlp,sentry",
            ACME_OTLP_ENDPOINT=collector.url,
            ACME_SENTRY_DSN=sentry.dsn(),
        )

        result = run_python(HOST, host_env, "DEBUG", "stdout")

        assert result.returncode == 0, result.stderr
        wait_until(lambda: collector.of_kind("otlp") and sentry.of_kind("sentry"), "both sent")
    ours = [line for line in _log_lines(result.stdout) if line[0].startswith(FOREIGN)]
    assert ours == [], result.stdout


def test_an_endpoint_answering_400_logs_nothing_into_the_hosts_loggers(host_env):
    with RecordingEndpoint("status", 400) as collector:
        host_env.update(
            ACME_TELEMETRY="1",
            ACME_TELEMETRY_EXPORTER="otlp",
            ACME_OTLP_ENDPOINT=collector.url,
        )

        result = run_python(HOST, host_env, "DEBUG", "stderr")

        assert result.returncode == 0, result.stderr
        assert collector.of_kind("otlp")
    lines = [line for line in _log_lines(result.stderr) if line[0].startswith(FOREIGN)]
    # One warning of ours, nothing from the exporters' or HTTP libraries' loggers.
    assert [(name, level) for name, level, _ in lines if level != "DEBUG"] == [
        ("otel_telemetry", "WARNING")
    ], result.stderr
    assert not [line for line in lines if not line[0].startswith("otel_telemetry")], lines
    assert "Failed to export" not in result.stderr


def test_offline_each_run_prints_at_most_one_line(host_env):
    host_env.update(
        ACME_TELEMETRY="1",
        ACME_TELEMETRY_EXPORTER="otlp",
        ACME_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    for _ in range(3):  # three runs, three reports waiting in the outbox
        run_python(HOST, host_env, "WARNING", "stderr", check=True)

    result = run_python(HOST, host_env, "WARNING", "stderr", check=True)

    lines = _log_lines(result.stderr)
    assert len(lines) <= 1, result.stderr
    assert all(name == "otel_telemetry" and level == "WARNING" for name, level, _ in lines)
    other = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("LOG|") and line != "host done"
    ]
    assert other == [], result.stderr


# A host whose logging raises (a filter with a bug): our warnings must not bring it down.
_RAISING_LOGGING = """
import logging
class Broken(logging.Filter):
    def filter(self, record):
        raise RuntimeError("the host's own logging bug")
handler = logging.StreamHandler()
handler.addFilter(Broken())
logging.getLogger().addHandler(handler)
from acme.telemetry import telemetry
telemetry.status()  # config.json is garbage: one warning
telemetry.enable()
telemetry.disable()
print("host still running")
"""


def test_a_host_logging_that_raises_never_reaches_the_host(host_env, config_dir) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_bytes(b"\x00not json")

    result = run_python(_RAISING_LOGGING, host_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "host still running\n"
