"""The package's shape, enforced: the thread boundary, the layers, no cycles.

The app thread (the host's own threads: capture, consent, the facade) must stay cheap
and must never load the OpenTelemetry SDK, an exporter, Sentry, gRPC or protobuf:
those are the worker's. The rules read the source (module-level imports, outside
``TYPE_CHECKING``), and one test checks a real process too.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import otlp_env, run_python
from tests.payloads import attributes

PACKAGE = Path(__file__).resolve().parent.parent / "otel_telemetry"

#: The modules that run on the host's threads.
APP_THREAD = (
    "otel_telemetry",
    "otel_telemetry._telemetry",
    "otel_telemetry._settings",
    "otel_telemetry.asgi",
    "otel_telemetry.capture.*",
    "otel_telemetry.consent.*",
    "otel_telemetry.pipeline._pipeline",
    "otel_telemetry.pipeline._worker",
    "otel_telemetry._view",  # [v] renders on the host's thread
)
#: What none of them may load, directly or through what they import.
WORKER_ONLY = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "otel_telemetry.exporters._",
    "otel_telemetry.pipeline._provider",
    "otel_telemetry.scrubbing",
    "sentry_sdk",
    "grpc",
    "google.protobuf",
)
#: Which parts of the package each part may import at all (at run time, anywhere).
BASE = ("otel_telemetry._attributes", "otel_telemetry._chain", "otel_telemetry._layout")
BASE += (
    "otel_telemetry._ipython",
    "otel_telemetry._fork",
    "otel_telemetry._lazy",
    "otel_telemetry._log",
    "otel_telemetry._value",  # value semantics of slots classes; imports nothing
    "otel_telemetry._version",
    "otel_telemetry._view",  # a report as a person reads it: pure, on base modules only
)
ALLOWED = {
    "otel_telemetry.capture": BASE,
    "otel_telemetry.consent": (*BASE, "otel_telemetry._settings"),
    "otel_telemetry.scrubbing": (),
    "otel_telemetry.exporters": BASE,
    "otel_telemetry.pipeline": (
        *BASE,
        "otel_telemetry.capture._snapshot",
        "otel_telemetry.consent._precedence",
        "otel_telemetry.consent._notice",
        "otel_telemetry.scrubbing",
        "otel_telemetry.exporters",
    ),
}
#: Private attributes of other objects that the package reads, and why.
PRIVATE_ACCESS = {
    ("consent/_question.py", "asyncio.events._get_running_loop"),  # the only non-raising probe
    # The import locks a forked child inherits from threads it does not have.
    ("_fork.py", "bootstrap._module_locks"),
    # The detached sender ends at its time limit without waiting for a thread still
    # blocked on the network, nor for what the exporters registered with atexit.
    ("_detached.py", "os._exit"),
    # A report in progress is known by its frame, still on the thread's stack: one made
    # inside it (a signal handler) waits for it, and a handler that raised out of it
    # leaves no mark behind.
    ("capture/_reporter.py", "sys._getframe"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".")
        if _modules()[module].name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    names = [prefix]
    # ``from package import module`` imports the module.
    names += [
        f"{prefix}.{alias.name}" for alias in node.names if f"{prefix}.{alias.name}" in _modules()
    ]
    return names


@cache
def _imports(module: str, top_level_only: bool) -> tuple[str, ...]:
    """What ``module`` imports when it runs, outside TYPE_CHECKING blocks."""
    tree = ast.parse(_modules()[module].read_text(encoding="utf-8"))
    found: list[str] = []

    def visit(nodes: list[ast.stmt], top: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, top)
                continue
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.extend(_resolve(module, node))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not top_level_only:
                    visit(node.body, False)
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    visit([c for c in children if isinstance(c, ast.stmt)], top)
                    for handler in children:
                        if isinstance(handler, ast.ExceptHandler):
                            visit(handler.body, top)

    visit(tree.body, True)
    return tuple(found)


def _loaded_by(module: str) -> set[str]:
    """Every module that importing ``module`` loads (ours followed, with their parents)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parents run first
        if name in _modules():
            todo.extend(_imports(name, top_level_only=True))
    return seen


def _app_thread_modules() -> list[str]:
    names = []
    for pattern in APP_THREAD:
        if pattern.endswith(".*"):
            names += [m for m in _modules() if m.startswith(pattern[:-1])]
        else:
            names.append(pattern)
    return names


@pytest.mark.parametrize("module", _app_thread_modules())
def test_app_thread_never_loads_the_worker_side(module):
    loaded = _loaded_by(module)
    forbidden = sorted(m for m in loaded if m.startswith(WORKER_ONLY))
    assert not forbidden, f"{module} loads {forbidden}"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_layers(part):
    wrong = []
    for module in _modules():
        if not module.startswith(part):
            continue
        for imported in _imports(module, top_level_only=False):
            ours = imported.startswith("otel_telemetry")
            if (
                ours
                and not imported.startswith((part, *ALLOWED[part]))
                and imported != "otel_telemetry"
            ):
                wrong.append(f"{module} imports {imported}")
    assert not wrong


def test_no_import_cycles():
    def ancestor(name: str, of: str) -> bool:  # a parent package is always loaded first
        return of == name or of.startswith(name + ".")

    graph = {
        module: {
            i
            for i in _imports(module, top_level_only=True)
            if i in _modules() and not ancestor(i, module)
        }
        for module in _modules()
    }
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_no_module_reads_another_objects_private_members():
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") or (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            ):
                continue
            found.add((path.relative_to(PACKAGE).as_posix(), ast.unparse(node)))
    assert found == PRIVATE_ACCESS


def test_no_comment_cites_a_document_outside_the_repository():
    citing = [
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if "DESIGN" in p.read_text(encoding="utf-8")
    ]
    assert not citing


@pytest.mark.integration
@pytest.mark.parametrize("switch", ["0", None], ids=["variable no", "no choice, no terminal"])
def test_a_crash_without_consent_loads_nothing_of_the_worker(host_env, switch):
    # Refused by a variable, or by the mode with no choice saved (a command line in CI):
    # decided before a capture imports anything, so not even the pipeline is made.
    if switch is not None:
        host_env["ACME_TELEMETRY"] = switch
    code = """
import sys, json
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()
@t.capture_errors
def crash():
    raise ValueError("boom")
try:
    crash()
except ValueError as exc:
    t.capture_exception(exc)
t.flush(5)
print(json.dumps(sorted(sys.modules)))
"""
    result = run_python(code, host_env, check=True)
    import json

    loaded = json.loads(result.stdout)
    assert not [m for m in loaded if m.startswith(WORKER_ONLY)]
    assert "otel_telemetry.capture._reporter" in loaded  # the check sees our modules
    unused = ("otel_telemetry.pipeline._pipeline", "otel_telemetry.capture._snapshot")
    assert [m for m in unused if m in loaded] == []


def test_the_rules_see_real_imports():
    # The checker itself: it must find what a module really imports.
    assert "otel_telemetry.pipeline._outbox" in _loaded_by("otel_telemetry.pipeline._provider")
    assert "opentelemetry.sdk.trace" in _loaded_by("otel_telemetry.pipeline._provider")
    assert "otel_telemetry.capture._hooks" in _loaded_by("otel_telemetry")


# The first capture of a process, on the host's thread: which modules it imports. A
# finder first on sys.meta_path sees every import that is not already loaded, with the
# thread that asked for it: none, whatever the consent, whether or not the host
# imported `logging` (our worker imports it, guarded against a fork: test_signals.py).
_FIRST_CAPTURE = """
import json, os, sys, threading, time
if sys.argv[2] == "logging":
    import logging
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install(**({"mode": sys.argv[1]} if sys.argv[1] != "default" else {}))
while sys.argv[1] == "server" and "opentelemetry" not in sys.modules:
    time.sleep(0.001)  # capture while the worker imports the SDK (pipeline.warm())
imported = []
class Tracer:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if threading.current_thread() is threading.main_thread():
            spec = getattr(sys.modules.get("logging"), "__spec__", None)
            imported.append([name, bool(getattr(spec, "_initializing", False))])
        return None
def crash():
    raise ValueError("the first crash")
try:
    crash()
except ValueError as exc:
    error = exc
had_logging = "logging" in sys.modules
provider = sys.modules.get("otel_telemetry.pipeline._provider")
building = provider is None or getattr(provider.__spec__, "_initializing", False)
stderr, sys.stderr = sys.stderr, open(os.devnull, "w")
sys.meta_path.insert(0, Tracer)
sys.excepthook(ValueError, error, error.__traceback__)
sys.meta_path.remove(Tracer)
sys.stderr = stderr
t.flush(10)
print(json.dumps({
    "imported": imported, "held": t.pipeline.held(), "had_logging": had_logging,
    "building": building,
}))
os._exit(0)  # the question (ask) is not the point here
"""


@pytest.mark.integration
@pytest.mark.parametrize("logging", ["logging", "no logging"])
@pytest.mark.parametrize(
    ("mode", "env", "saved", "sent"),
    [
        pytest.param("default", {"ACME_TELEMETRY": "0"}, None, 0, id="variable no"),
        pytest.param("default", {"ACME_TELEMETRY": "1"}, None, 1, id="variable yes"),
        pytest.param("default", {}, False, 0, id="saved no"),
        pytest.param("default", {}, True, 1, id="saved yes"),
        pytest.param("non-interactive", {}, None, 0, id="pipes: denied"),
        pytest.param("interactive", {}, None, 0, id="terminal: ask (held)"),
        pytest.param("server", {}, None, 1, id="server, warm"),
    ],
)
def test_the_first_capture_imports_nothing_on_the_host_thread(
    host_env, config_dir, otlp_http, mode, env, saved, sent, logging
):
    if saved is not None:
        (config_dir / "config.json").write_text(json.dumps({"telemetry": {"enabled": saved}}))
    host = otlp_env(host_env, otlp_http, **env)

    result = run_python(_FIRST_CAPTURE, host, mode, logging, check=True)

    found = json.loads(result.stdout)
    if mode == "interactive":
        # Asked: install() imported nothing for it (a command line at a terminal starts
        # as fast as one in CI), so this crash imports our capture and the question, a
        # moment before a person reads it; never the worker's modules, nor `logging`.
        imported = [name for name, _ in found["imported"]]
        assert "otel_telemetry.capture._snapshot" in imported
        assert [m for m in imported if not m.startswith("otel_telemetry.")] == []
        assert [m for m in imported if m.startswith(WORKER_ONLY)] == []
    else:
        # Nothing, `logging` included: a host that has not imported it gets it imported
        # by our worker (under the guard a fork takes first, see _fork.py), not on its
        # thread.
        assert found["imported"] == [], found
    if mode == "server":
        # Captured while the worker imported the SDK (install() warms the pipeline): the
        # host's thread imported nothing, so it never waited for that import's locks.
        assert found["building"] is True
    # The capture happened (the check of the check): sent, held for the question, or
    # refused by the decision.
    assert found["held"] == (1 if mode == "interactive" else 0)
    if sent:
        [span] = otlp_http.wait_for_spans(1)
        assert attributes(span["events"][0]["attributes"])["exception.type"] == "ValueError"
    else:
        assert otlp_http.requests == []


_SAVED_AFTER_INSTALL = """
import json, os, sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()
made = t._pipeline is not None
capture = "otel_telemetry.capture._snapshot" in sys.modules
# Meanwhile the user says yes in another terminal (`acme telemetry enable`).
with open(os.path.join(os.environ["ACME_CONFIG_DIR"], "config.json"), "w") as f:
    json.dump({"telemetry": {"enabled": True}}, f)
def crash():
    raise ValueError("after the yes")
try:
    crash()
except ValueError as exc:
    sys.excepthook(ValueError, exc, exc.__traceback__)
print(json.dumps({"made": made, "capture": capture, "sent": t.flush(10)}))
"""


@pytest.mark.integration
def test_a_yes_saved_after_install_is_honoured_at_the_next_crash(host_env, otlp_http):
    # No choice and no terminal at install(): nothing of the capture or the pipeline is
    # imported then. The choice is read again at each crash, so a yes saved meanwhile
    # sends it; that crash imports what install() did not.
    result = run_python(_SAVED_AFTER_INSTALL, otlp_env(host_env, otlp_http))

    assert result.returncode == 0, result.stderr  # the traceback is the chained hook's
    assert json.loads(result.stdout) == {"made": False, "capture": False, "sent": True}
    [span] = otlp_http.wait_for_spans(1)
    assert attributes(span["events"][0]["attributes"])["exception.message"] == "after the yes"


_FORK_WHILE_MAKING = """
import json, os, sys, threading
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()  # no choice, no terminal: the pipeline is not made
os.environ["ACME_TELEMETRY"] = "1"  # then a yes, read live
holding, release = threading.Event(), threading.Event()
def making():
    with t._making:  # as a thread of the host's making the pipeline at the fork
        holding.set()
        release.wait()
threading.Thread(target=making, daemon=True).start()
holding.wait()
pid = os.fork()
if pid == 0:
    try:
        raise ValueError("in the child")
    except ValueError as exc:
        t.capture_exception(exc)
    os._exit(0 if t.flush(10) else 3)
release.set()
_, status = os.waitpid(pid, 0)
print(json.dumps({"child": status}))
"""


@pytest.mark.integration
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_a_child_forked_while_the_pipeline_is_made_makes_its_own(host_env, otlp_http):
    # The lock that makes the pipeline once is renewed in a forked child: a thread that
    # held it is not there, and the child's first capture would wait for it forever.
    result = run_python(_FORK_WHILE_MAKING, otlp_env(host_env, otlp_http))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"child": 0}
    [span] = otlp_http.wait_for_spans(1)
    assert attributes(span["events"][0]["attributes"])["exception.message"] == "in the child"
