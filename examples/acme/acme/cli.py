"""``acme``: the Acme command line, with ``acme telemetry enable|disable|status|show``."""

import click

from .crawler import run
from .telemetry import telemetry


@click.group()
def cli() -> None:
    """Acme crawls pages."""


@cli.command()
@click.argument("url")
@click.option("--contact", default="crawler@example.com", help="Who runs this crawl.")
def crawl(url: str, contact: str) -> None:
    """Fetch URL and print it."""
    click.echo("acme: crawling 1 page")
    click.echo(run(url, contact))


cli.add_command(telemetry.cli())
