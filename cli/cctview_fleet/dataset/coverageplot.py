"""`dataset coverage --plot`: samples per camera and UTC hour as a heat map.

Where a table of thousands of camera-hours is unreadable, a picture shows at once which cameras
went dark, which hours a node missed, and whether daylight hours dominate. Drawn from the selected
shards' sample counts (the index); matplotlib on its Agg backend, imported only here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from cctview_fleet.assignment.plot import check_plot_path
from cctview_fleet.dataset.shardselect import SelectedShard


def coverage_counts(shards: Iterable[SelectedShard]) -> Counter[tuple[str, str]]:
    """Samples per (camera id, ``YYYY-MM-DD HH``) of the selected shards."""
    counts: Counter[tuple[str, str]] = Counter()
    for shard in shards:
        counts[(shard.camera_id, f"{shard.date} {shard.hour:02d}")] += shard.samples
    return counts


def plot_coverage(counts: Counter[tuple[str, str]], path: Path, *, title: str) -> Path:
    """Write the heat map (cameras down, hours across) to ``path`` (.png, .svg or .pdf)."""
    check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    cameras = sorted({camera for camera, _hour in counts})
    hours = sorted({hour for _camera, hour in counts})
    grid = [[counts.get((camera, hour), 0) for hour in hours] for camera in cameras]
    width = min(24.0, 3 + 0.25 * len(hours))
    height = min(30.0, 2 + 0.22 * len(cameras))
    figure, axes = pyplot.subplots(figsize=(width, height), dpi=100)
    image = axes.imshow(grid or [[0]], aspect="auto", cmap="viridis", interpolation="nearest")
    axes.set_xticks(range(len(hours)), hours, rotation=90, fontsize=7)
    axes.set_yticks(range(len(cameras)), [c[:8] for c in cameras], fontsize=7)
    axes.set_xlabel("UTC hour")
    axes.set_ylabel("camera (id prefix)")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="samples")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot.close(figure)
    return path
