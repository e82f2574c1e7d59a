"""docs/dataset.md's recipes, run as written with the real loaders (webdataset, Hugging Face
`datasets`, s3fs) against moto, on periods uploaded by the real sync.

The loaders live in `.venv-dataset` (`make dataset-setup`, which `make test` runs): s3fs pins
its own botocore. Without that venv these tests skip, except in CI (``CI=true``) or with
CCTVIEW_REQUIRE_DATASET_VENV=1, where they fail. The shell blocks run in one bash (as a person
types them in one terminal); each Python block then runs with `.venv-dataset/bin/python` in the
environment the shell left. The PyTorch block runs only where that venv has torch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cctview_agent.periods import Period
from cctview_agent.sync.options import SyncOptions
from cctview_agent.sync.run import run_sync
from cctview_fleet.cloud.stacks import HOME_ENV, Stack, save_stack
from tests.fixtures.s3 import MotoServer, write_period

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "dataset.md"
LOADERS = REPO / ".venv-dataset" / "bin" / "python"
REQUIRE_ENV = "CCTVIEW_REQUIRE_DATASET_VENV"
CAMERAS = {
    "0bcfbc92-d455-4f62-846a-32afbefa3b4b": ("7 Ave @ 42 St", (40.7580, -73.9855)),
    "53a1d1b9-b9c7-4bd1-b2a6-7ea42bfaa0ab": ("Flatbush Ave @ Atlantic Ave", (40.6840, -73.9777)),
}
PERIODS = (Period(1743771600, 60), Period(1743771660, 60))  # 2025-04-04 13:00 and 13:01 UTC
FENCE = re.compile(r"^```(sh|python|python torch)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(kind: str) -> list[str]:
    return [code for info, code in FENCE.findall(DOC.read_text()) if info == kind]


@pytest.fixture(scope="module")
def loaders() -> Path:
    if not LOADERS.exists():
        if os.environ.get("CI") == "true" or os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{LOADERS} is missing; `make dataset-setup` makes it")
        pytest.skip(f"{LOADERS} is missing; run `make dataset-setup`")
    return LOADERS


@pytest.fixture(scope="module")
def shell_env(
    loaders: Path, moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """A bucket with two cameras x two periods synced, the stack `local` pointing at it, and the
    environment after the doc's shell blocks ran in ``work``."""
    root = tmp_path_factory.mktemp("recipes")
    bucket = f"test-rcp-{uuid.uuid4().hex[:12]}"
    moto_server.client().create_bucket(Bucket=bucket)
    data = root / "node"
    for camera, (name, position) in CAMERAS.items():
        for period in PERIODS:
            write_period(
                data, camera, period, 4, step_ms=10_000, camera_name=name, position=position
            )
    env = {
        **os.environ,
        HOME_ENV: str(root / "home"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
    }
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        assert (
            run_sync([data], SyncOptions(bucket=bucket, prefix="cctview", node="node-01")).failed
            == 0
        )
        save_stack(
            Stack(
                name="local",
                bucket=bucket,
                prefix="cctview",
                region="us-east-1",
                endpoint_url=moto_server.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    work = root / "work"
    work.mkdir()
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)  # the doc's shell sets them
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["HF_HOME"] = str(root / "hf")
    script = "set -euo pipefail\n" + "\n".join(blocks("sh")) + '\nenv -0 > "$RECIPE_ENV"\n'
    env["RECIPE_ENV"] = str(root / "env.bin")
    done = subprocess.run(
        ["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pairs = (root / "env.bin").read_text().split("\0")
    after = dict(p.split("=", 1) for p in pairs if "=" in p)
    return work, after


def run_python(code: str, work: Path, env: dict[str, str], loaders: Path) -> str:
    done = subprocess.run(
        [str(loaders), "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"recipe failed:\n{code}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_doc_has_the_recipes() -> None:
    assert (
        len(blocks("sh")) == 1 and len(blocks("python")) == 3 and len(blocks("python torch")) == 1
    )


def test_webdataset_reads_the_shards_over_presigned_urls(
    shell_env: tuple[Path, dict[str, str]], loaders: Path
) -> None:
    work, env = shell_env
    urls = (work / "shards.txt").read_text().split()
    assert len(urls) == len(CAMERAS) * len(PERIODS) and all(u.startswith("http") for u in urls)
    out = run_python(blocks("python")[0], work, env, loaders)
    key, size = out.split(" (")[0], out.split(" (")[1].split(")")[0]
    camera = key.split("/")[0]
    assert camera in CAMERAS and size == "180, 135", out  # jpg decoded to an image
    name, (latitude, _longitude) = CAMERAS[camera]
    assert f"{name} 2025-04-04T13:0" in out and out.rstrip().endswith(str(latitude)), out


def test_datasets_loads_a_folder_glob_with_metadata_columns(
    shell_env: tuple[Path, dict[str, str]], loaders: Path
) -> None:
    work, env = shell_env
    out = run_python(blocks("python")[1], work, env, loaders)
    assert "num_rows: 16" in out, out  # 2 cameras x 2 periods x 4 frames, no manifest read
    assert "features: ['jpg', 'json', '__key__', '__url__']" in out, out
    key, _width, _height, camera, time = out.strip().splitlines()[-1].split()
    assert camera in CAMERAS and key.startswith(f"{camera}/") and time.startswith("2025-04-04T13:0")


def test_build_output_loads_in_datasets_and_webdataset(
    shell_env: tuple[Path, dict[str, str]], loaders: Path
) -> None:
    work, env = shell_env
    out = run_python(blocks("python")[2], work, env, loaders)
    lines = out.strip().splitlines()
    assert lines[0].startswith("16 ") and "camera_name" in lines[0], out
    assert lines[-1] == "16 samples", out


def test_pytorch_dataloader_recipe(shell_env: tuple[Path, dict[str, str]], loaders: Path) -> None:
    work, env = shell_env
    probe = subprocess.run([str(loaders), "-c", "import torch"], capture_output=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip("no torch in .venv-dataset: no CPU wheel for `make dataset-setup`")
    out = run_python(blocks("python torch")[0], work, env, loaders)
    assert out.startswith("torch.Size([8, 3, 135, 180])"), out
