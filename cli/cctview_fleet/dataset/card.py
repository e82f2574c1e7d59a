"""The dataset card ``build`` writes: README.md with the Hugging Face YAML header.

The header is what the Hub and ``datasets.load_dataset(<folder>)`` read: ``configs`` points at
the shards, ``dataset_info`` declares the features (the ``jpg`` image and the ``json`` metadata
struct, plus WebDataset's ``__key__`` and ``__url__``) and the split's size. The body says where
the data came from and what may be done with it: the frames are NYC DOT traffic-camera images,
whose terms of use are the city's, not this tool's, hence ``license: other`` and a note.
"""

from __future__ import annotations

from cctview_agent.samples import iso_time

METADATA_FEATURES: tuple[tuple[str, str], ...] = (
    ("camera_id", "string"),
    ("camera_name", "string"),
    ("latitude", "float64"),
    ("longitude", "float64"),
    ("time", "string"),
    ("ts_ms", "int64"),
    ("node", "string"),
    ("period", "string"),
    ("digest", "string"),
)


def card(
    *,
    shards: list[str],
    samples: int,
    size: int,
    cameras: int,
    first_ms: int,
    last_ms: int,
    source: str,
) -> str:
    """The README.md text."""
    struct = "\n".join(
        f"    - name: {name}\n      dtype: {dtype}" for name, dtype in METADATA_FEATURES
    )
    span = f"{iso_time(first_ms)} to {iso_time(last_ms)}" if samples else "no samples"
    return f"""---
license: other
license_name: nyc-dot-traffic-camera-images
license_link: https://webcams.nyctmc.org/
pretty_name: NYC DOT traffic camera frames (cctview-fleet)
task_categories:
- image-classification
- object-detection
tags:
- webdataset
- traffic-cameras
- cctview-fleet
configs:
- config_name: default
  data_files:
  - split: train
    path: shard-*.tar
dataset_info:
  features:
  - name: __key__
    dtype: string
  - name: __url__
    dtype: string
  - name: jpg
    dtype: image
  - name: json
    struct:
{struct}
  splits:
  - name: train
    num_bytes: {size}
    num_examples: {samples}
  download_size: {size}
  dataset_size: {size}
---

# NYC DOT traffic camera frames

{samples} frames from {cameras} cameras, {span} (UTC), in {len(shards)} WebDataset shards
(`shard-*.tar`, {size} bytes). Each sample is a JPEG (`jpg`) and its metadata (`json`: camera id,
name, latitude, longitude, UTC time as ISO text and Unix ms, the node that stored it, its period,
and its BLAKE2b-128 digest). `index.parquet` lists every sample with its shard and byte offsets.

Source: `{source}`, collected by cctview-fleet from the public NYC DOT traffic camera feeds and
mixed across cameras and hours by `cctview-fleet dataset build`.

License note: the images are the City of New York's (NYC DOT). Their use is governed by the
city's terms for the traffic camera feeds, not by this tool's license; check those terms before
you publish or redistribute this data set. Frames may show people and vehicles in public space.
"""
