"""`cctview-fleet trust [NODE]... [--yes]`: record new nodes' host keys in the fleet's known_hosts.

A key is added when its fingerprint matches what the instance printed to the EC2 console at first
boot, or when the operator confirms it (``--yes``, or answering the prompt). A key that
contradicts the console output is refused whatever the flags say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cctview_fleet.commands.fleetflags import (
    DEFAULT_CONNECT_TIMEOUT_VALUE,
    DEFAULT_PARALLEL_VALUE,
    ConnectTimeoutOption,
    JsonOption,
    NodesArgument,
    ParallelOption,
    StackOption,
    open_fleet,
)
from cctview_fleet.errors import FleetError

if TYPE_CHECKING:
    from rich.text import Text

    from cctview_fleet.nodes import trust as trusting


def _confirm(check: trusting.HostKeyCheck) -> bool:
    question = (
        f"Trust {check.node} at {check.address}, {check.key_type} key {check.fingerprint} "
        f"({check.known})?"
    )
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:  # end of input (no terminal): an unanswered question is a no
        return False


def _boot_cell(check: trusting.HostKeyCheck) -> Text:
    """The first boot as the console shows it: ok, failed with the step, or - (not printed)."""
    from rich.text import Text

    from cctview_fleet.render import styled

    if check.first_boot is None:
        return Text("-")
    if check.first_boot.ok:
        return styled("[green]ok[/]")
    return styled("[red]{}[/]", check.first_boot.describe())


def trust(
    nodes: NodesArgument = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Trust keys the console output cannot vouch for, without asking."
        ),
    ] = False,
    as_json: JsonOption = False,
    stack: StackOption = None,
    parallel: ParallelOption = DEFAULT_PARALLEL_VALUE,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT_VALUE,
) -> None:
    """Fetch each node's host key, check it against the EC2 console, add it to known_hosts."""
    from cctview_fleet.nodes import trust as trusting
    from cctview_fleet.nodes.ops import run_on_nodes
    from cctview_fleet.render import console, print_json, styled, table

    with open_fleet(stack, nodes, parallel=parallel, connect_timeout=connect_timeout) as fleet:
        known_hosts = fleet.connections.settings.known_hosts
        checks = run_on_nodes(
            fleet.nodes,
            lambda node: trusting.inspect_node(
                fleet.stack, node, known_hosts, timeout=connect_timeout
            ),
            parallel=fleet.parallel,
        )
    report = trusting.apply_trust(
        checks, known_hosts, yes=yes, confirm=None if as_json else _confirm
    )
    outcomes, untrusted = report.results, report.untrusted
    if as_json:
        document: list[dict[str, Any]] = []
        for name, result in checks.items():
            check = result.value
            entry: dict[str, Any] = {"node": name, "result": outcomes[name]}
            if check is not None:
                entry.update(
                    address=check.address,
                    key_type=check.key_type,
                    fingerprint=check.fingerprint,
                    known=check.known.value,
                    console=check.console.value,
                    first_boot=check.first_boot.describe() if check.first_boot else None,
                )
            document.append(entry)
        print_json(document)
    else:
        rows: list[tuple[str | Text, ...]] = []
        for name, result in checks.items():
            check = result.value
            if check is None:
                rows.append((name, "", "", "", "", "", styled("[red]{}[/]", outcomes[name])))
                continue
            colour = "red" if name in untrusted else "green"
            rows.append(
                (
                    name,
                    check.address,
                    f"{check.key_type} {check.fingerprint}",
                    check.known.value,
                    check.console.value,
                    _boot_cell(check),
                    styled(f"[{colour}]{{}}[/]", outcomes[name]),
                )
            )
        console.print(
            table(
                f"host keys of fleet {fleet.stack.name}",
                (
                    "node",
                    "address",
                    "host key",
                    "known_hosts",
                    "EC2 console",
                    "first boot",
                    "result",
                ),
                rows,
                caption=f"known_hosts: {known_hosts}",
                wrap=("first boot", "result"),
            )
        )
    if untrusted:
        raise FleetError(
            f"{len(untrusted)} of {len(checks)} nodes not trusted: {', '.join(untrusted)}"
        )


def register(app: typer.Typer) -> None:
    app.command("trust")(trust)
