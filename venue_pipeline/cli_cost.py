"""The `cost` commands: what a year of schedules spends, replayed against the sandbox or forecast from the state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _subcommands() -> list[Callable[[Any], None]]:
    """Each cost subcommand registers itself from its own module, so cli.py stays short."""
    from venue_pipeline.cli_cost_forecast import add_forecast
    from venue_pipeline.cli_cost_simulate import add_simulate

    return [add_simulate, add_forecast]


def add_cost_parser(sub: Any) -> None:
    """Registers `venue-pipeline cost ...` and its subcommands."""
    cost = sub.add_parser("cost", help="what the schedules will spend: a simulated year, or a forecast")
    cost_sub = cost.add_subparsers(dest="cost_command", required=True)
    for register in _subcommands():
        register(cost_sub)
