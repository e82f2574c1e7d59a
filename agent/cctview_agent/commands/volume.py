"""``cctview-agent volume prepare|switch|drain-status|retire|list``: a node's data volumes.

The operator's ``rotate-volumes`` runs these over SSH, one step each, and parses the single JSON
object every step prints (``drain-status`` and ``list`` print text unless ``--json``). Every step
is idempotent, so a rotation interrupted anywhere is resumed by running the same step again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from cctview_agent.config import load_config
from cctview_agent.errors import ConfigError
from cctview_agent.volumes.drain import drain_status, list_volumes, retire_volume
from cctview_agent.volumes.switching import FSTAB, check_volume_id, prepare_volume, switch_volume


def _volume_id(text: str) -> str:
    try:
        return check_volume_id(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("volume", help="prepare, switch, drain and retire data volumes")
    actions = parser.add_subparsers(dest="volume_action", metavar="ACTION")
    actions.required = True

    prepare = actions.add_parser(
        "prepare", help="format (if blank) and mount a volume by its EBS id, or make its folder"
    )
    prepare.add_argument("--volume-id", required=True, type=_volume_id)
    prepare.add_argument(
        "--device",
        default="auto",
        help="block device to use; 'auto' (default) finds it by the EBS volume id",
    )
    prepare.add_argument(
        "--attachment-device",
        help="the device name in EC2's attachment record (/dev/sdf); used on Xen instances",
    )
    prepare.add_argument("--size-gib", type=int, help="the volume's size in EC2, checked on Xen")
    _mode(prepare)
    _fstab(prepare)
    prepare.set_defaults(handler=_prepare)

    switch = actions.add_parser("switch", help="point data_dir at a prepared volume (atomic)")
    switch.add_argument("--volume-id", required=True, type=_volume_id)
    switch.set_defaults(handler=_switch)

    drain = actions.add_parser(
        "drain-status", help="periods on a volume: verified in S3, complete, still open"
    )
    drain.add_argument("--volume-id", required=True, type=_volume_id)
    drain.add_argument("--json", action="store_true", help="print one JSON object")
    drain.set_defaults(handler=_drain)

    retire = actions.add_parser(
        "retire", help="unmount (or remove) a volume whose periods are all verified in S3"
    )
    retire.add_argument("--volume-id", required=True, type=_volume_id)
    _mode(retire)
    _fstab(retire)
    retire.set_defaults(handler=_retire)

    listing = actions.add_parser("list", help="the volumes under volumes_dir")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=_list)


def _mode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=("auto", "block", "folder"),
        default=None,
        help="block: an EBS device; folder: a plain folder (local fleet); default: the config",
    )


def _fstab(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fstab",
        type=Path,
        default=FSTAB,
        help=f"block mode: the fstab that remounts the volume at boot (default {FSTAB})",
    )


def _print(data: Any) -> None:
    print(json.dumps(data, separators=(",", ":")))


def _prepare(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    device = None if args.device in (None, "", "auto") else args.device
    result = prepare_volume(
        config,
        args.volume_id,
        mode=args.mode,
        device=device,
        attachment_device=args.attachment_device,
        size_gib=args.size_gib,
        fstab=args.fstab,
    )
    _print(result.to_dict())
    return 0


def _switch(args: argparse.Namespace) -> int:
    result = switch_volume(load_config(args.config), args.volume_id)
    _print(result.to_dict())
    return 0


def _drain(args: argparse.Namespace) -> int:
    status = drain_status(load_config(args.config), args.volume_id)
    if args.json:
        _print(status.to_dict())
        return 0
    state = "drained" if status.drained else f"not drained: {status.reason()}"
    print(
        f"{status.volume_id}  {status.path}  {state}\n"
        f"  verified {status.verified}  complete-unverified {len(status.unverified)}  "
        f"open {len(status.open)}"
    )
    for period in status.open:
        when = time.strftime("%H:%M:%S", time.gmtime(period.closable_at))
        print(f"  open {period.camera_id}/{period.period.key} ({period.frames} frames) at {when}")
    return 0


def _retire(args: argparse.Namespace) -> int:
    result = retire_volume(
        load_config(args.config), args.volume_id, mode=args.mode, fstab=args.fstab
    )
    _print(result.to_dict())
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = list_volumes(load_config(args.config))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        mark = "*" if row["active"] else " "
        print(
            f"{mark} {row['volume_id']}  {row['disk']['used_percent']:5.1f}% used  "
            f"verified {row['verified']}  unverified {len(row['unverified'])}  "
            f"open {len(row['open'])}  {row['path']}"
        )
    return 0
