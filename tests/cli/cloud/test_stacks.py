"""Stacks made from `pulumi up`'s outputs (:func:`cctview_fleet.cloud.stacks.stack_from_outputs`).

The program's real outputs go through it in tests/infra/test_program.py; here its rules alone.
"""

from __future__ import annotations

import pytest

from cctview_fleet.cloud.stacks import Stack, stack_from_outputs
from cctview_fleet.errors import ConfigError


def test_outputs_without_a_bucket_are_refused_with_the_commands_to_run() -> None:
    with pytest.raises(ConfigError) as caught:
        stack_from_outputs("prod", {"region": "eu-west-1"}, ssh_key="k", known_hosts="h")
    assert str(caught.value) == (
        "the stack outputs have no 'bucket'; run `pulumi up` first, then "
        "`pulumi stack output --json | cctview-fleet stack import prod --from -`"
    )


def test_missing_outputs_take_the_programs_defaults() -> None:
    stack = stack_from_outputs("dev", {"bucket": "b"}, ssh_key="k", known_hosts="h")
    assert stack == Stack(
        name="dev",
        region="us-east-1",
        bucket="b",
        prefix="cctview",
        ssh_user="admin",
        ssh_key="k",
        known_hosts="h",
    )


def test_the_ssh_user_is_read_under_either_spelling() -> None:
    outputs = {"bucket": "b", "ssh_user": "debian", "prefix": "p", "region": "eu-west-1"}
    stack = stack_from_outputs("dev", outputs, ssh_key="k", known_hosts="h")
    assert (stack.ssh_user, stack.prefix, stack.region) == ("debian", "p", "eu-west-1")
    camel = stack_from_outputs("dev", {**outputs, "sshUser": "admin2"}, ssh_key="", known_hosts="")
    assert camel.ssh_user == "admin2"  # the program's own spelling wins
