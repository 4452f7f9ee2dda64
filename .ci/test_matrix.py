"""`make test-matrix`: the in-process tests and the subprocess hook tests on each CPython.

    python3 .ci/test_matrix.py [3.9 3.10 ...]       (default: 3.9 to 3.13)

A version is looked for in ``~/.pyenv/versions/3.X.*`` (the newest patch release), then
as ``python3.X`` on PATH. Each one found gets its own venv, ``.venv-matrix/3.X``, with the
package, the example host (with its server) and the ``test`` extra; the venv is made again only when
``pyproject.toml``, ``examples/acme/pyproject.toml`` or the interpreter change. Then, in
that venv: ``pytest -m "not integration"`` (every in-process test) and the integration
tests of ``tests/test_crash_paths.py`` and ``tests/test_host_safety.py`` (hooks in real
processes). Last, one line per version: ran, failed or not found. The exit status is
non-zero if a version that was found failed; a version not found fails nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

ROOT = Path(__file__).resolve().parent.parent
MATRIX_DIR = ROOT / ".venv-matrix"
DEFAULT_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
HOOK_TESTS = ("tests/test_crash_paths.py", "tests/test_host_safety.py")
INSTALL_INPUTS = ("pyproject.toml", "examples/acme/pyproject.toml")
NO_TESTS_COLLECTED = 5
# An older wheel rather than a newer source release that needs a compiler.
PIP_INSTALL = ("-m", "pip", "--disable-pip-version-check", "install", "--prefer-binary")
FULL_INSTALL = ("-e", ".[test]", "-e", "examples/acme[server]")
CORE_INSTALL = ("-e", ".", "-e", "examples/acme[server]")


@dataclass
class Version:
    name: str
    python: Optional[Path] = None
    full_version: str = ""
    venv: Path = field(init=False)
    problem: str = ""  # what went wrong beyond failed tests
    skipped_packages: list[str] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    seconds: float = 0.0
    ran: bool = False

    def __post_init__(self) -> None:
        self.venv = MATRIX_DIR / self.name

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def line(self) -> str:
        label = f"Python {self.name}" + (f" ({self.full_version})" if self.full_version else "")
        if self.python is None:
            return f"{label}: not found"
        if self.problem and not self.ran:
            return f"{label}: failed ({self.problem})"
        counts = f"{self.passed} passed"
        if self.failed:
            counts += f", {self.failed} failed"
        if self.skipped:
            counts += f", {self.skipped} skipped"
        if self.xfailed:
            counts += f", {self.xfailed} xfailed"
        extra = (
            f"; not installed: {', '.join(self.skipped_packages)}" if self.skipped_packages else ""
        )
        if self.problem:
            extra += f"; {self.problem}"
        outcome = "failed" if self.failed or self.problem else "ran"
        return f"{label}: {outcome} ({counts}{extra}) in {self.seconds:.0f} s"


def main(argv: list[str]) -> int:
    names = argv or list(DEFAULT_VERSIONS)
    for name in names:
        if not re.fullmatch(r"3\.\d+", name):
            print(f"test-matrix: {name!r} is not a version like 3.9", file=sys.stderr)
            return 2
    versions = [Version(name) for name in names]
    for version in versions:
        find_python(version)
    found = [version for version in versions if version.python is not None]
    MATRIX_DIR.mkdir(exist_ok=True)
    (MATRIX_DIR / ".gitignore").write_text("*\n")

    # Venvs are made side by side (mostly downloads); tests run one version at a time.
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(found))) as pool:
        list(pool.map(prepare_venv_or_say_why, found))
    if found:
        print(f"test-matrix: venvs ready in {time.monotonic() - started:.0f} s", flush=True)
    for version in found:
        if not version.problem:
            run_tests(version)

    summary = "\n".join(["test-matrix:", *("  " + version.line() for version in versions)])
    print("\n" + summary, flush=True)
    (MATRIX_DIR / "summary.txt").write_text(summary + "\n")
    return 1 if any(v.python is not None and (v.problem or v.failed) for v in versions) else 0


def find_python(version: Version) -> None:
    """Set ``version.python`` to an interpreter of that version, if this machine has one."""
    candidates: list[Path] = []
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    pattern = re.compile(rf"{re.escape(version.name)}\.(\d+)")
    if pyenv.is_dir():
        releases = [
            (int(m.group(1)), p) for p in pyenv.iterdir() if (m := pattern.fullmatch(p.name))
        ]
        for _, prefix in sorted(releases, reverse=True):
            candidates.append(prefix / "bin" / f"python{version.name}")
    on_path = shutil.which(f"python{version.name}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [str(candidate), "-c", "import sys, venv; print(sys.version.split()[0])"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        full = probe.stdout.strip()
        if probe.returncode == 0 and full.startswith(version.name + "."):
            version.python, version.full_version = candidate, full
            return


def prepare_venv_or_say_why(version: Version) -> None:
    try:
        prepare_venv(version)
    except Exception as error:  # a timeout, a full disk: this version failed, not the run
        version.problem = f"making its venv failed: {error!r}"


def prepare_venv(version: Version) -> None:
    """Make (or reuse) ``.venv-matrix/3.X`` with the package, the host and the test deps."""
    assert version.python is not None
    stamp = version.venv / ".installed"
    key = install_key(version)
    if stamp.is_file() and stamp.read_text().splitlines()[:1] == [key]:
        version.skipped_packages = stamp.read_text().splitlines()[1:]
        return
    print(f"test-matrix: making {version.venv.relative_to(ROOT)} ({version.python})", flush=True)
    shutil.rmtree(version.venv, ignore_errors=True)
    log = version.venv.with_name(f"{version.name}-install.log")
    with log.open("w") as output:
        if not step(output, str(version.python), "-m", "venv", str(version.venv)):
            version.problem = f"venv failed, see {log.relative_to(ROOT)}"
            return
        pip = (str(version.bin / "python"), *PIP_INSTALL)
        if not step(output, *pip, *FULL_INSTALL):
            # Something of the test extra does not install on this version: install the
            # package and the host, then each test requirement that does.
            if not step(output, *pip, *CORE_INSTALL):
                version.problem = f"the package does not install, see {log.relative_to(ROOT)}"
                return
            for requirement in test_requirements():
                if not step(output, *pip, requirement):
                    version.skipped_packages.append(requirement)
    stamp.write_text("\n".join([key, *version.skipped_packages]) + "\n")


def step(output: IO[str], *command: str) -> bool:
    """Run one install command, its output to the version's install log."""
    print("$", " ".join(command), file=output, flush=True)
    result = subprocess.run(
        command,
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=clean_environ(),
        timeout=1800,
    )
    return result.returncode == 0


def install_key(version: Version) -> str:
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        digest.update((ROOT / name).read_bytes())
    digest.update(f"{version.python}\0{version.full_version}".encode())
    digest.update(repr((PIP_INSTALL, FULL_INSTALL, CORE_INSTALL)).encode())
    return digest.hexdigest()


def test_requirements() -> list[str]:
    """The ``test`` extra of pyproject.toml, with the grpc extra spelled out."""
    try:
        tomllib = importlib.import_module("tomllib")
    except ImportError:  # Python < 3.11 runs this script: no per-package fallback
        return []
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements: list[str] = []
    for requirement in extras["test"]:
        own = re.fullmatch(r"otel-telemetry\[(\w+)\]", requirement)
        requirements.extend(extras[own.group(1)] if own else [requirement])
    return requirements


def clean_environ(venv: Optional[Path] = None) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYENV_VERSION")
    }
    if venv is not None:
        # As if activated: `acme` and `python` in subprocesses are this venv's.
        environ["VIRTUAL_ENV"] = str(venv)
        environ["PATH"] = f"{venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
    return environ


def run_tests(version: Version) -> None:
    started = time.monotonic()
    runs = [
        ("in-process", ["-m", "not integration"]),
        ("hooks", ["-m", "integration", *HOOK_TESTS]),
    ]
    for label, args in runs:
        report = version.venv / f"{label}.xml"
        report.unlink(missing_ok=True)
        command = [str(version.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += [f"--junitxml={report}", *args]
        print(f"\n=== Python {version.full_version}: {label} tests ===", flush=True)
        status = subprocess.run(command, cwd=ROOT, env=clean_environ(version.venv)).returncode
        passed, failed, skipped, xfailed = read_counts(report)
        version.passed += passed
        version.failed += failed
        version.skipped += skipped
        version.xfailed += xfailed
        if status not in (0, NO_TESTS_COLLECTED) and not failed:
            version.problem = f"pytest exit status {status} in the {label} tests"
    version.ran = True
    version.seconds = time.monotonic() - started


def read_counts(report: Path) -> tuple[int, int, int, int]:
    """(passed, failed, skipped, xfailed) tests in pytest's JUnit XML report, if any.

    A test that failed and then errored at teardown is one failed test; an error while
    collecting a module is one failure too.
    """
    if not report.is_file():
        return 0, 0, 0, 0
    outcomes: dict[tuple[str, str], str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif (skip := case.find("skipped")) is not None:
            outcome = "xfailed" if skip.get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        if outcomes.get(key) != "failed":
            outcomes[key] = outcome
    kinds = ("passed", "failed", "skipped", "xfailed")
    counts = [sum(1 for o in outcomes.values() if o == kind) for kind in kinds]
    return counts[0], counts[1], counts[2], counts[3]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
