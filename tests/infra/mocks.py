"""Pulumi unit-test mocks for the infra tests: no Pulumi CLI, no AWS.

:class:`FleetMocks` answers resource registrations and invokes by type token (as in
pulumi/examples testing-unit-py) and records every registration, so tests count and inspect
what the program declared. :func:`mocked_pulumi` installs the mocks for one test and removes
them afterwards: ``set_mocks`` is process-global, and pytest runs every test module in one
process, so nothing may leak into the next test (the root stack resource, its transformations
and the config are all reset).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import settings as runtime_settings

from cctview_agent.fleetconstants import DEFAULT_PRICES
from cctview_infra import policies
from cctview_infra.agentpackage import AgentWheel
from cctview_infra.program import declare_fleet
from cctview_infra.settings import FleetSettings, settings_from_mapping

REPO = Path(__file__).resolve().parents[2]
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_VPC = "vpc-0def000000000001"


@dataclass(frozen=True)
class DeclaredResource(policies.DeclaredResource):
    """A policy's view of a resource plus the lifecycle options the tests check."""

    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False
    depends_on: tuple[str, ...] = ()  # names of the resources it waits for


PROJECT = "cctview-fleet"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class FleetMocks(pulumi.runtime.Mocks):
    """Registrations get plausible computed outputs; invokes return canned AWS answers."""

    # Data volumes the EC2 API "has": (volume id, node, generation).
    existing_volumes: list[tuple[str, str, int]] = field(default_factory=list)
    registered: list[Registered] = field(default_factory=list)
    # Every resource as the program declared it (snake_case inputs plus protect/retain flags),
    # recorded by a stack transformation: what the policies see.
    declared: list[DeclaredResource] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Instances the EC2 API "has": (instance id, node, ami, cctview:spec tag).
    existing_instances: list[tuple[str, str, str, str]] = field(default_factory=list)
    # More tags those instances carry (instance id -> tags): e.g. what `upgrade` set.
    instance_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    # The account's network: the default VPC (None: the account has none), its subnets as
    # (subnet id, vpc id, zone, default for the zone), and the zones offering the instance type.
    default_vpc: str | None = DEFAULT_VPC
    subnets: list[tuple[str, str, str, bool]] = field(
        default_factory=lambda: [
            (f"subnet-0def00000000000{zone[-1]}", DEFAULT_VPC, zone, True)
            for zone in ("us-east-1a", "us-east-1b", "us-east-1c")
        ]
    )
    offered_zones: list[str] = field(
        default_factory=lambda: ["us-east-1b", "us-east-1a", "us-east-1c"]
    )

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        index = len(self.registered)
        resource_id = f"{args.name}-id"
        if args.typ == "aws:ec2/instance:Instance":
            resource_id = f"i-{index:017x}"
            outputs |= {
                "publicIp": f"198.51.100.{index % 250 + 1}",
                "publicDns": f"ec2-198-51-100-{index % 250 + 1}.compute-1.amazonaws.com",
                "availabilityZone": args.inputs.get("availabilityZone", "us-east-1a"),
            }
        elif args.typ == "aws:ebs/volume:Volume":
            resource_id = f"vol-{index:017x}"
        elif args.typ == "aws:s3/bucket:Bucket":
            name = args.inputs.get("bucket") or f"{args.name}-abc1234"
            resource_id = name
            outputs |= {"bucket": name, "arn": f"arn:aws:s3:::{name}"}
        elif args.typ == "aws:ec2/keyPair:KeyPair":
            outputs |= {"keyName": f"{args.name}-1234"}
        elif args.typ in ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"):
            outputs |= {"name": f"{args.name}-5678", "arn": f"arn:aws:iam::123:role/{args.name}"}
        elif args.typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{index:017x}"
        self.registered.append(Registered(args.typ, args.name, dict(args.inputs), outputs))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0debian12000000001", "name": "debian-12-amd64-20250401"}
        if args.token == "aws:ec2/getInstances:getInstances":
            return {"id": "us-east-1", "ids": [i[0] for i in self.existing_instances],
                    "privateIps": [], "publicIps": [], "ipv6Addresses": []}  # fmt: skip
        if args.token == "aws:ec2/getInstance:getInstance":
            for instance_id, node, ami, spec in self.existing_instances:
                if instance_id == args.args["instanceId"]:
                    tags = {"cctview:fleet": "dev", "cctview:node": node}
                    if spec:
                        tags["cctview:spec"] = spec
                    tags |= self.instance_tags.get(instance_id, {})
                    return {"id": instance_id, "ami": ami, "tags": tags}
            raise AssertionError(f"the program asked for unknown instance {args.args}")
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            assert args.args["locationType"] == "availability-zone", args.args
            return {"id": "us-east-1", "locations": self.offered_zones,
                    "instanceTypes": ["t2.micro"] * len(self.offered_zones),
                    "locationTypes": ["availability-zone"] * len(self.offered_zones)}  # fmt: skip
        if args.token == "aws:ec2/getVpcs:getVpcs":
            assert args.args["filters"] == [{"name": "is-default", "values": ["true"]}]
            return {"id": "us-east-1", "ids": [self.default_vpc] if self.default_vpc else []}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            for subnet_id, vpc_id, zone, _ in self.subnets:
                if subnet_id == args.args["id"]:
                    return {"id": subnet_id, "vpcId": vpc_id, "availabilityZone": zone}
            raise AssertionError(f"the program asked for unknown subnet {args.args['id']}")
        if args.token == "aws:ec2/getSubnets:getSubnets":
            wanted = {f["name"]: f["values"][0] for f in args.args["filters"]}
            ids = [
                subnet_id
                for subnet_id, vpc_id, zone, default in self.subnets
                if vpc_id == wanted["vpc-id"] and zone == wanted["availability-zone"]
                and (default or "default-for-az" not in wanted)
            ]  # fmt: skip
            return {"id": "us-east-1", "ids": ids}
        if args.token == "aws:ebs/getEbsVolumes:getEbsVolumes":
            return {"ids": [v[0] for v in self.existing_volumes], "id": "us-east-1"}
        if args.token == "aws:ebs/getVolume:getVolume":
            wanted = args.args["filters"][0]["values"][0]
            for volume_id, node, generation in self.existing_volumes:
                if volume_id == wanted:
                    return {
                        "id": volume_id,
                        "volumeId": volume_id,
                        "availabilityZone": "us-east-1c",
                        "tags": {
                            "cctview:fleet": "dev",
                            "cctview:node": node,
                            "cctview:generation": str(generation),
                        },
                    }
            raise AssertionError(f"the program asked for unknown volume {wanted}")
        raise AssertionError(f"unexpected invoke {args.token}")

    def record(self, args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts or pulumi.ResourceOptions()
        self.declared.append(
            DeclaredResource(
                type=args.type_,
                name=args.name,
                props=args.props or {},
                parent=getattr(opts.parent, "_name", None),
                protect=bool(opts.protect),
                retain_on_delete=bool(opts.retain_on_delete),
                ignore_changes=tuple(opts.ignore_changes or ()),
                delete_before_replace=bool(opts.delete_before_replace),
                depends_on=tuple(
                    getattr(r, "_name", "?")
                    for r in (opts.depends_on or [])  # type: ignore[union-attr]
                ),
            )
        )

    def declared_of_type(self, token: str) -> list[DeclaredResource]:
        return [r for r in self.declared if r.type == token]

    def of_type(self, token: str) -> list[Registered]:
        """Resources of one type sorted by name: Pulumi registers concurrently, in no set order."""
        return sorted((r for r in self.registered if r.type == token), key=lambda r: r.name)

    def named(self, name: str) -> Registered:
        matches = [r for r in self.registered if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
        return matches[0]


def dev_stack_config() -> dict[str, str]:
    """Pulumi.dev.yaml's config as the engine passes it: strings, structured values as JSON."""
    raw = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()
    }


def project_settings_mapping(config: Mapping[str, str]) -> dict[str, str]:
    """The ``cctview-fleet:`` keys of ``config`` without their namespace."""
    prefix = f"{PROJECT}:"
    return {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}


def _reset() -> None:
    runtime_settings.ROOT.set(None)
    runtime_config.set_all_config({})


@contextlib.contextmanager
def mocked_pulumi(
    config: Mapping[str, str] | None = None,
    *,
    stack: str = "dev",
    mocks: FleetMocks | None = None,
    preview: bool = False,
) -> Iterator[FleetMocks]:
    """Pulumi mocks plus ``config`` for the duration of a ``with`` block."""
    mocks = mocks or FleetMocks()
    # Pulumi's runtime uses the thread's current event loop; a test that ran asyncio.run()
    # before this one left none (3.11 only makes one implicitly if none was ever set).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _reset()
    try:
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview)
        runtime_config.set_all_config(dict(config or {}))
        pulumi.runtime.register_stack_transformation(mocks.record)
        yield mocks
    finally:
        _reset()
        asyncio.set_event_loop(None)
        loop.close()


def run_main_program() -> None:
    """Run infra/__main__.py as Pulumi would, inside the mocks (waits for every output)."""

    @pulumi.runtime.test
    def program() -> None:
        runpy.run_path(str(REPO / "infra" / "__main__.py"), run_name="__main__")

    program()


def dev_settings(**changes: Any) -> FleetSettings:
    settings = settings_from_mapping(
        project_settings_mapping(dev_stack_config()), stack="dev", region="us-east-1"
    )
    return replace(settings, **changes)


def declare(
    settings: FleetSettings,
    wheel: AgentWheel,
    unit: str,
    existing_volumes: list[tuple[str, str, int]] | None = None,
    *,
    mocks: FleetMocks | None = None,
    rolling: bool = False,
) -> tuple[FleetMocks, dict[str, Any]]:
    """Run the program body under mocks; return the mocks and the resolved stack outputs."""
    outputs: dict[str, Any] = {}
    mocks = mocks or FleetMocks()
    mocks.existing_volumes.extend(existing_volumes or [])
    with mocked_pulumi(dev_stack_config(), mocks=mocks):

        @pulumi.runtime.test
        def program() -> pulumi.Output[Any]:
            exported = declare_fleet(
                settings,
                agent_dir=REPO / "agent",
                wheel_dir=wheel.path.parent.parent,
                prices=DEFAULT_PRICES,
                agent_wheel=wheel,
                systemd_unit=unit,
                rolling=rolling,
            )
            return pulumi.Output.from_input(exported).apply(outputs.update)

        program()
    return mocks, outputs
