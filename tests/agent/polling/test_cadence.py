"""The adaptive schedule's parts without a network: cadence learning against the simulator's own
picture timelines, the node's request budget, Retry-After parsing, picture comparison."""

from __future__ import annotations

import asyncio
import random
import time

from cctview_agent.polling.budget import FORBIDDEN_SHARE, RequestBudget
from cctview_agent.polling.cadence import Cadence, Mode
from cctview_agent.polling.fetch import retry_after_seconds
from cctview_agent.polling.pictures import can_compare_pictures, is_png, same_picture, thumbnail
from cctview_camsim.catalog import synthetic_cameras
from cctview_camsim.clocks import FrameClock
from cctview_camsim.frames import FrameRenderer
from cctview_camsim.placeholder import offline_placeholder
from tests.fixtures.cadencesim import poll_one, real_cameras


def _poll_like_the_agent(cameras: int, seconds: float) -> tuple[int, int, int, int]:
    """Every camera of the real profile polled as the agent does. Returns (seen, missed,
    requests, tracking cameras) counted after each camera finished learning."""
    real = real_cameras(cameras)
    rng = random.Random(5)
    seen_total = missed_total = requests_total = tracking = 0
    for camera_id in real.ids:
        run = poll_one(camera_id, real.clock, rng, seconds)
        if len(run.seen) < 2:
            continue
        tracking += 1
        span = max(run.seen) - min(run.seen) + 1
        seen_total += len(run.seen)
        missed_total += span - len(run.seen)
        requests_total += run.requests
    return seen_total, missed_total, requests_total, tracking


def test_adaptive_cadence_captures_99_percent_with_at_most_1_3_requests_a_picture():
    seen, missed, requests, tracking = _poll_like_the_agent(cameras=120, seconds=900)
    assert tracking >= 110, "cameras learned their cadence within 15 minutes"
    captured = seen / (seen + missed)
    assert captured >= 0.99, captured
    assert requests / seen <= 1.3, requests / seen


def test_a_fast_camera_learns_within_twelve_of_its_intervals_and_a_busy_cpu_does_not_slow_it():
    """Learning must not start over: skipping ahead from the late edge of the last change's
    window jumped over the next change of a 1-2.5 s camera (its window is up to 0.6 s wide), which
    cleared the samples; such cameras took ~4 minutes, and twice that with a busy CPU
    (bench/cadence_bench.py)."""
    for overhead in (0.0, 0.2):
        real = real_cameras(120)
        rng = random.Random(5)
        took = {}
        for camera_id, period in real.periods.items():
            if period < 5:
                took[camera_id] = poll_one(camera_id, real.clock, rng, 150, overhead).learned_at
        assert None not in took.values(), (overhead, took)
        ratios = sorted(t / real.periods[c] for c, t in took.items() if t is not None)
        # 12 samples, plus the intervals lost to the odd imprecise window or held picture.
        assert ratios[len(ratios) // 2] <= 20, (overhead, ratios)
        assert ratios[-1] <= 60, (overhead, ratios)


def test_cadence_learns_a_fixed_period_and_tracks_just_under_it():
    cadence = Cadence(learn_step=0.25)
    clock = FrameClock(2.0)
    at, last = 0.1, None
    while cadence.mode is Mode.LEARNING and at < 120:
        version = clock.version_at("cam", at)
        cadence.observe(at, changed=last is not None and version != last)
        last = version
        at = max(at + 0.05, cadence.next_poll(at))
    assert cadence.mode is Mode.TRACKING
    assert cadence.period is not None and abs(cadence.period - 2.0) < 0.1
    assert 1.7 <= cadence.spacing < 2.0


def test_budget_never_grants_more_than_its_rate_in_any_second():
    async def burst() -> tuple[list[float], RequestBudget]:
        budget = RequestBudget(10)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def one() -> None:
            await budget.acquire()
            times.append(loop.time())

        await asyncio.gather(*(one() for _ in range(35)))
        return times, budget

    times, budget = asyncio.run(burst())
    assert len(times) == 35 and budget.waited >= 25 and budget.peak == 10
    for index, start in enumerate(times):
        in_window = [t for t in times[index:] if t < start + 1.0 - 1e-6]
        assert len(in_window) <= 10
    assert times[-1] - times[0] >= 3.0 - 0.05  # 35 requests at 10/s take three seconds


def test_a_403_slows_the_whole_node():
    budget = RequestBudget(20)
    assert budget.limit(100.0) == 20
    budget.forbidden(100.0)
    assert budget.limit(100.5) == int(20 * FORBIDDEN_SHARE)
    assert budget.slowed(150.0) and budget.limit(1000.0) == 20


def test_retry_after_is_read_as_seconds_or_a_date():
    assert retry_after_seconds("7") == 7.0
    now = time.time()
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert 28 <= (retry_after_seconds(date, now) or 0) <= 31
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


def test_offline_card_is_recognised_by_its_png_signature():
    assert is_png(offline_placeholder())
    assert thumbnail(offline_placeholder()) is None  # not a JPEG frame: never compared


def test_a_ticking_clock_is_the_same_picture_and_traffic_is_not():
    assert can_compare_pictures(), "libturbojpeg0 is installed by make setup"
    renderer = FrameRenderer(FrameClock(1.0))
    for camera in synthetic_cameras(20, 9):
        base = thumbnail(renderer.render(camera, 100).data)
        ticked = thumbnail(renderer.render(camera, 100, stamp_version=107).data)
        moved = thumbnail(renderer.render(camera, 101).data)
        assert base is not None and ticked is not None and moved is not None
        assert same_picture(base, ticked), camera.name
        assert not same_picture(base, moved), camera.name


def test_changed_blocks_matches_a_pixel_by_pixel_comparison():
    from cctview_agent.polling.pictures import CHANGED_LEVEL, changed_blocks

    rng = random.Random(3)
    for count in (1, 7, 1320, 5400):
        a = bytes(rng.randrange(256) for _ in range(count))
        b = bytes(rng.randrange(256) for _ in range(count))
        expected = bytes(
            0x80 if abs(x - y) > CHANGED_LEVEL else 0 for x, y in zip(a, b, strict=True)
        )
        assert changed_blocks(a, b) == expected
    edges = changed_blocks(bytes([0, 255, 12, 13, 100, 100]), bytes([255, 0, 0, 0, 112, 113]))
    assert edges == bytes([0x80, 0x80, 0, 0x80, 0, 0x80])
