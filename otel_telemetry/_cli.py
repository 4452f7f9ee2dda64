"""``<app> telemetry enable|local|disable|status|show|clean`` and ``python -m otel_telemetry --app``.

One click definition of the commands serves three doors: the ``telemetry`` group a
click host mounts (``Telemetry.cli()``), the argparse adapter (``add_to_argparse``, which
hands its arguments to the same group) and the generic ``python -m otel_telemetry --app
NAME``. What ``show`` and ``clean`` do lives in ``_control``, shared with the Python API.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

if TYPE_CHECKING:
    from ._telemetry import Telemetry


def telemetry_group(resolve: Callable[[], Telemetry]) -> click.Group:
    """Build the ``telemetry`` command group for the ``Telemetry`` that ``resolve`` returns."""

    @click.group(name="telemetry")
    def group() -> None:
        """Crash reports: see and change what is sent."""

    _add_commands(group, resolve)
    return group


COMMANDS = ("enable", "local", "disable", "status", "show", "clean")


def add_to_argparse(
    resolve: Callable[[], Telemetry], subparsers: Any, name: str = "telemetry"
) -> argparse.ArgumentParser:
    """Mount the same commands under ``name`` in an argparse host.

    The new subparser sets ``func``: after ``parse_args()``, ``args.func(args)`` runs the
    command and returns its exit code, as argparse hosts usually dispatch.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="crash reports: " + ", ".join(COMMANDS),
        description="See and change what crash reports are sent.",
    )
    parser.add_argument("command", choices=COMMANDS, help="what to do")
    # The command's own options go to it unparsed: its click definition is the one truth.
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the command's options")

    def run(args: argparse.Namespace) -> int:
        group = telemetry_group(resolve)
        try:
            group.main(
                args=[args.command, *args.options], prog_name=parser.prog, standalone_mode=False
            )
        except click.exceptions.Exit as exit_:
            return int(exit_.exit_code)
        except click.ClickException as error:
            error.show()
            return error.exit_code
        except click.Abort:
            return 1
        return 0

    parser.set_defaults(func=run)
    return parser


def _prog(app: str) -> str:
    """How the user runs these commands: ``acme telemetry``, as this run was started.

    The host's own program and group name (click's ``info_name`` of each level, which
    the argparse adapter sets to its parser's ``prog``), or ``python -m otel_telemetry
    --app acme`` for the generic command, whose commands sit at the top level.
    """
    ctx = click.get_current_context()
    group = ctx.parent if ctx.parent is not None else ctx
    root = group.find_root()
    if root.command is main:
        policy = root.params.get("policy_version", 1)
        # A yes saved without the host's version would not count for the host.
        option = f" --policy-version {policy}" if policy != 1 else ""
        return f"{root.info_name or 'python -m otel_telemetry'} --app {app}{option}"
    return group.command_path or f"{app} telemetry"


def _color() -> bool:
    from ._view import wants_color

    return wants_color(sys.stdout)


# What a decision's level does, as the note after a choice says it; "still" when the
# user just said no and reports go on leaving (or being recorded).
_EFFECTS = {
    "off": ("nothing is sent", "nothing is sent"),
    "crash": ("crash reports are sent", "crash reports are still sent"),
    "all": (
        "crash reports and usage events are sent",
        "crash reports and usage events are still sent",
    ),
    "local": (
        "reports are recorded on this machine only, never uploaded",
        "reports are still recorded on this machine, never uploaded",
    ),
}


def _overridden(telemetry: Telemetry, wanted: str) -> None:
    """Say so on stderr when a variable decides otherwise than the choice just saved.

    ``enable``, ``local`` and ``disable`` all say it the same way:
    ``Note: ACME_TELEMETRY is set and decides for now (crash reports are still sent).``
    """
    from ._status import printable

    decision = telemetry.consent.decide()
    level = "off" if decision.state == "denied" else decision.level
    if decision.source in ("config", "session") or level == wanted:
        return
    now, still = _EFFECTS.get(level, (level, level))
    click.echo(
        f"Note: {printable(decision.source)} is set and decides for now"
        f" ({still if wanted == 'off' else now}).",
        err=True,
    )


def _add_commands(group: click.Group, resolve: Callable[[], Telemetry]) -> None:
    @group.command()
    @click.option("--email", default=None, help="An address the maintainers may write to.")
    @click.option(
        "--usage", is_flag=True, help="Anonymous usage events too, not only crash reports."
    )
    def enable(email: Optional[str], usage: bool) -> None:
        """Send crash reports from now on (and usage events, with --usage)."""
        telemetry = resolve()
        try:
            telemetry.enable(email=email, always=True, usage=usage)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
        what = "Crash reports and anonymous usage events" if usage else "Crash reports"
        click.echo(f"{what} for {telemetry.app} are enabled.")
        _overridden(telemetry, "all" if usage else "crash")

    @group.command()
    def local() -> None:
        """Record reports on this machine only; never upload them."""
        telemetry = resolve()
        telemetry.enable(local=True)
        reports = telemetry.settings.layout().reports_dir
        click.echo(
            f"Reports for {telemetry.app} are recorded in {reports} and never uploaded."
            f" See them with `{_prog(telemetry.app)} show`."
        )
        _overridden(telemetry, "local")

    @group.command()
    def disable() -> None:
        """Never send crash reports, and forget the saved email."""
        from ._control import stored_reports

        telemetry = resolve()
        telemetry.disable()
        click.echo(f"Crash reports for {telemetry.app} are disabled.")
        _overridden(telemetry, "off")
        kept, unread = stored_reports(telemetry.settings)
        advice = f"`{_prog(telemetry.app)} clean` removes {'it' if kept + unread == 1 else 'them'}"
        if kept:
            reports = "report remains" if kept == 1 else "reports remain"
            also = ""
            if unread:
                also = f" (and {unread} file{'' if unread == 1 else 's'} too large to read)"
            click.echo(f"{kept} stored {reports}{also} on this machine; {advice}.")
        elif unread:
            files = "file of reports remains" if unread == 1 else "files of reports remain"
            click.echo(f"{unread} {files} on this machine, too large to read; {advice}.")

    @group.command()
    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Every field, as JSON; counts of this process only end in _in_this_process.",
    )
    def status(as_json: bool) -> None:
        """Say whether reports are sent, what decided it, and where they go.

        Held and dropped reports are counted in this process only: run from the command
        line, they are 0. A report refused by a variable (<APP>_TELEMETRY=0, DO_NOT_TRACK)
        is never captured, so it is never counted as dropped.
        """
        from ._control import json_text

        current = resolve().status()
        click.echo(json_text(_fields(current)) if as_json else str(current))

    @group.command()
    @click.option("--all", "show_all", is_flag=True, help="Every kept report, oldest first.")
    @click.option("--sent", is_flag=True, help="The record of sent reports, one per line.")
    @click.option("--json", "as_json", is_flag=True, help="The exact OTLP/JSON.")
    def show(show_all: bool, sent: bool, as_json: bool) -> None:
        """Print the newest report kept on this machine, readable.

        Sent, waiting in the outbox, or stored by the file exporter: each report is
        headed by where it is. --json prints the exact OTLP/JSON instead.
        """
        from ._control import show_output

        telemetry = resolve()
        out, notes = show_output(
            telemetry.settings,
            sent=sent,
            as_json=as_json,
            show_all=show_all,
            color=not as_json and _color(),
            prog=_prog(telemetry.app),
        )
        if out:
            click.echo(out, color=True)  # colour only if asked above; click would strip it
        if notes:
            click.echo(notes, err=True)  # with --json only: stdout stays JSON

    @group.command()
    def clean() -> None:
        """Delete kept reports, the install id and backoff; keep the choice.

        The outbox, the file exporter's reports, the record of sent reports, the
        anonymous install id and the backoff state go; config.json stays as it is.
        """
        telemetry = resolve()
        cleaned = telemetry.clean()
        click.echo(cleaned.summary)
        for problem in cleaned.problems:
            click.echo(f"Error: could not remove {problem}", err=True)
        if cleaned.problems:
            raise click.exceptions.Exit(1)


# Counts of the process that runs the command (0 from the command line), named so.
_OF_THIS_PROCESS = ("held", "dropped", "drops")


def _fields(status: Any) -> dict[str, Any]:
    """Every field of a ``TelemetryStatus`` as JSON values (paths as str, tuples as lists).

    ``held``, ``dropped`` and ``drops`` are keyed ``held_in_this_process``, ... : they
    count what the process that runs the command held or dropped, never another one's.
    """
    import dataclasses
    from pathlib import PurePath

    def value(item: Any) -> Any:
        if isinstance(item, PurePath):
            return str(item)
        if isinstance(item, (list, tuple)):
            return [value(v) for v in item]
        if isinstance(item, dict):
            return {str(k): value(v) for k, v in item.items()}
        return item

    return {
        f"{f.name}_in_this_process" if f.name in _OF_THIS_PROCESS else f.name: value(
            getattr(status, f.name)
        )
        for f in dataclasses.fields(status)
    }


@click.group(name="otel_telemetry")
@click.option("--app", required=True, help="The host app name, as in ~/.<app>/config.json.")
@click.option(
    "--policy-version",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="The host's policy_version (Telemetry(policy_version=N)): a yes saved for an"
    " older one no longer counts, and enable saves this one.",
)
@click.pass_context
def main(ctx: click.Context, app: str, policy_version: int) -> None:
    """Control crash reporting of any app that embeds otel_telemetry."""
    from ._telemetry import Telemetry

    ctx.obj = Telemetry(app=app, policy_version=policy_version)


def _from_context() -> Telemetry:
    from ._telemetry import Telemetry

    telemetry = click.get_current_context().find_object(Telemetry)
    if telemetry is None:  # pragma: no cover - main() always sets it
        raise click.UsageError("--app is required")
    return telemetry


_add_commands(main, _from_context)
