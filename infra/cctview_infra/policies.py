"""Policy checks over the resources the program declares, in the manner of Pulumi CrossGuard.

Each :class:`Policy` has a name, a description and an enforcement level (``mandatory`` stops the
program, ``advisory`` warns, ``disabled`` skips; the ``policyEnforcement`` setting changes a
level). Resource policies look at one resource at a time and run *before* it is registered, so a
mandatory violation stops ``pulumi up`` before AWS sees the offending resource; stack policies
look at all of them at the end (the EBS total, a bucket's companions).

The checks read the inputs as the program passed them (snake_case, plain dicts). A value that is
not known until deployment (an :class:`pulumi.Output`) counts as unknown and is not judged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from cctview_agent.errors import ConfigError
from cctview_infra import tags

INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
TAGGED = {
    INSTANCE, VOLUME, SECURITY_GROUP, BUCKET, "aws:ec2/keyPair:KeyPair", "aws:iam/role:Role",
    "aws:iam/instanceProfile:InstanceProfile",
}  # fmt: skip
MANDATORY, ADVISORY, DISABLED = "mandatory", "advisory", "disabled"


@dataclass(frozen=True, slots=True)
class DeclaredResource:
    """A resource as declared: type token, name, inputs, and the options that matter here."""

    type: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None
    protect: bool = False
    retain_on_delete: bool = False


@dataclass(frozen=True, slots=True)
class PolicyContext:
    ebs_budget_gib: int = 200


ResourceCheck = Callable[[DeclaredResource], list[str]]
StackCheck = Callable[[Sequence[DeclaredResource], PolicyContext], list[str]]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    description: str
    enforcement_level: str = MANDATORY
    resource_check: ResourceCheck | None = None
    stack_check: StackCheck | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    policy: str
    level: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy}: {self.message}"


def _known(value: Any) -> bool:
    return not isinstance(value, pulumi.Output)


def _get(props: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _t2_family(r: DeclaredResource) -> list[str]:
    if r.type != INSTANCE:
        return []
    problems = []
    kind = r.props.get("instance_type")
    if _known(kind) and not str(kind).startswith("t2."):
        problems.append(f"{r.name} is a {kind}; the fleet is sized and priced for t2 (t2.micro)")
    credits = _get(r.props, "credit_specification", "cpu_credits")
    if _known(credits) and credits != "standard":
        problems.append(f"{r.name} has cpu_credits={credits!r}; 'standard' never bills extra CPU")
    return problems


def _imdsv2(r: DeclaredResource) -> list[str]:
    if r.type != INSTANCE:
        return []
    tokens = _get(r.props, "metadata_options", "http_tokens")
    if _known(tokens) and tokens != "required":
        return [f"{r.name} allows IMDSv1 (http_tokens={tokens!r}); require session tokens"]
    return []


def _encryption(r: DeclaredResource) -> list[str]:
    if r.type == INSTANCE:
        encrypted = _get(r.props, "root_block_device", "encrypted")
        if _known(encrypted) and encrypted is not True:
            return [f"{r.name} has an unencrypted root volume"]
    if r.type == VOLUME:
        encrypted = r.props.get("encrypted")
        if _known(encrypted) and encrypted is not True:
            return [f"{r.name} is an unencrypted EBS volume"]
    if r.type == BUCKET_OBJECT:
        sse = r.props.get("server_side_encryption")
        if _known(sse) and not sse:
            return [f"{r.name} is stored without server-side encryption"]
    return []


def _open_to_world(cidrs: Any) -> list[str]:
    if not _known(cidrs) or not cidrs:
        return []
    found = []
    for cidr in cidrs:
        if _known(cidr) and ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0:
            found.append(str(cidr))
    return found


def _ssh_not_world(r: DeclaredResource) -> list[str]:
    if r.type != SECURITY_GROUP:
        return []
    problems = []
    for rule in r.props.get("ingress") or []:
        if not isinstance(rule, Mapping):
            continue
        low: Any = rule.get("from_port")  # an int, or an Output not yet known in a preview
        high: Any = rule.get("to_port")
        protocol = str(rule.get("protocol"))
        covers_22 = protocol in ("-1", "all") or (
            _known(low) and _known(high) and int(low) <= 22 <= int(high)
        )
        world = _open_to_world(rule.get("cidr_blocks")) + _open_to_world(
            rule.get("ipv6_cidr_blocks")
        )
        if covers_22 and world:
            problems.append(f"{r.name} opens SSH to {', '.join(world)}")
        if not (_known(low) and _known(high) and int(low) == int(high) == 22):
            problems.append(f"{r.name} allows ports {low}-{high} in; nodes need only 22")
    return problems


def _required_tags(r: DeclaredResource) -> list[str]:
    if r.type not in TAGGED:
        return []
    given = r.props.get("tags")
    if not _known(given):
        return []
    given = given or {}
    required = list(tags.REQUIRED)
    if r.type in (INSTANCE, VOLUME):
        required.append(tags.NODE)
    if r.type == VOLUME:
        required.append(tags.GENERATION)
    missing = [key for key in required if not given.get(key)]
    if r.type == INSTANCE:
        root_tags = _get(r.props, "root_block_device", "tags")
        if _known(root_tags) and not (root_tags or {}).get(tags.FLEET):
            missing.append(f"root volume {tags.FLEET}")
    return [f"{r.name} lacks tag(s) {', '.join(missing)}"] if missing else []


def _volumes_protected(r: DeclaredResource) -> list[str]:
    if r.type == VOLUME and not (r.protect and r.retain_on_delete):
        return [f"{r.name} holds frames but is not protect=True with retain_on_delete=True"]
    return []


def _ebs_budget(resources: Sequence[DeclaredResource], context: PolicyContext) -> list[str]:
    total = 0
    for r in resources:
        size = None
        if r.type == INSTANCE:
            size = _get(r.props, "root_block_device", "volume_size")
            size = 8 if size is None else size  # the AMI's snapshot size
        elif r.type == VOLUME:
            size = r.props.get("size")
        if _known(size) and size is not None:
            total += int(size)
    if total > context.ebs_budget_gib:
        return [
            f"the fleet declares {total} GiB of EBS, over the budget of "
            f"{context.ebs_budget_gib} GiB (ebsBudgetGiB); fewer nodes or smaller volumes"
        ]
    return []


def _bucket_private(resources: Sequence[DeclaredResource], _: PolicyContext) -> list[str]:
    problems = []
    for bucket in (r for r in resources if r.type == BUCKET):
        acl = bucket.props.get("acl")
        if _known(acl) and acl and "public" in str(acl):
            problems.append(f"{bucket.name} has the public ACL {acl!r}")
        siblings = [r for r in resources if r.parent == bucket.parent and r is not bucket]
        blocks = [r for r in siblings if r.type == PUBLIC_ACCESS_BLOCK]
        flags = ("block_public_acls", "block_public_policy", "ignore_public_acls",
                 "restrict_public_buckets")  # fmt: skip
        if not any(all(b.props.get(f) is True for f in flags) for b in blocks):
            problems.append(f"{bucket.name} has no public access block with all four flags on")
        owners = [r for r in siblings if r.type == OWNERSHIP]
        if not any(_get(o.props, "rule", "object_ownership") == "BucketOwnerEnforced"
                   for o in owners):  # fmt: skip
            problems.append(f"{bucket.name} does not enforce bucket-owner ownership (ACLs on)")
        if not any(r.type == ENCRYPTION for r in siblings):
            problems.append(f"{bucket.name} has no default encryption")
    return problems


POLICIES: tuple[Policy, ...] = (
    Policy("t2-family", "Nodes are t2 instances with standard CPU credits.",
           resource_check=_t2_family),
    Policy("imdsv2-required", "Instances accept only IMDSv2 (session-token) metadata requests.",
           resource_check=_imdsv2),
    Policy("encryption-everywhere",
           "Root volumes, data volumes, the bucket and its objects are encrypted at rest.",
           resource_check=_encryption),
    Policy("no-ssh-from-world",
           "Security groups open only port 22, never from 0.0.0.0/0 or ::/0.",
           resource_check=_ssh_not_world),
    Policy("required-tags",
           "Resources carry cctview:fleet; nodes and volumes cctview:node; data volumes "
           "cctview:generation (the CLI discovers the fleet by them).",
           resource_check=_required_tags),
    Policy("data-volumes-protected",
           "Data volumes are protected and retained, so no Pulumi operation deletes frames.",
           resource_check=_volumes_protected),
    Policy("bucket-not-public",
           "The bucket blocks public access, enforces owner ownership and encrypts by default.",
           stack_check=_bucket_private),
    Policy("ebs-within-budget", "The EBS total (root + data volumes) stays within ebsBudgetGiB.",
           stack_check=_ebs_budget),
)  # fmt: skip
POLICY_NAMES = tuple(p.name for p in POLICIES)


def levels(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each policy's enforcement level after the ``policyEnforcement`` overrides."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(POLICY_NAMES))
    if unknown:
        raise ConfigError(
            f"config cctview-fleet:policyEnforcement names no policy {unknown[0]!r}; policies: "
            f"{', '.join(POLICY_NAMES)}",
            key="policyEnforcement",
        )
    return {p.name: overrides.get(p.name, p.enforcement_level) for p in POLICIES}


def check_resource(resource: DeclaredResource, level: Mapping[str, str]) -> list[Violation]:
    return [
        Violation(p.name, level[p.name], message)
        for p in POLICIES
        if p.resource_check is not None and level[p.name] != DISABLED
        for message in p.resource_check(resource)
    ]


def check_stack(
    resources: Sequence[DeclaredResource], context: PolicyContext, level: Mapping[str, str]
) -> list[Violation]:
    return [
        Violation(p.name, level[p.name], message)
        for p in POLICIES
        if p.stack_check is not None and level[p.name] != DISABLED
        for message in p.stack_check(resources, context)
    ]


def run_policies(
    resources: Sequence[DeclaredResource],
    context: PolicyContext,
    overrides: Mapping[str, str] | None = None,
) -> list[Violation]:
    """Every policy over ``resources``: the plain-function entry point (tests, reports)."""
    level = levels(overrides)
    found = [v for r in resources for v in check_resource(r, level)]
    return found + check_stack(resources, context, level)


@dataclass
class PolicyGuard:
    """A stack transformation that records every declared resource and enforces the resource
    policies before registration; :meth:`finish` runs the stack policies at the end."""

    context: PolicyContext
    overrides: Mapping[str, str] = field(default_factory=dict)
    resources: list[DeclaredResource] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._level = levels(self.overrides)

    def install(self) -> PolicyGuard:
        pulumi.runtime.register_stack_transformation(self._transform)
        return self

    def _transform(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        opts = args.opts or pulumi.ResourceOptions()
        parent = getattr(opts.parent, "_name", None) if opts.parent is not None else None
        declared = DeclaredResource(
            type=args.type_,
            name=args.name,
            props=args.props or {},  # components declare none
            parent=parent,
            protect=bool(opts.protect),
            retain_on_delete=bool(opts.retain_on_delete),
        )
        self.resources.append(declared)
        self._enforce(check_resource(declared, self._level))
        return None

    def finish(self) -> list[Violation]:
        """Run the stack policies; raise on a mandatory violation, return the advisory ones."""
        self._enforce(check_stack(self.resources, self.context, self._level))
        return list(self.warnings)

    def _enforce(self, violations: list[Violation]) -> None:
        mandatory = [v for v in violations if v.level == MANDATORY]
        for violation in violations:
            if violation.level == ADVISORY:
                self.warnings.append(violation)
                pulumi.log.warn(str(violation))
        if mandatory:
            raise pulumi.RunError(
                "policy violation: "
                + "; ".join(str(v) for v in mandatory)
                + " (set cctview-fleet:policyEnforcement to make a policy advisory)"
            )
