"""Pulumi config -> FleetSettings: defaults, and one clear message per bad or missing key."""

from __future__ import annotations

import pytest

from cctview_agent.errors import ConfigError
from cctview_infra.settings import FleetSettings, settings_from_mapping
from tests.infra.mocks import dev_stack_config, project_settings_mapping

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILPR9Qiu/ty8vb0NkwVqOedZOveEps1OKOltAQDyQSIg me@host"
GOOD = {"sshPublicKey": KEY, "sshAllowedCidrs": '["203.0.113.7/32"]'}


def parse(raw: dict[str, str], region: str | None = "us-east-1") -> FleetSettings:
    return settings_from_mapping(raw, stack="dev", region=region)


def test_dev_stack_file_gives_the_documented_fleet() -> None:
    settings = parse(project_settings_mapping(dev_stack_config()))
    assert settings.node_count == 12
    assert settings.instance_type == "t2.micro"
    assert settings.cameras_per_node == 21
    assert settings.ssh_allowed_cidrs == ("203.0.113.7/32",)
    assert settings.data_volume_type == "gp3"
    assert settings.bucket_prefix == "cctview"
    assert settings.ebs_total_gib == 12 * (8 + 8)
    assert settings.ebs_total_gib <= settings.ebs_budget_gib
    assert settings.capacity == 252
    assert settings.fleet_tag == "dev"


def test_minimal_config_takes_defaults() -> None:
    settings = parse(GOOD)
    assert (settings.node_count, settings.instance_type, settings.ssh_user) == (
        12,
        "t2.micro",
        "admin",
    )
    assert settings.bucket_name is None and settings.ami_id is None
    assert settings.agent_period == 3600 and settings.lifecycle_days == 0


def test_cidrs_accept_comma_separated_and_ipv6() -> None:
    settings = parse(GOOD | {"sshAllowedCidrs": "198.51.100.0/24, 2001:db8::/48"})
    assert settings.ssh_allowed_cidrs == ("198.51.100.0/24", "2001:db8::/48")


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        (
            {"sshPublicKey": KEY},
            "us-east-1",
            "config cctview-fleet:sshAllowedCidrs is required (there is no default that opens "
            "SSH to the world); e.g. pulumi config set --path "
            "'sshAllowedCidrs[0]' 203.0.113.7/32",
        ),
        (
            GOOD | {"sshAllowedCidrs": '["0.0.0.0/0"]'},
            "us-east-1",
            "config cctview-fleet:sshAllowedCidrs has '0.0.0.0/0', which opens SSH to the whole "
            "internet; name your own address or your office's range; e.g. pulumi config set "
            "--path 'sshAllowedCidrs[0]' 203.0.113.7/32",
        ),
        (
            GOOD | {"sshAllowedCidrs": "::/0"},
            "us-east-1",
            "config cctview-fleet:sshAllowedCidrs has '::/0', which opens SSH to the whole "
            "internet; name your own address or your office's range; e.g. pulumi config set "
            "--path 'sshAllowedCidrs[0]' 203.0.113.7/32",
        ),
        (
            {"sshAllowedCidrs": "203.0.113.7/32"},
            "us-east-1",
            "config cctview-fleet:sshPublicKey is required (the public key the operator's SSH "
            'uses); e.g. pulumi config set sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"',
        ),
        (
            GOOD,
            None,
            "config aws:region is required; e.g. pulumi config set aws:region us-east-1",
        ),
        (
            GOOD | {"nodecount": "3"},
            "us-east-1",
            "config cctview-fleet:nodecount is not a setting of this program; known settings: ",
        ),
    ],
)
def test_missing_or_unsafe_keys_name_the_key_and_an_example(
    raw: dict[str, str], region: str | None, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw, region)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("nodeCount", "twelve", "must be a whole number, not 'twelve'; e.g. pulumi config set "
                                "nodeCount 12"),
        ("nodeCount", "0", "must be between 1 and 99, not 0"),
        ("instanceType", "t2micro", "must be an EC2 instance type like t2.micro"),
        ("rootVolumeGiB", "4", "must be between 8 and 1024, not 4"),
        ("dataVolumeGiB", "0", "must be between 1 and 16384, not 0"),
        ("dataVolumeType", "io2", "must be one of gp3, gp2, st1, sc1, not 'io2'"),
        ("sshPublicKey", "-----BEGIN OPENSSH PRIVATE KEY-----", "holds a PRIVATE key"),
        ("sshPublicKey", "AAAA nonsense", "is not an OpenSSH public key line"),
        ("sshAllowedCidrs", "203.0.113.7/8", "which is not a network address"),
        ("sshAllowedCidrs", "not-an-ip", "which is not a network address"),
        ("bucketName", "My_Bucket", "must be 3-63 lower-case letters"),
        ("bucketPrefix", "a/b", "must be one path segment"),
        ("lifecycleDays", "-1", "must be between 0 and 36500"),
        ("camerasPerNode", "0", "must be between 1 and 1000"),
        ("amiId", "ubuntu", "must be an AMI id like ami-0123456789abcdef0"),
        ("availabilityZone", "eu-west-1a", "'eu-west-1a' is not in us-east-1"),
        ("agentPeriod", "7", "= 7 must divide an hour"),
        ("sshUser", "Root User", "must be a Unix user name"),
        ("policyEnforcement", '{"t2-family": "sometimes"}', "gives 't2-family' the level"),
        ("policyEnforcement", "advisory", "must be a map of policy name to level"),
    ],
)  # fmt: skip
def test_each_invalid_value_gives_one_line_naming_the_key(
    key: str, value: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(GOOD | {key: value})
    message = str(caught.value)
    assert message.startswith(f"config cctview-fleet:{key} "), message
    assert fragment in message
    assert "e.g. pulumi config set" in message
    assert caught.value.key == key
