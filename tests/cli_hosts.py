"""Command-line hosts for the failing-exit and handled-error tests, and how to drive them.

Each host is a module of its own package (``clihost``, ``typerhost``, ``argparsehost``),
written to a directory put on ``PYTHONPATH`` and started the way a console script starts
it (``from clihost import cli; cli()``): its crashes pass through its package, as a
real host's do. They share the example's app name, ``acme``, so the ``ACME_*``
variables, the config dir and the question's wording (``Acme``) are the example's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import pexpect

from tests.payloads import attributes

CHOICE = r"Your choice \[1/2/3/v\]: "
QUESTION = "We noticed an error. Help improve Acme by sending crash reports?"

# The host's own code: a lookup that fails (KeyError) for anything but "pages"; the same
# through a decorated library call; and every way a click command turns it into its end.
CLICK_HOST = '''
import sys

import click

from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="clihost")
telemetry.install()

SETTINGS = {"pages": 1}


def load(name):
    return SETTINGS[name]


@telemetry.capture_errors
def api_load(name):
    """A library API, decorated: the error passes capture_errors before the CLI sees it."""
    return load(name)


def end(shape, exc):
    """What the command does in its ``except`` block."""
    if shape in ("exit1", "library"):
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    if shape == "exit-message":
        sys.exit(f"Error: {exc}")
    if shape == "exit0":
        sys.exit(0)
    if shape == "click-exception":
        raise click.ClickException(str(exc))
    if shape == "abort":
        raise click.Abort()
    if shape == "usage":
        raise click.UsageError(f"no setting {exc}")
    if shape == "bad-parameter":
        raise click.BadParameter(f"no setting {exc}", param_hint="NAME")


@click.group()
def cli():
    """A click host."""


@cli.command()
@click.argument("shape")
@click.argument("name")
@telemetry.capture_errors
def setting(shape, name):
    try:
        value = api_load(name) if shape == "library" else load(name)
    except Exception as exc:
        end(shape, exc)
    else:
        click.echo(f"{name} = {value}")


@cli.command()
@telemetry.capture_errors
def bare():
    """A usage error raised on purpose, with nothing behind it."""
    click.echo("usage: clihost bare", err=True)
    raise SystemExit(2)


@cli.command()
@telemetry.capture_errors
def greet():
    name = click.prompt("Name")
    click.echo(f"hello {name}")


@cli.command()
@telemetry.capture_errors
def rebuild():
    try:
        load("cache")
    except KeyError:  # an expected condition: the user decides
        click.confirm("No cache yet. Rebuild it now?", abort=True)
    click.echo("rebuilt")
'''

TYPER_HOST = """
import typer

from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="typerhost")
telemetry.install()

app = typer.Typer()


def load(name: str) -> int:
    return {"pages": 1}[name]


@app.command()
@telemetry.capture_errors
def setting(name: str, code: int = 1, catch: bool = True) -> None:
    if not catch:  # a bug left to typer, which puts its own excepthook in place of ours
        typer.echo(f"{name} = {load(name)}")
        return
    try:
        typer.echo(f"{name} = {load(name)}")
    except Exception as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=code)
"""

ARGPARSE_HOST = """
import argparse

from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="argparsehost")
telemetry.install()


def load(name):
    return {"pages": 1}[name]


@telemetry.capture_errors
def main(argv=None):
    parser = argparse.ArgumentParser(prog="argparsehost")
    parser.add_argument("--pages", type=int, default=1)
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        print(f"{args.name} = {load(args.name)}")
    except KeyError as exc:
        parser.error(f"no setting {exc}")
"""

HOSTS = {
    "clihost": (CLICK_HOST, "from clihost import cli; cli()"),
    "typerhost": (TYPER_HOST, "from typerhost import app; app()"),
    "argparsehost": (ARGPARSE_HOST, "from argparsehost import main; main()"),
}


def with_hosts(env: dict[str, str], directory: Path) -> dict[str, str]:
    """``env`` with every host of ``HOSTS`` importable from ``directory`` (written there)."""
    for name, (source, _) in HOSTS.items():
        package = directory / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(source)
    path = [str(directory), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def spawn_host(host: str, args: list[str], env: dict[str, str]) -> pexpect.spawn:
    """Start ``host`` as its console script would, on a pseudo-terminal."""
    return spawn([sys.executable, "-c", HOSTS[host][1], *args], env)


def spawn(argv: list[str], env: dict[str, str]) -> pexpect.spawn:
    """Start ``argv`` on a pseudo-terminal, as a user's terminal runs it."""
    return pexpect.spawn(
        argv[0], argv[1:], env=env, encoding="utf-8", timeout=60, dimensions=(50, 200)
    )


def answer_once(child: pexpect.spawn) -> str:
    """Wait for the question, answer ``[1]`` with no email; what came before it."""
    child.expect(CHOICE)
    before = child.before
    child.sendline("1")
    child.expect("Email: ")
    child.sendline("")
    return before


def finish(child: pexpect.spawn) -> tuple[int, str]:
    """Wait for the end; its exit status and what it wrote since the last match."""
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


class Report:
    """The one report of one export request, as the receiver got it."""

    def __init__(self, span: dict[str, Any]) -> None:
        self.attributes = attributes(span["attributes"])
        self.event = attributes(span["events"][0]["attributes"])
        self.chain: list[dict[str, Any]] = json.loads(self.event["otel_telemetry.exception.chain"])

    @property
    def mechanism(self) -> Optional[str]:
        return self.attributes.get("otel_telemetry.mechanism")

    @property
    def handled(self) -> Optional[bool]:
        return self.attributes.get("otel_telemetry.handled")

    @property
    def type(self) -> str:
        return str(self.event["exception.type"])

    def functions(self) -> list[str]:
        """The functions of the frames of the exception raised last, outermost first."""
        return [frame["function"] for frame in self.chain[-1]["frames"]]


def stored(config_dir: Path) -> list[Path]:
    """Reports waiting in the outbox or written by the ``file`` exporter."""
    telemetry = config_dir / "telemetry"
    return [p for d in ("outbox", "reports") for p in (telemetry / d).glob("*") if p.is_file()]
