"""A real OpenTelemetry Collector process for tests: the binary `make collector` builds.

``Collector`` runs ``collector-config/gateway.yaml`` or ``agent.yaml`` as shipped, with one
overlay config merged over it (the collector merges ``--config`` files in order) that
moves every listener to a free port on 127.0.0.1: the OTLP receivers, ``health_check``
and the collector's own metrics. Nothing else of the shipped config is changed unless a
test passes ``overrides`` (and says why).

Every wait is bounded; a collector that exits early fails the wait with its log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIG = ROOT / "collector-config"
ENV_EXAMPLE = CONFIG / ".env.example"
BINARY_VARIABLE = "OTEL_TELEMETRY_COLLECTOR"
"""The path of the binary under test; `make test` and `make collector-test` set it."""


def script(path: Path) -> Any:
    """A Python script of the repository (``.ci/``, ``collector-config/scrub/``) imported
    by its path, in this process: its functions tested without a subprocess."""
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def binary() -> Path:
    """The collector binary named by ``OTEL_TELEMETRY_COLLECTOR``."""
    path = Path(os.environ[BINARY_VARIABLE])
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise AssertionError(f"{BINARY_VARIABLE}={path} is not an executable file")
    return path


def env_example() -> dict[str, str]:
    """The variables of ``collector-config/.env.example``, as a user who copied it has."""
    variables = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            variables[key.strip()] = value.strip()
    return variables


def _yaml(value: Any) -> str:
    # JSON is YAML: the overlay needs no YAML writer.
    return json.dumps(value, indent=1)


class Collector:
    """One collector process of ``config`` (``gateway.yaml`` or ``agent.yaml``).

    Args:
        config: the shipped config's file name in ``collector-config/``.
        workdir: where the overlay and the log are written.
        env: the variables of its ``${env:...}`` references (on top of a clean PATH/HOME).
        overrides: more of the config to merge over it (maps merge, lists replace).
        name: for the log's file name, when a test runs several.
    """

    def __init__(
        self,
        config: str,
        workdir: Path,
        env: dict[str, str],
        overrides: Optional[dict[str, Any]] = None,
        name: Optional[str] = None,
    ) -> None:
        self.config = CONFIG / config
        self.name = name or Path(config).stem
        self.workdir = workdir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            **env,
        }
        overlay: dict[str, Any] = {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
                        "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
                    }
                }
            },
            "extensions": {"health_check": {"endpoint": f"127.0.0.1:{self.health_port}"}},
            "service": {
                "telemetry": {
                    "logs": {"encoding": "json"},
                    "metrics": {
                        "level": "detailed",
                        "readers": [
                            {
                                "pull": {
                                    "exporter": {
                                        "prometheus": {
                                            "host": "127.0.0.1",
                                            "port": self.metrics_port,
                                        }
                                    }
                                }
                            }
                        ],
                    },
                }
            },
        }
        self.overlay = workdir / f"{self.name}.overlay.yaml"
        self.overlay.write_text(_yaml(_merge(overlay, overrides or {})))
        self.log = workdir / f"{self.name}.log"
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.starts = 0

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def argv(self) -> list[str]:
        return [str(binary()), f"--config={self.config}", f"--config={self.overlay}"]

    def start(self, timeout: float = 30.0) -> Collector:
        """Start it and wait until ``health_check`` answers 200."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv(),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_healthy(timeout)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}/", timeout=2
            ) as reply:
                return bool(reply.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not healthy in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as an orchestrator stops it (it drains), and wait for the exit."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: nothing runs after it, as when a node dies."""
        return self._end(signal.SIGKILL, 10.0)

    def _end(self, signum: int, timeout: float) -> int:
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        process.send_signal(signum)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired as late:
            process.kill()
            process.wait(10)
            raise AssertionError(f"{self.name} did not end in {timeout} s after {signum}") from late

    def close(self) -> None:
        """End it whatever state it is in (fixtures' teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metrics(self) -> dict[str, float]:
        """The collector's own Prometheus metrics, each series summed over its labels."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as reply:
            text = reply.read().decode()
        sums: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? ([-+0-9.eE]+|NaN)$", line)
            if match and match.group(2) != "NaN":
                sums[match.group(1)] = sums.get(match.group(1), 0.0) + float(match.group(2))
        return sums

    def rss_kib(self) -> tuple[int, int]:
        """The process's resident memory now and at its peak (VmRSS, VmHWM), in KiB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(
            (line.split(":")[0], int(line.split()[1]))
            for line in status.splitlines()
            if line.startswith(("VmRSS:", "VmHWM:"))
        )
        return fields["VmRSS"], fields["VmHWM"]

    def cpu_seconds(self) -> float:
        """The CPU time the process has used so far, user and system, in seconds."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        # After the command name (in parentheses, may hold spaces): utime, stime are the
        # 12th and 13th fields, in clock ticks.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def problems(self) -> list[str]:
        """The log's warnings and errors (the log is JSON, one record per line)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                if not line.startswith("--- start "):
                    found.append(line)  # not a record: a panic or a flag error
                continue
            if isinstance(record, dict) and record.get("level") not in ("debug", "info"):
                found.append(line)
        return found

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _merge(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(config: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``otelcol validate`` of a shipped config as it is (no overlay)."""
    return subprocess.run(
        [str(binary()), "validate", f"--config={CONFIG / config}"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
