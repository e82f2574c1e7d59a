"""`cctview-fleet dataset index|shards|build|coverage`: the stored frames as a training set.

Thin: each command parses its flags, calls :mod:`cctview_fleet.dataset.sampleindex`,
:mod:`cctview_fleet.dataset.shardselect`, :mod:`cctview_fleet.dataset.trainingset` or
:mod:`cctview_fleet.dataset.coverageplot`, and renders the result (``--json`` for scripts).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cctview_fleet.commands.fleetflags import JsonOption, StackOption
from cctview_fleet.commands.frames import PrefixOption, stack_dataset
from cctview_fleet.defaults import DEFAULT_STREAMS, URL_FORMS
from cctview_fleet.errors import ConfigError

if TYPE_CHECKING:
    from cctview_fleet.dataset.frames import Dataset
    from cctview_fleet.dataset.shardselect import SelectedShard, ShardQuery

dataset_app = typer.Typer(
    name="dataset",
    help="The stored frames as a training set: index, select shards, build mixed shards.",
    no_args_is_help=True,
)

CameraOption = Annotated[
    list[str] | None,
    typer.Option("--camera", metavar="ID", help="A camera's id (repeatable).", show_default=False),
]
PresetOption = Annotated[
    str | None,
    typer.Option("--preset", help="Cameras inside a preset (e.g. manhattan).", show_default=False),
]
FromOption = Annotated[
    str | None, typer.Option("--from", metavar="YYYY-MM-DD", help="First UTC day.")
]
ToOption = Annotated[str | None, typer.Option("--to", metavar="YYYY-MM-DD", help="Last UTC day.")]
HoursOption = Annotated[
    str | None,
    typer.Option("--hours", metavar="H-H", help="UTC hours, inclusive (e.g. 7-19, or 22-4)."),
]
DaylightOption = Annotated[
    bool, typer.Option("--daylight", help="Only shards with the sun up at the camera.")
]


def _query(
    camera: list[str] | None,
    preset: str | None,
    date_from: str | None,
    date_to: str | None,
    hours: str | None,
    daylight: bool,
) -> ShardQuery:
    from cctview_fleet.dataset.shardselect import ShardQuery, parse_hours

    first, last = parse_hours(hours)
    return ShardQuery(
        cameras=tuple(camera or ()),
        preset=preset,
        date_from=date_from,
        date_to=date_to,
        hour_from=first,
        hour_to=last,
        daylight=daylight,
    )


def _selected(dataset: Dataset, query: ShardQuery) -> list[SelectedShard]:
    from cctview_fleet.dataset.sampleindex import SampleIndex
    from cctview_fleet.dataset.shardselect import select_shards

    index = SampleIndex(dataset)
    indexed = index.dates()
    if not indexed:
        raise ConfigError(
            f"s3://{dataset.bucket}/{dataset.prefix} has no sample index yet; "
            "run `cctview-fleet dataset index` first"
        )
    return select_shards(index.read(query.dates(indexed)), query)


@dataset_app.command("index")
def index_command(
    date: Annotated[
        list[str] | None,
        typer.Option("--date", metavar="YYYY-MM-DD", help="Only these days (repeatable)."),
    ] = None,
    json_output: JsonOption = False,
    prefix: PrefixOption = None,
    stack: StackOption = None,
) -> None:
    """Build or update the Parquet index of samples in the bucket (reads manifests only)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cctview_fleet.dataset.sampleindex import check_dates, update_index
    from cctview_fleet.render import console, err_console, print_json, table

    days = None if date is None else check_dates(date)
    dataset = stack_dataset(stack, prefix)
    progress = Progress(
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=json_output,
    )
    with progress:
        task = progress.add_task("manifests", total=None)
        report = update_index(
            dataset,
            days,
            on_total=lambda days: progress.update(task, description=f"{days} days"),
            on_period=lambda: progress.advance(task),
        )
    if json_output:
        print_json(report.to_dict())
    else:
        rows = [
            [h.date, h.hour, str(h.periods_added), str(h.samples), f"{h.bytes / 1e3:.1f}", h.key]
            for h in report.hours
        ]
        title = f"sample index: {report.periods_added} periods added in {report.seconds:.1f}s"
        columns = ["date", "hour", "added", "samples", "kB written", "key"]
        console.print(table(title, columns, rows))
    for problem in report.problems:
        err_console.print(f"skipped: {problem}", markup=False, highlight=False)
    if report.problems:
        raise typer.Exit(1)


@dataset_app.command("shards")
def shards_command(
    camera: CameraOption = None,
    preset: PresetOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    hours: HoursOption = None,
    daylight: DaylightOption = False,
    form: Annotated[str, typer.Option("--form", help=f"URL form: {', '.join(URL_FORMS)}.")] = "s3",
    expires: Annotated[
        int, typer.Option("--expires", help="Seconds a presigned (https) URL stays valid.")
    ] = 3600,
    json_output: JsonOption = False,
    prefix: PrefixOption = None,
    stack: StackOption = None,
) -> None:
    """Print the URLs of the shards that match, one a line (or --json with what each holds)."""
    from cctview_fleet.dataset.shardselect import shard_url
    from cctview_fleet.render import print_json

    if form not in URL_FORMS:
        raise ConfigError(f"--form {form!r}: use one of {', '.join(URL_FORMS)}", key="form")
    query = _query(camera, preset, date_from, date_to, hours, daylight)
    dataset = stack_dataset(stack, prefix)
    chosen = _selected(dataset, query)
    urls = [shard_url(dataset, s.shard_key, form, expires=expires) for s in chosen]  # type: ignore[arg-type]
    if json_output:
        print_json([{"url": u, **s.to_dict()} for u, s in zip(urls, chosen, strict=True)])
        return
    for url in urls:
        typer.echo(url)


@dataset_app.command("build")
def build_command(
    out: Annotated[
        str, typer.Option("--out", metavar="DIR|s3://B/P", help="Local folder or S3 prefix.")
    ],
    camera: CameraOption = None,
    preset: PresetOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    hours: HoursOption = None,
    daylight: DaylightOption = False,
    target_size: Annotated[
        str, typer.Option("--target-size", help="Bytes per output shard (e.g. 256M).")
    ] = "256M",
    streams: Annotated[
        int, typer.Option("--streams", help="Source shards mixed at a time.")
    ] = DEFAULT_STREAMS,
    seed: Annotated[int, typer.Option("--seed", help="Shuffle seed (same seed, same shards).")] = 0,
    json_output: JsonOption = False,
    prefix: PrefixOption = None,
    stack: StackOption = None,
) -> None:
    """Write training shards that mix cameras and hours, with index.parquet and a dataset card."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from cctview_agent.sync.uploader import parse_rate
    from cctview_fleet.dataset.trainingset import build, check_build
    from cctview_fleet.render import console, err_console, print_json

    query = _query(camera, preset, date_from, date_to, hours, daylight)
    try:
        target = int(parse_rate(target_size))
    except ValueError:
        raise ConfigError(
            f"--target-size {target_size!r} is not a size; e.g. 256M or 1G", key="target_size"
        ) from None
    check_build(out, target)
    dataset = stack_dataset(stack, prefix)
    chosen = _selected(dataset, query)
    if not chosen:
        raise ConfigError("no shard matches the selection; widen it (`dataset shards` lists them)")
    progress = Progress(
        TextColumn("building"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=json_output,
    )
    with progress:
        task = progress.add_task("bytes", total=sum(s.jpg_bytes for s in chosen))
        report = build(
            dataset,
            chosen,
            out,
            target_bytes=target,
            streams=streams,
            seed=seed,
            on_sample=lambda size: progress.advance(task, size),
        )
    if json_output:
        print_json(report.to_dict())
        return
    console.print(
        f"{report.samples} samples from {report.cameras} cameras and {report.sources} source "
        f"shards in {len(report.shards)} shards ({report.bytes / 1e6:.1f} MB) at {out}, "
        "with index.parquet and README.md",
        markup=False,
        highlight=False,
    )


@dataset_app.command("coverage")
def coverage_command(
    plot: Annotated[
        Path | None, typer.Option("--plot", metavar="FILE", help="Write a heat map (.png).")
    ] = None,
    camera: CameraOption = None,
    preset: PresetOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    hours: HoursOption = None,
    daylight: DaylightOption = False,
    json_output: JsonOption = False,
    prefix: PrefixOption = None,
    stack: StackOption = None,
) -> None:
    """Samples per camera and UTC hour, from the index (a table, --json, or --plot a heat map)."""
    from cctview_fleet.assignment.plot import check_plot_path
    from cctview_fleet.dataset.coverageplot import coverage_counts, plot_coverage
    from cctview_fleet.render import console, print_json, table

    if plot is not None:
        check_plot_path(plot)  # before any request: a bad name fails at once
    query = _query(camera, preset, date_from, date_to, hours, daylight)
    dataset = stack_dataset(stack, prefix)
    counts = coverage_counts(_selected(dataset, query))
    if plot is not None:
        plot_coverage(counts, plot, title=f"samples per camera-hour, s3://{dataset.bucket}")
    if json_output:
        print_json(
            [{"camera_id": c, "hour": h, "samples": n} for (c, h), n in sorted(counts.items())]
        )
        return
    listed = [[c, h, str(n)] for (c, h), n in sorted(counts.items())]
    console.print(table("samples per camera-hour", ["camera", "UTC hour", "samples"], listed))
    if plot is not None:
        console.print(f"plot: {plot}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app)
