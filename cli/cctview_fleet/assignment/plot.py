"""``assign --plot``: the cameras on a longitude/latitude map, one colour per node.

A picture shows at a glance that shards are compact and balanced, and where a new node's cameras
came from. matplotlib runs on its Agg backend (no display needed); it is imported only here, and
only when a plot is asked for, because it costs half a second to import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from cctview_agent.cameras import Camera
from cctview_fleet.assignment.planner import Assignment
from cctview_fleet.errors import ConfigError


def check_plot_path(path: Path) -> Path:
    """Refuse a file name matplotlib cannot write, before any work is done."""
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(
            f"--plot {path}: use a .png, .svg or .pdf file name, e.g. --plot assignment.png",
            key="plot",
        )
    return path


def plot_assignment(
    assignment: Assignment, cameras: Mapping[str, Camera], path: Path, *, title: str
) -> Path:
    check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 10), dpi=110)
    palette = pyplot.get_cmap("tab20")
    for index, (node, ids) in enumerate(assignment.shards.items()):
        points = [cameras[cid] for cid in ids if cid in cameras]
        axes.scatter(
            [c.longitude for c in points],
            [c.latitude for c in points],
            s=14,
            color=palette(index % 20),
            label=f"{node} ({len(points)})",
        )
    # Equal distances on the ground look equal: scale longitude by cos(latitude).
    lats = [c.latitude for c in cameras.values()] or [40.7]
    axes.set_aspect(1 / math.cos(math.radians(sum(lats) / len(lats))))
    axes.set_xlabel("longitude")
    axes.set_ylabel("latitude")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small", markerscale=1.5)
    axes.grid(alpha=0.3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise ConfigError(f"cannot write --plot {path}: {exc.strerror or exc}", key="plot") from exc
    finally:
        pyplot.close(figure)
    return path
