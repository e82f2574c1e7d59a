"""`cctview-fleet dev up|status|down`: a complete fleet on this machine, the stack `local`.

moto's server stands in for AWS, the camera simulator for webcams.nyctmc.org, and each node is a
real OpenSSH sshd on a loopback port running the real agent. Every other command then works
against it unchanged with `--stack local` (or CCTVIEW_STACK=local). See docs/local-fleet.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cctview_camsim.profilename import ProfileName  # the --camsim-profile choices

if TYPE_CHECKING:
    from cctview_fleet.devfleet.fleet import ProcessStatus
    from cctview_fleet.devfleet.state import FleetState

# The library (boto3, paramiko) is imported inside each command: every other command of the CLI
# starts faster for not loading it.

dev_app = typer.Typer(
    help="Run a whole fleet on this machine: emulated AWS, simulated cameras, sshd nodes."
)


MODES = {
    "debian": "first-booted Debian 12 roots (running as root): users, sudo and files as on EC2",
    "single-user": "single-user folders: sshd and agents run as you (run as root for Debian nodes)",
}


def summary(state: FleetState) -> dict[str, Any]:
    """What `dev up --json` prints: where everything is, for scripts and the tests."""
    return {
        "stack": "local",
        "mode": state.mode,
        "folder": state.folder,
        "moto_url": state.moto_url,
        "camsim_url": state.camsim_url,
        "catalog_url": state.catalog_url,
        "ca_file": state.ca_file,
        "bucket": state.bucket,
        "period": state.period,
        "ssh_key": state.ssh_key,
        "known_hosts": state.known_hosts,
        "nodes": [
            {
                "name": node.name,
                "ssh_port": node.ssh_port,
                "instance_id": node.instance_id,
                "volume_id": node.volume_id,
                "folder": node.folder,
                "root": node.root,
            }
            for node in state.nodes
        ],
        "processes": [
            {"name": p.name, "role": p.role, "pid": p.pid, "port": p.port} for p in state.processes
        ],
    }


def _rows(rows: list[ProcessStatus]) -> list[tuple[str, ...]]:
    return [
        (
            row.name,
            str(row.pid),
            str(row.port or ""),
            "[green]running[/]" if row.alive else "[red]gone[/]",
            row.log,
        )
        for row in rows
    ]


@dev_app.command("up")
def up_command(
    node_count: Annotated[int, typer.Option("--nodes", help="How many nodes.", min=1)] = 3,
    period: Annotated[
        int, typer.Option("--period", help="The agents' period in seconds (hour in production).")
    ] = 60,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="Camera list (API JSON) to serve, not the synthetic one."),
    ] = None,
    cameras: Annotated[
        int | None,
        typer.Option("--cameras", help="How many synthetic cameras to serve (900).", min=1),
    ] = None,
    https: Annotated[
        bool, typer.Option("--https/--no-https", help="Serve the cameras over HTTPS.")
    ] = True,
    camsim_profile: Annotated[
        ProfileName,
        typer.Option(
            "--camsim-profile",
            help="The simulator's behaviour: real (webcams.nyctmc.org's cadences, latency, "
            "offline card) or easy (a new frame every 2 s, no latency).",
        ),
    ] = ProfileName.REAL,
    single_user: Annotated[
        bool,
        typer.Option(
            "--single-user",
            help="As root too: nodes as folders run by you, not first-booted Debian roots.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Start moto, the camera simulator and N sshd nodes with their agents; write stack `local`.

    As root, each node is a Debian 12 root first-booted by the Pulumi program's own user data
    (its users, sudo rules and files as on EC2); otherwise, or with --single-user, each node is
    a folder whose sshd and agent run as you.
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cctview_fleet.devfleet.fleet import UpOptions, steps_total, up
    from cctview_fleet.render import console, err_console, print_json, table

    options = UpOptions(
        nodes=node_count,
        period=period,
        catalog=catalog,
        cameras=cameras,
        https=https,
        node_kind="single-user" if single_user else "auto",
        camsim_profile=camsim_profile.value,
    )
    kind = "Debian" if options.debian else "single-user"
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task(
            f"starting the local fleet ({kind} nodes)",
            total=steps_total(node_count, debian=options.debian),
        )

        def on_step(description: str) -> None:
            progress.update(task, description=description, advance=1)

        state = up(options, on_step)
    if as_json:
        print_json(summary(state))
        return
    console.print(
        table(
            f"local fleet: {len(state.nodes)} {state.mode} nodes, period {state.period} s",
            ["node", "ssh", "instance", "volume"],
            [(n.name, f"127.0.0.1:{n.ssh_port}", n.instance_id, n.volume_id) for n in state.nodes],
            caption=(
                f"AWS emulator {state.moto_url} · cameras {state.catalog_url} · "
                f"bucket {state.bucket} · files in {state.folder}"
            ),
        )
    )
    console.print(f"local nodes: {MODES[state.mode]}")
    console.print(
        "Use it with [bold]--stack local[/] (or CCTVIEW_STACK=local), e.g. "
        "`cctview-fleet status --stack local`; stop it with `cctview-fleet dev down`."
    )


@dev_app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether each process of the local fleet still runs; exit 1 if one is dead."""
    from cctview_fleet.devfleet.fleet import status
    from cctview_fleet.render import console, print_json

    state, rows = status()
    if as_json:
        print_json(
            {
                **(summary(state) if state else {}),
                "up": state is not None,
                "complete": bool(state and state.complete),
                "folder": state.folder if state else None,
                "processes": [
                    {
                        "name": r.name,
                        "role": r.role,
                        "pid": r.pid,
                        "port": r.port,
                        "alive": r.alive,
                        "log": r.log,
                    }
                    for r in rows
                ],
            }
        )
        if not all(r.alive for r in rows):
            raise typer.Exit(1)
        return
    if state is None:
        console.print("no local fleet is running; start one with `cctview-fleet dev up`")
        return
    _status_table(state, rows)
    if not all(r.alive for r in rows):
        raise typer.Exit(1)  # a process the fleet started is dead: `dev restart NODE` or down/up


def _status_table(state: FleetState, rows: list[ProcessStatus]) -> None:
    from cctview_fleet.render import console, table

    alive = sum(r.alive for r in rows)
    unfinished = "" if state.complete else "; `dev up` did not finish: run `cctview-fleet dev down`"
    console.print(
        table(
            f"local fleet in {state.folder}",
            ["process", "pid", "port", "state", "log"],
            _rows(rows),
            caption=f"{alive} of {len(rows)} running · {state.mode} nodes{unfinished}",
        )
    )
    if state.nodes:
        console.print(
            table(
                "nodes",
                ["node", "ssh", "instance", "volume", "folder"],
                [
                    (n.name, f"127.0.0.1:{n.ssh_port}", n.instance_id, n.volume_id, n.folder)
                    for n in state.nodes
                ],
            )
        )


@dev_app.command("down")
def down_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stop every process the local fleet started (by pid) and remove the stack `local`."""
    from cctview_fleet.devfleet.fleet import down
    from cctview_fleet.render import console, print_json

    report = down()
    if as_json:
        print_json(
            {
                "was_up": report.was_up,
                "stopped": [{"name": r.name, "pid": r.pid} for r in report.stopped],
            }
        )
        return
    if not report.was_up:
        console.print("no local fleet was running")
        return
    console.print(f"stopped {len(report.stopped)} processes; the stack `local` is removed")


@dev_app.command("restart")
def restart_command(
    node: Annotated[str, typer.Argument(help="The node, e.g. node-01.", metavar="NODE")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Restart a node's sshd and agent (dead or alive), as rebooting an EC2 node would."""
    from cctview_fleet.devfleet.fleet import restart_node
    from cctview_fleet.render import console, err_console, print_json

    with err_console.status(f"restarting {node}", spinner="dots"):
        state = restart_node(node)
    started = [p for p in state.processes if p.node == node]
    if as_json:
        print_json({"node": node, "processes": [{"name": p.name, "pid": p.pid} for p in started]})
        return
    console.print(f"{node}: " + ", ".join(f"{p.name} pid {p.pid}" for p in started))


def register(app: typer.Typer) -> None:
    app.add_typer(dev_app, name="dev")
