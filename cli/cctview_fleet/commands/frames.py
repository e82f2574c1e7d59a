"""`cctview-fleet frames ls|get`: list and extract stored frames from S3 by camera, date and hour.

Thin over :mod:`cctview_fleet.dataset.frames` (the same functions data-set code calls): ``ls`` lists
complete periods, ``get`` downloads them, checks every frame against its manifest, and writes
``<out>/frames/<camera>/<date>/<HH>/<ms>.jpg`` (and ``<ms>.json`` with ``--with-metadata``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_fleet.cloud.stacks import load_stack
from cctview_fleet.commands.fleetflags import JsonOption, StackOption
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    from cctview_fleet.dataset.frames import Dataset
    from cctview_fleet.dataset.records import StoredPeriod

frames_app = typer.Typer(
    name="frames",
    help="List and extract stored frames from S3 (by camera, date and hour).",
    no_args_is_help=True,
)

CameraOption = Annotated[
    str | None, typer.Option("--camera", metavar="ID", help="One camera's id.", show_default=False)
]
DateOption = Annotated[
    str | None,
    typer.Option("--date", metavar="YYYY-MM-DD", help="A UTC day.", show_default=False),
]
HourOption = Annotated[
    int | None,
    typer.Option("--hour", metavar="HH", help="A UTC hour of --date (0-23).", show_default=False),
]
PrefixOption = Annotated[
    str | None,
    typer.Option("--prefix", help="Override the stack's key prefix.", show_default=False),
]


def stack_dataset(stack_name: str | None, prefix: str | None) -> Dataset:
    from cctview_fleet.dataset.frames import Dataset

    stack = load_stack(stack_name)
    if not stack.bucket:
        raise ConfigError(
            f"stack {stack.name!r} has no bucket; re-import it (`cctview-fleet stack import`)",
            key="bucket",
        )
    return Dataset.for_stack(stack, prefix=prefix)


def _rows(periods: list[StoredPeriod]) -> list[list[str]]:
    return [
        [p.camera_id, p.date, p.hour, p.period.key, p.node, f"{p.size / 1e6:.1f}"] for p in periods
    ]


@frames_app.command("ls")
def ls(
    camera: CameraOption = None,
    date: DateOption = None,
    hour: HourOption = None,
    json_output: JsonOption = False,
    prefix: PrefixOption = None,
    stack: StackOption = None,
) -> None:
    """List the complete periods stored in S3 (one row per camera-period object)."""
    from cctview_fleet.render import console, print_json, table

    dataset = stack_dataset(stack, prefix)
    periods = dataset.periods(camera=camera, date=date, hour=hour)
    if json_output:
        print_json([p.to_dict() for p in periods])
        return
    title = f"s3://{dataset.bucket}/{dataset.prefix}: {len(periods)} periods"
    columns = ["camera", "date", "hour", "period", "node", "MB"]
    console.print(table(title, columns, _rows(periods)))


@frames_app.command("get")
def get(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Where to write the frames.")],
    camera: CameraOption = None,
    date: DateOption = None,
    hour: HourOption = None,
    with_metadata: Annotated[
        bool,
        typer.Option(
            "--with-metadata",
            help="Also write each frame's metadata (camera, position, time, node) as <ms>.json.",
        ),
    ] = False,
    json_output: JsonOption = False,
    prefix: PrefixOption = None,
    stack: StackOption = None,
) -> None:
    """Download matching periods, verify every frame against its manifest, write them to --out."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cctview_fleet.render import console, err_console, print_json

    if camera is None and date is None:
        raise ConfigError(
            "give --camera, --date or both (a whole bucket is rarely what you want), "
            "e.g. frames get --date 2025-04-04 --hour 13 --out frames/",
            key="date",
        )
    dataset = stack_dataset(stack, prefix)
    periods = dataset.periods(camera=camera, date=date, hour=hour)
    progress = Progress(
        TextColumn("extracting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=json_output,
    )
    with progress:
        task = progress.add_task("periods", total=len(periods))
        result = dataset.extract(
            out,
            camera=camera,
            date=date,
            hour=hour,
            on_period=lambda _stored: progress.advance(task),
            with_metadata=with_metadata,
        )
    summary = {
        "periods": result.periods,
        "frames": result.frames,
        "bytes": result.bytes,
        "folder": str(result.folder),
        "metadata": with_metadata,
        "verified": True,
    }
    if json_output:
        print_json(summary)
    else:
        console.print(
            f"{result.frames} frames ({result.bytes / 1e6:.1f} MB) from {result.periods} periods, "
            f"each checked against its manifest, in {result.folder}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(frames_app)
