"""``cctview-agent sync``: ship complete periods to S3, verified (see cctview_agent.sync.run).

    cctview-agent sync --bucket B [--prefix P] [--delete-local] [--json-progress]
                       [--bwlimit RATE] [--dry-run] [--data DIR]

``--json-progress`` prints one JSON object per line (events ``start``, ``bytes``, ``period``,
``aborted-upload``, ``error``, and a final ``summary``) for the operator's progress display;
without it a short human summary is printed. Exit 0 when every period is in S3, 1 when some
period failed (the others are done), and the error's code (one ``error:`` line) when the link to
S3 fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cctview_agent.config import load_config
from cctview_agent.errors import ConfigError, SyncError

if TYPE_CHECKING:
    from cctview_agent.sync.summary import SyncSummary

# The sync machinery (tar streaming, botocore) is imported by the handler only: every other
# subcommand, `status` above all (the operator asks every node for it), starts without it.


def _rate(text: str) -> float:
    from cctview_agent.sync.uploader import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    return int(_rate(text))


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sync", help="upload complete periods to S3, verified; optionally delete them locally"
    )
    parser.add_argument(
        "--bucket", default=os.environ.get("CCTVIEW_BUCKET", ""), help="the stack's S3 bucket"
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get("CCTVIEW_PREFIX", "cctview"),
        help="key prefix (default: cctview)",
    )
    parser.add_argument(
        "--delete-local",
        action="store_true",
        help="delete a period's frames and manifest after its objects are verified in S3",
    )
    parser.add_argument(
        "--retain-days",
        type=float,
        default=None,
        metavar="DAYS",
        help="delete verified periods that ended more than DAYS ago (retention; default: keep)",
    )
    parser.add_argument("--json-progress", action="store_true", help="one JSON event per line")
    parser.add_argument(
        "--bwlimit", type=_rate, default=0.0, metavar="RATE", help="e.g. 2M (bytes/s; K, M, G)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        default=None,
        metavar="DIR",
        help="sync this data folder instead of the config's (repeatable; no config needed)",
    )
    parser.add_argument("--node", default=None, help="node name for object keys")
    parser.add_argument("--endpoint-url", default=None, help="S3 endpoint (an emulator)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--multipart-threshold", type=_size, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--part-size", type=_size, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle)


def _printer(enabled: bool) -> Any:
    def emit(event: dict[str, Any]) -> None:
        if enabled:
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    return emit


def _human(summary: SyncSummary) -> str:
    mb = summary.bytes_verified / 1e6
    verb = "would upload" if summary.dry_run else "uploaded"
    count = summary.periods if summary.dry_run else summary.uploaded
    line = (
        f"{verb} {count} period(s), {summary.present} already in S3, "
        f"{summary.already_synced} synced earlier, {summary.failed} failed; "
        f"{mb:.1f} MB verified in {summary.seconds:.1f} s"
    )
    if summary.deleted:
        line += f"; {summary.deleted} period(s) deleted locally"
    return line


def handle(args: argparse.Namespace) -> int:
    from cctview_agent.sync.options import SyncOptions, default_node
    from cctview_agent.sync.pending import data_roots
    from cctview_agent.sync.receipts import SyncTarget
    from cctview_agent.sync.run import run_sync

    if args.data:
        roots = [path.expanduser().absolute() for path in args.data]
        node = args.node or default_node()
        fleet = None
    else:
        config = load_config(args.config)
        fleet = SyncTarget.fleet(config)
        roots = data_roots(config)
        node = args.node or config.node or default_node()
        if not roots:
            raise ConfigError(
                f"no data folder with frames at {config.data_dir} or under {config.volumes_root}; "
                "nothing to sync (is the agent running?)",
                key="data_dir",
            )
    if args.retain_days is not None and args.retain_days < 0:
        raise ConfigError(f"--retain-days must be 0 or more, not {args.retain_days:g}")
    if args.part_size is not None and args.part_size < 5 * 1024 * 1024:
        raise ConfigError("--part-size must be at least 5M (S3's smallest part)")
    options = SyncOptions(
        bucket=args.bucket,
        prefix=args.prefix,
        node=node,
        delete_local=args.delete_local,
        retain_seconds=None if args.retain_days is None else args.retain_days * 86400,
        dry_run=args.dry_run,
        bwlimit=args.bwlimit,
        endpoint_url=args.endpoint_url,
        region=args.region,
        multipart_threshold=args.multipart_threshold,
        part_size=args.part_size,
        fleet=fleet,
    )
    emit = _printer(args.json_progress)
    try:
        summary = run_sync(roots, options, emit=emit)
    except SyncError as exc:
        emit({"event": "error", "message": str(exc)})
        raise
    emit({"event": "summary", **summary.to_dict()})
    if not args.json_progress:
        print(_human(summary))
        for outcome in summary.failures:
            sys.stderr.write(f"failed: {outcome.camera_id} {outcome.period}: {outcome.error}\n")
    return 1 if summary.failed else 0
