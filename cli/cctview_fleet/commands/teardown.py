"""`cctview-fleet teardown`: list what the fleet leaves billing outside Pulumi, then delete it.

Thin: :func:`cctview_fleet.cloud.teardown.survey` finds the leftovers and what `pulumi destroy`
needs, :func:`cctview_fleet.cloud.teardown.delete` deletes; this module asks and renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_fleet.cloud.stacks import load_stack
from cctview_fleet.commands.fleetflags import JsonOption, StackOption
from cctview_fleet.errors import FleetError

if TYPE_CHECKING:
    from cctview_fleet.cloud import teardown as leftovers


def _size(item: leftovers.Leftover) -> str:
    gib = item.size_bytes / 1024**3
    return f"{gib:,.0f} GiB" if gib >= 1 else f"{item.size_bytes / 1024**2:,.1f} MiB"


def teardown(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List only; delete nothing.")] = False,
    include_unsynced: Annotated[
        bool,
        typer.Option(
            "--include-unsynced",
            help="Also delete detached volumes with no proof their periods were synced.",
        ),
    ] = False,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="JSON file overriding prices.", dir_okay=False)
    ] = None,
    as_json: JsonOption = False,
    stack: StackOption = None,
) -> None:
    """List the fleet's volumes, snapshots and unfinished uploads that Pulumi does not own, with
    sizes and monthly cost; delete them after confirmation; say what `pulumi destroy` needs."""
    from cctview_fleet.cloud import teardown as leftovers
    from cctview_fleet.planning.costs import load_prices
    from cctview_fleet.render import console, err_console, print_json, table

    fleet_stack = load_stack(stack)
    found = leftovers.survey(fleet_stack, load_prices(prices), include_unsynced=include_unsynced)
    doc: dict[str, object] = {
        "leftovers": [item.to_dict() for item in found.leftovers],
        "monthly_usd": round(found.monthly_usd, 2),
        "destroy_needs": list(found.destroy_needs),
    }
    if not as_json:
        rows = [(i.kind.value, i.id, _size(i), f"${i.monthly_usd:,.2f}", i.detail,
                 i.blocked or "delete") for i in found.leftovers]  # fmt: skip
        console.print(table(f"left by fleet {fleet_stack.name} outside Pulumi",
                            ("kind", "id", "size", "per month", "what", "action"), rows,
                            caption=f"${found.monthly_usd:,.2f} a month in all"))  # fmt: skip
    deletable = found.deletable
    go = bool(deletable) and not dry_run
    if go and not yes:
        go = typer.confirm(f"Delete {len(deletable)} of them?", default=False, err=True)
    outcomes = leftovers.delete(fleet_stack, deletable) if go else []
    failed = [o for o in outcomes if o.error]
    doc["deleted"] = [o.item.id for o in outcomes if not o.error]
    doc["failed"] = {o.item.id: o.error for o in failed}
    if as_json:
        print_json(doc)
    else:
        done = len(outcomes) - len(failed)
        err_console.print(f"deleted {done} of {len(deletable)} deletable" if go
                          else f"nothing deleted ({len(deletable)} deletable)")  # fmt: skip
        for need in found.destroy_needs:
            err_console.print(f"next, pulumi destroy: {need}")
    if failed:
        raise FleetError(f"teardown failed for {len(failed)} of {len(outcomes)}: {failed[0].error}")


def register(app: typer.Typer) -> None:
    app.command("teardown")(teardown)
