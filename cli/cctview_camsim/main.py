"""``cctview-camsim``: a stand-in for webcams.nyctmc.org on loopback, for tests, benchmarks, demo.

Parses flags, builds the catalog and the simulator, prints where it listens, and serves until
SIGTERM or SIGINT (exit 0). Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cctview_agent.errors import CctviewError, ConfigError
from cctview_camsim.catalog import DEFAULT_CAMERA_COUNT, load_catalog, synthetic_cameras
from cctview_camsim.faults import KIND_HELP, parse_fault_spec
from cctview_camsim.profiles import ProfileName, service_profile

if TYPE_CHECKING:
    from cctview_camsim.server import Simulator

# aiohttp, Pillow and cryptography (server, frames, tls) are imported only once the flags are
# good: --help and a bad flag answer in a fraction of the start-up time.

PROG = "cctview-camsim"
DEFAULT_HANG_LIMIT = 60.0

FAULT_HELP = f"""\
faults (--faults SPEC, or POST /_sim/faults {{"spec": SPEC}} at run time):
  SPEC is comma-separated KIND=TARGET items. KIND is one of:
    {KIND_HELP}
  TARGET is a fraction of the cameras (offline=0.05), 'all', or camera ids joined by '+'
  (hang=ID1+ID2). Ids are assigned first, then fractions in order, each camera at most one
  fault; which cameras a fraction picks is fixed by --seed.
  offline: the same "This camera is being serviced" PNG for every camera, labelled image/jpeg.
  404. 5xx: 500/502/503 in turn. 429: one frame per --rate-limit s, else 429 + Retry-After.
  403: forbidden, as a blocked client sees it.
  hang: no response until the client gives up (504 after --hang-limit s). drip: the frame at
  ~512 B/s. truncate: Content-Length larger than the body, or a JPEG cut before EOI (in turn).
  html: 200 text/html error page. reset: TCP RST mid-body. oversize: a 5 MiB body.
  frozen: the picture stops, its burned-in clock keeps ticking (bytes change, picture not).

profiles (--profile): real (default) reproduces webcams.nyctmc.org: a new picture every ~1-4 s
  (some cameras ~15 s), irregular intervals and repeats, 352x240 13-24 KB frames (720x480
  17-38 KB for C1-... highway names), 150-470 ms latency. easy: every camera every --refresh s,
  ~20 KB frames, no latency: for tests that are not about the service's habits.

endpoints: GET /api/cameras[/], GET /api/cameras/ID/image, GET /_sim/stats,
  GET /_sim/served/ID, GET|POST /_sim/faults, POST /_sim/catalog {{"add": N, "remove": [ids]}}.
  example: {PROG} --port 0 --https --cameras 250 --faults offline=0.05,frozen=0.02
  example: {PROG} --port 0 --profile easy --refresh 1 --cameras 10
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number of seconds above 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{text} must be between 1 and 100000")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 (any free port) and 65535")
    return value


def _latency(text: str) -> tuple[float, float]:
    low_text, sep, high_text = text.partition("-")
    try:
        low, high = float(low_text), float(high_text if sep else low_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a range of milliseconds like 150-470"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)) or not 0 <= low <= high <= 60_000:
        raise argparse.ArgumentTypeError(f"{text} must be LOW-HIGH ms with 0 <= LOW <= HIGH")
    return low / 1000, high / 1000


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Serve NYC DOT-style traffic cameras (webcams.nyctmc.org API) on this machine.",
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port; 0 picks a free one (0)")
    parser.add_argument("--https", action="store_true", help="serve HTTPS, self-signed cert")
    parser.add_argument(
        "--catalog", type=Path, help="serve the cameras of this API response instead"
    )
    parser.add_argument(
        "--cameras",
        type=_count,
        help=f"synthetic cameras ({DEFAULT_CAMERA_COUNT}); with --catalog: keep the first N",
    )
    parser.add_argument(
        "--profile",
        choices=[name.value for name in ProfileName],
        default=ProfileName.REAL.value,
        help="real: like webcams.nyctmc.org (default); easy: fast fixed grid for tests",
    )
    parser.add_argument(
        "--refresh",
        type=_positive_seconds,
        help="with --profile easy: seconds per new frame (2)",
    )
    parser.add_argument(
        "--latency",
        type=_latency,
        metavar="MS-MS",
        help="per-request latency range in ms (real: 150-470, easy: 0)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_positive_seconds,
        default=5.0,
        help="429 fault: seconds between frames a camera allows (5)",
    )
    parser.add_argument("--faults", default="", metavar="SPEC", help="faults, see below")
    parser.add_argument("--seed", type=int, default=0, help="catalog and fault choice (0)")
    parser.add_argument(
        "--cert-dir",
        type=Path,
        help="where --https writes cert.pem/key.pem (kept; reused if present); "
        "default a temporary folder removed at exit",
    )
    parser.add_argument(
        "--hang-limit",
        type=_positive_seconds,
        default=DEFAULT_HANG_LIMIT,
        help="seconds after which hang answers 504 and drip closes (60)",
    )
    return parser


def _certificate(cert_dir: Path) -> tuple[Path, Path]:
    from cctview_camsim.tls import CERT_NAME, KEY_NAME, make_certificate

    cert_path, key_path = cert_dir / CERT_NAME, cert_dir / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    try:
        return make_certificate(cert_dir)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the TLS certificate into {cert_dir}: {exc.strerror or exc}; "
            "give --cert-dir a writable folder",
            key="cert-dir",
        ) from exc


async def _serve(args: argparse.Namespace, sim: Simulator, cert_dir: Path | None) -> None:
    from cctview_camsim.server import run
    from cctview_camsim.tls import server_context

    ssl_context = None
    cert_path = None
    if cert_dir is not None:
        cert_path, key_path = _certificate(cert_dir)
        ssl_context = server_context(cert_path, key_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def ready(url: str) -> None:
        print(f"{PROG} listening on {url}", flush=True)
        if cert_path is not None:
            print(f"{PROG} certificate {cert_path}", flush=True)

    await run(sim, host=args.host, port=args.port, ssl_context=ssl_context, stop=stop, ready=ready)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    profile_name = ProfileName(args.profile)
    if args.refresh is not None and profile_name is not ProfileName.EASY:
        parser.error("--refresh sets the easy profile's fixed grid; add --profile easy")
    from cctview_camsim.server import Simulator

    temporary: Path | None = None
    try:
        spec = parse_fault_spec(args.faults)
        if args.catalog is not None:
            cameras = load_catalog(args.catalog)
            if args.cameras is not None:
                cameras = cameras[: args.cameras]
        else:
            cameras = synthetic_cameras(args.cameras or DEFAULT_CAMERA_COUNT, args.seed)
        profile = service_profile(profile_name, refresh=args.refresh or 2.0, latency=args.latency)
        sim = Simulator(
            cameras,
            seed=args.seed,
            faults=spec,
            hang_limit=args.hang_limit,
            profile=profile,
            rate_limit_s=args.rate_limit,
        )
        cert_dir: Path | None = None
        if args.https:
            cert_dir = args.cert_dir
            if cert_dir is None:
                cert_dir = temporary = Path(tempfile.mkdtemp(prefix="cctview-camsim-"))
        asyncio.run(_serve(args, sim, cert_dir))
    except CctviewError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # address in use
        print(f"{PROG}: error: {error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the server took over SIGINT
        return 130
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(temporary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
