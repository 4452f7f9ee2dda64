"""Exceptions logged by the host's package loggers, in real host processes (issue 16).

The host is a package ``acme`` whose ``__init__`` installs its ``Telemetry`` before any
of its modules imports ``logging`` (the shape of the example host), and whose
``acme.jobs`` logs. What arrives at a real OTLP receiver is checked, and the host's
stderr is compared byte for byte with a run where the package installs no telemetry.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict

from otel_telemetry._layout import count_reports, outbox_dir
from tests.conftest import otlp_env, run
from tests.payloads import attributes

pytestmark = pytest.mark.integration

URL = "https://alice:s3cret-pass@intranet.example.com/reports?token=abc123"
CONTACT = "alice.smith@example.com"
PRIVATE = ("alice", "s3cret-pass", "intranet.example.com", "abc123", "example.com")
LOG_TEXT = ("crawl of", "tell", "extra-field-value")

INIT = """
import os
from otel_telemetry import Telemetry

telemetry = Telemetry(
    app="acme",
    package="acme",
    capture_logging=os.environ.get("HOST_CAPTURE_LOGGING", "1") == "1",
)
if os.environ.get("HOST_NO_TELEMETRY") != "1":
    telemetry.install()
"""

JOBS = f"""
import logging

URL = {URL!r}
CONTACT = {CONTACT!r}


def fetch(url):
    raise ValueError("the page is gone")


def crawl(logger_name="acme.jobs", level=logging.ERROR, exc_info=True):
    try:
        fetch(URL)
    except ValueError:
        logging.getLogger(logger_name).log(
            level, "crawl of %s failed, tell %s", URL, CONTACT,
            exc_info=exc_info, extra={{"password": "extra-field-value"}},
        )


def crawl_and_raise():
    try:
        fetch(URL)
    except ValueError:
        logging.getLogger("acme.jobs").exception("crawl of %s failed", URL)
        raise


def control():
    # A record that must be reported: proves the capture was on in the same run.
    try:
        {{}}["the control"]
    except KeyError:
        logging.getLogger("acme").exception("control")
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "host_site"
    (root / "acme").mkdir(parents=True)
    (root / "acme" / "__init__.py").write_text(INIT)
    (root / "acme" / "jobs.py").write_text(JOBS)
    return root


@pytest.fixture
def env(host_env, otlp_http, package):
    """The host with consent given, sending to the receiver, its package first on the path."""
    return otlp_env(host_env, otlp_http, ACME_TELEMETRY="1", PYTHONPATH=_path(host_env, package))


def _path(host_env: dict[str, str], package: Path) -> str:
    # The installed example package is also called acme: this host's comes first.
    return os.pathsep.join(filter(None, [str(package), host_env.get("PYTHONPATH")]))


def run_host(code: str, env: dict[str, str], *args: str):
    return run([sys.executable, "-c", code, *args], env)


def reports(otlp_http) -> list[dict[str, object]]:
    """Span and event attributes of every report that arrived, one dict each, with the
    resource's ``service.name``."""
    found = []
    for received in otlp_http.requests:
        for resource_spans in MessageToDict(received.request).get("resourceSpans", []):
            resource = attributes(resource_spans["resource"]["attributes"])
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    values = attributes(span["attributes"])
                    for event in span.get("events", []):
                        values.update(attributes(event["attributes"]))
                    values["service.name"] = resource["service.name"]
                    found.append(values)
    return found


# The host's script: `import acme` (telemetry installed, logging not imported yet), then
# the record of the test, the control, and a flush, so that all is sent before the end.
LOG_ONE = """
import sys
import acme
assert "logging" not in sys.modules, "install imported logging"
import logging
from acme import jobs
name = {"root": ""}.get(sys.argv[1], sys.argv[1])
jobs.crawl(name, getattr(logging, sys.argv[2]), sys.argv[3] == "exc_info")
if sys.argv[4] == "control":
    jobs.control()
print(acme.telemetry.flush(30))
"""


@pytest.mark.parametrize("logger", ["acme.jobs", "acme"])
@pytest.mark.parametrize("level", ["ERROR", "CRITICAL"])
def test_an_exception_logged_in_the_package_is_one_report_without_the_record(
    env, otlp_http, logger, level
):
    result = run_host(LOG_ONE, env, logger, level, "exc_info", "no control")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "True\n"
    [report] = reports(otlp_http)
    assert report["otel_telemetry.mechanism"] == "logging"
    assert report["otel_telemetry.handled"] is True
    assert report["exception.type"] == "ValueError"
    raw = b"".join(received.body for received in otlp_http.requests)
    for text in (*PRIVATE, *LOG_TEXT, CONTACT, URL):
        assert text.encode() not in raw, text
    assert CONTACT in result.stderr  # the host's own output still has its record


@pytest.mark.parametrize(
    ("logger", "level", "exc_info"),
    [
        ("other", "ERROR", "exc_info"),
        ("root", "ERROR", "exc_info"),
        ("acmecorp", "ERROR", "exc_info"),  # a prefix of the name is not the package
        ("acme.jobs", "WARNING", "exc_info"),
        ("acme.jobs", "ERROR", "no exc_info"),
    ],
)
def test_other_records_are_not_reported(env, otlp_http, logger, level, exc_info):
    result = run_host(LOG_ONE, env, logger, level, exc_info, "control")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "True\n"
    # Only the control arrived.
    assert [(r["exception.type"], r["otel_telemetry.mechanism"]) for r in reports(otlp_http)] == [
        ("KeyError", "logging")
    ]


def test_logged_then_raised_to_the_excepthook_is_one_report(env, otlp_http):
    code = "import acme\nfrom acme import jobs\njobs.crawl_and_raise()\n"

    result = run_host(code, env)

    assert result.returncode == 1
    assert "ValueError: the page is gone" in result.stderr
    [report] = reports(otlp_http)  # the process has ended: all it sent is there
    assert report["exception.type"] == "ValueError"
    # Logged first, but the report waits a moment to learn how the exception ends: it
    # ended in the excepthook, which reports it once, as a crash.
    assert report["otel_telemetry.mechanism"] == "excepthook"
    assert report["otel_telemetry.handled"] is False


# Without consent: the record's exception may be handled by the host, so nothing is kept
# and nothing asked. With the mode forced to interactive (stdin closed), a crash reported
# the usual way is asked about (the check of the check); the logged one is not.
UNDECIDED = """
import sys
import acme
from acme import jobs
if sys.argv[1] == "crash":
    try:
        jobs.fetch(jobs.URL)
    except ValueError as exc:
        acme.telemetry.capture_exception(exc)
else:
    jobs.crawl()
acme.telemetry.flush(10)
print(acme.telemetry.question.state.value)
print(acme.telemetry.pipeline.preview_held() != "(no report is waiting)")
"""


@pytest.mark.parametrize(
    ("mode", "what", "asked"),
    [
        ("interactive", "logged", False),
        ("non-interactive", "logged", False),
        ("interactive", "crash", True),
    ],
)
def test_without_consent_a_logged_exception_is_neither_sent_nor_kept(
    host_env, otlp_http, package, config_dir, mode, what, asked
):
    env = otlp_env(
        host_env, otlp_http, PYTHONPATH=_path(host_env, package), ACME_TELEMETRY_MODE=mode
    )

    result = run_host(UNDECIDED, env, what)

    assert result.returncode == 0, result.stderr
    state, held = result.stdout.split()
    assert (state != "idle", "We noticed an error" in result.stderr) == (asked, asked)
    assert held == "False"
    assert count_reports(outbox_dir(str(config_dir))) == 0
    assert otlp_http.requests == []


def test_without_consent_logged_then_raised_is_still_asked_about(host_env, otlp_http, package):
    # The logged report kept nothing, not even the mark that it was seen: the crash asks.
    env = otlp_env(
        host_env,
        otlp_http,
        PYTHONPATH=_path(host_env, package),
        ACME_TELEMETRY_MODE="interactive",
    )

    result = run_host("import acme\nfrom acme import jobs\njobs.crawl_and_raise()\n", env)

    assert result.returncode == 1
    assert result.stderr.count("We noticed an error") == 1, result.stderr
    assert otlp_http.requests == []  # stdin is closed: no answer, nothing sent


def test_capture_logging_false_sets_nothing_and_reports_no_record(env, otlp_http):
    code = """
import json, sys
import acme, logging
from acme import jobs
jobs.crawl()
try:
    jobs.fetch(jobs.URL)
except ValueError as exc:
    acme.telemetry.capture_exception(exc)  # the pipeline works: this one is sent
acme.telemetry.flush(30)
print(json.dumps([str(h) for name in ("acme", "") for h in logging.getLogger(name).handlers]))
print(logging.getLogRecordFactory() is logging.LogRecord)
"""
    env["HOST_CAPTURE_LOGGING"] = "0"

    result = run_host(code, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\nTrue\n"
    assert [r["otel_telemetry.mechanism"] for r in reports(otlp_http)] == ["capture_exception"]


# A host that configures logging after ``import acme`` (telemetry installed), then runs
# code that first asks for its loggers after that, as a library importing lazily does.
CONFIGURED_AFTER = """
import logging.config
import acme
logging.config.dictConfig({config})
from acme import jobs
jobs.crawl()                                   # on acme.jobs
jobs.control()                                 # on acme
logging.getLogger("acme.jobs").warning("still printed")
acme.telemetry.flush(30)
"""

CONFIGS = {
    "naming acme": {
        "version": 1,
        "formatters": {"f": {"format": "CONFIGURED %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "err": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "f",
            }
        },
        "loggers": {"acme": {"handlers": ["err"], "level": "INFO"}},
    },
    "disabling the loggers it does not name": {
        "version": 1,
        "disable_existing_loggers": True,
        "formatters": {"f": {"format": "ROOT %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "err": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "f",
            }
        },
        "root": {"handlers": ["err"], "level": "INFO"},
    },
}


@pytest.mark.parametrize("config", CONFIGS)
def test_a_logging_configuration_after_install_changes_neither_output_nor_reports(
    env, otlp_http, config
):
    code = CONFIGURED_AFTER.format(config=repr(CONFIGS[config]))

    with_us = run_host(code, env)
    without = run_host(code, {**env, "HOST_NO_TELEMETRY": "1"})

    assert with_us.returncode == without.returncode == 0, with_us.stderr
    assert with_us.stderr == without.stderr
    assert "still printed" in with_us.stderr  # nothing of acme was disabled
    assert [r["exception.type"] for r in reports(otlp_http)] == ["ValueError", "KeyError"]


# The red team's case: a library that sets up its own logging only when its logger has
# no handler yet, after ``import acme`` installed the telemetry.
SETS_UP_ITS_LOGGING = """
import sys
import acme
import logging
log = logging.getLogger("acme")
if {condition}:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("ACME %(levelname)s [%(name)s] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
print([type(h).__name__ for h in log.handlers], log.hasHandlers())
from acme import jobs
log.info("set up")
jobs.crawl()                      # on acme.jobs, propagating to acme
jobs.control()                    # log.exception on acme itself
acme.telemetry.flush(30)
"""


@pytest.mark.parametrize("condition", ["not log.handlers", "not log.hasHandlers()"])
def test_a_library_that_adds_its_handler_when_it_has_none_prints_as_without_us(
    env, otlp_http, condition
):
    code = SETS_UP_ITS_LOGGING.format(condition=condition)

    with_us = run_host(code, env)
    without = run_host(code, {**env, "HOST_NO_TELEMETRY": "1"})

    assert with_us.returncode == without.returncode == 0, with_us.stderr
    assert with_us.stdout == without.stdout == "['StreamHandler'] True\n"
    assert with_us.stderr == without.stderr
    assert "ACME ERROR [acme] control" in with_us.stderr
    assert "ACME ERROR [acme.jobs] crawl of" in with_us.stderr
    assert [r["exception.type"] for r in reports(otlp_http)] == ["ValueError", "KeyError"]


# A host that installs its own record factory after ``import acme``: one that calls the
# factory it replaced, or one that does not.
HOST_FACTORY = """
import sys
import acme
import logging
replaced = logging.getLogRecordFactory()
chains = sys.argv[1] == "chains"
def factory(*args, **kwargs):
    record = replaced(*args, **kwargs) if chains else logging.LogRecord(*args, **kwargs)
    record.job = "job-7"
    return record
logging.setLogRecordFactory(factory)
logging.basicConfig(format="%(job)s %(name)s %(levelname)s %(message)s")
from acme import jobs
jobs.crawl()
if sys.argv[2] == "shutdown":
    acme.telemetry.shutdown()     # ours is inside the host's factory: it must still work
    jobs.crawl()
    print(logging.getLogRecordFactory() is factory)
jobs.control()
acme.telemetry.flush(30)
"""


@pytest.mark.parametrize(
    ("kind", "then", "expected"),
    [
        ("chains", "go on", ["ValueError", "KeyError"]),
        ("chains", "shutdown", ["ValueError"]),
        ("replaces", "go on", []),  # ours is gone: nothing reported, nothing broken
    ],
)
def test_a_host_record_factory_after_install(env, otlp_http, kind, then, expected):
    with_us = run_host(HOST_FACTORY, env, kind, then)
    without = run_host(HOST_FACTORY, {**env, "HOST_NO_TELEMETRY": "1"}, kind, then)

    assert with_us.returncode == without.returncode == 0, with_us.stderr
    assert with_us.stderr == without.stderr
    assert with_us.stdout == without.stdout
    assert "job-7 acme.jobs ERROR crawl of" in with_us.stderr
    assert [r["exception.type"] for r in reports(otlp_http)] == expected


# Two libraries in one process, each with its telemetry; and one package whose telemetry
# is made twice (a plugin and the package itself).
BETA_INIT = """
from otel_telemetry import Telemetry

telemetry = Telemetry(app="beta", package="beta")
telemetry.install()
"""
BETA_TASKS = """
import logging


def run():
    try:
        {}["in beta"]
    except KeyError:
        logging.getLogger("beta.tasks").exception("failed")
"""
TWICE = """
import sys
import acme, logging
from acme import jobs
if sys.argv[1] == "beta":
    import beta
    from beta import tasks
    other, fail = beta.telemetry, tasks.run
else:
    from otel_telemetry import Telemetry
    other, fail = Telemetry(app="acme", package="acme"), jobs.control
    other.install()
# One factory of ours, over logging's own: not one stacked on another.
factory = logging.getLogRecordFactory()
print([c.cell_contents is logging.LogRecord for c in factory.__closure__].count(True))
jobs.crawl()
fail()
print(acme.telemetry.flush(30), other.flush(30))
"""


def test_two_libraries_in_one_process_each_report_their_own_records(env, otlp_http, package):
    (package / "beta").mkdir()
    (package / "beta" / "__init__.py").write_text(BETA_INIT)
    (package / "beta" / "tasks.py").write_text(BETA_TASKS)
    env.update(
        BETA_TELEMETRY="1",
        BETA_TELEMETRY_EXPORTER="otlp",
        BETA_OTLP_ENDPOINT=env["ACME_OTLP_ENDPOINT"],
        BETA_CONFIG_DIR=env["ACME_CONFIG_DIR"] + "-beta",
    )

    result = run_host(TWICE, env, "beta")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\nTrue True\n"
    found = sorted((r["service.name"], r["exception.type"]) for r in reports(otlp_http))
    assert found == [("acme", "ValueError"), ("beta", "KeyError")]


def test_one_package_with_two_telemetries_reports_a_record_once(env, otlp_http):
    result = run_host(TWICE, env, "acme")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\nTrue True\n"
    found = sorted((r["service.name"], r["exception.type"]) for r in reports(otlp_http))
    assert found == [("acme", "KeyError"), ("acme", "ValueError")]


IMPORTED_AFTER = """
import json, sys
before = list(sys.meta_path)
import acme  # installs; the host has not imported logging
state = {"waits": [type(f).__name__ for f in sys.meta_path if f not in before]}
if sys.argv[1] == "shutdown":
    acme.telemetry.shutdown()
import logging
state.update(
    left=[type(f).__name__ for f in sys.meta_path if f not in before],
    loader=type(logging.__loader__).__name__,
    spec_loader=logging.__spec__.loader is logging.__loader__,
    factory=logging.getLogRecordFactory() is not logging.LogRecord,
    loggers=sorted(n for n in logging.root.manager.loggerDict if n.startswith("acme")),
    package=[type(h).__name__ for h in logging.getLogger("acme").handlers],
    has_handlers=logging.getLogger("acme").hasHandlers(),
    root=[type(h).__name__ for h in logging.root.handlers],
)
print(json.dumps(state))
"""


@pytest.mark.parametrize(("then", "set"), [("log", True), ("shutdown", False)])
def test_a_host_importing_logging_after_install_gets_ours_and_nothing_else(env, then, set):
    result = run_host(IMPORTED_AFTER, env, then)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "waits": ["_AfterImport"],
        "left": [],
        "loader": "SourceFileLoader",
        "spec_loader": True,
        "factory": set,
        "loggers": [],  # install created no logger
        "package": [],
        "has_handlers": False,
        "root": [],
    }


def test_a_host_with_logging_imported_gets_no_logger_from_install(env):
    code = """
import logging, sys
import acme
print(sorted(n for n in logging.root.manager.loggerDict if n.startswith("acme")))
print(logging.getLogger("acme").handlers, logging.getLogger("acme").hasHandlers())
"""
    result = run_host(code, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n[] False\n"


# -- the host's stderr is what it is without us ----------------------------------------

SETUPS = {
    "unconfigured": "",
    "basicConfig": "logging.basicConfig(level=logging.INFO, format='%(name)s|%(levelname)s|%(message)s')",
    "handler on the package": (
        "h = logging.StreamHandler()\n"
        "h.setFormatter(logging.Formatter('acme says: %(message)s'))\n"
        "logging.getLogger('acme').addHandler(h)"
    ),
    "package not propagating": "logging.getLogger('acme').propagate = False",
    "basicConfig, package not propagating": (
        "logging.basicConfig()\nlogging.getLogger('acme').propagate = False"
    ),
    "subpackage not propagating": (
        "logging.basicConfig()\nlogging.getLogger('acme.jobs').propagate = False"
    ),
    "lastResort None": "logging.lastResort = None",
    "lastResort None, raiseExceptions False": (
        "logging.lastResort = None\nlogging.raiseExceptions = False"
    ),
    "package at WARNING": "logging.getLogger('acme').setLevel(logging.WARNING)",
}

EVERY_KIND_OF_RECORD = """
import sys
import acme
import logging
from acme import jobs
{setup}
log = logging.getLogger("acme.jobs")
log.debug("debug %s", 1)
log.info("info %s", 2)
log.warning("warning %s", 3)
logging.getLogger("acme").warning("the package's own warning")
jobs.crawl("acme.jobs", logging.WARNING)   # a warning with its exception
jobs.crawl()                              # log.exception
log.error("an error without exception")
log.warning("%d pages", "not a number")   # fails to format: logging's own error
jobs.control()
acme.telemetry.flush(30)
"""


@pytest.mark.parametrize("setup", SETUPS)
def test_the_hosts_stderr_is_byte_for_byte_the_same(env, otlp_http, setup):
    code = EVERY_KIND_OF_RECORD.format(setup=SETUPS[setup])

    with_us = run_host(code, env)
    without = run_host(code, {**env, "HOST_NO_TELEMETRY": "1"})

    assert with_us.returncode == without.returncode == 0, with_us.stderr
    assert with_us.stderr == without.stderr
    assert with_us.stdout == without.stdout
    # And the capture was on: both exceptions logged at ERROR, whatever the propagation.
    assert [r["exception.type"] for r in reports(otlp_http)] == ["ValueError", "KeyError"]
