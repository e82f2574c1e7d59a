"""Fault specs: parsing, errors a user can read, and the seeded choice of cameras."""

from __future__ import annotations

import pytest

from cctview_agent.errors import ConfigError
from cctview_camsim.faults import FaultKind, FaultRule, assign_faults, parse_fault_spec

IDS = [f"cam-{index:03d}" for index in range(100)]


def test_parse_every_target_form():
    spec = parse_fault_spec(" offline=0.05, hang=all ,404=cam-001+cam-002,5XX=1")
    assert spec.rules == (
        FaultRule(FaultKind.OFFLINE, fraction=0.05),
        FaultRule(FaultKind.HANG, everyone=True),
        FaultRule(FaultKind.NOT_FOUND, ids=("cam-001", "cam-002")),
        FaultRule(FaultKind.SERVER_ERROR, fraction=1.0),
    )
    assert parse_fault_spec("").rules == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("melt=0.1", "unknown fault kind 'melt'"),
        ("offline", "'offline' has no '=TARGET'"),
        ("offline=", "'offline=' has no '=TARGET'"),
        ("offline=1.5", "fraction 1.5 is not between 0 and 1"),
        ("offline=-0.1", "fraction -0.1 is not between 0 and 1"),
        ("404=a++b", "has an empty camera id"),
    ],
)
def test_bad_specs_say_what_is_wrong(text, message):
    with pytest.raises(ConfigError) as info:
        parse_fault_spec(text)
    assert message in str(info.value)
    assert "KIND=TARGET" in str(info.value)  # and what a good one looks like
    assert info.value.exit_code == 2


def test_fractions_are_disjoint_exact_and_seeded():
    spec = parse_fault_spec("offline=0.1,5xx=0.2,frozen=0.05")
    first = assign_faults(spec, IDS, seed=1)
    counts = {kind: list(first.values()).count(kind) for kind in set(first.values())}
    assert counts == {FaultKind.OFFLINE: 10, FaultKind.SERVER_ERROR: 20, FaultKind.FROZEN: 5}
    assert assign_faults(spec, IDS, seed=1) == first
    assert assign_faults(spec, list(reversed(IDS)), seed=1) == first  # order does not matter
    assert assign_faults(spec, IDS, seed=2) != first


def test_ids_win_over_fractions_and_all_takes_the_rest():
    spec = parse_fault_spec("offline=all,hang=cam-007")
    assignment = assign_faults(spec, IDS, seed=0)
    assert assignment["cam-007"] is FaultKind.HANG
    assert sum(kind is FaultKind.OFFLINE for kind in assignment.values()) == 99


def test_a_small_fraction_still_picks_one_camera():
    assignment = assign_faults(parse_fault_spec("reset=0.01"), IDS[:5], seed=0)
    assert list(assignment.values()) == [FaultKind.RESET]
    assert assign_faults(parse_fault_spec("reset=0"), IDS[:5], seed=0) == {}


def test_unknown_id_is_an_error():
    with pytest.raises(ConfigError, match="no camera with id 'cam-999'"):
        assign_faults(parse_fault_spec("hang=cam-999"), IDS, seed=0)
