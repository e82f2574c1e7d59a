"""First-booted Debian local nodes (``dev up`` as root): one per overlay of the cached root.

Each node is booted as an EC2 node is: cloud-init's part (:mod:`.firstboot`), then the user data
the Pulumi program renders for EC2 (:func:`cctview_infra.userdata.render_user_data`), which
fetches the agent wheel this checkout builds from the emulator's S3 with the instance role's
credentials from the emulator's metadata service, checks its digest, installs it in a venv,
creates the ``cctview`` user, writes the config and installs the units. Then sshd and the agent
run inside the node's root: the operator logs in as ``admin`` and reaches the agent with
``sudo -n -u cctview``, volume steps with ``sudo -n``, exactly as on AWS.

The instances and their generation-1 data volumes are registered in the emulator before first
boot, as Pulumi creates them; the volume appears in the node as a loop device with the by-id
link a Nitro instance has (:mod:`.ebsattacher`), and first boot finds, formats and mounts it by
its id exactly as on EC2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from cctview_agent import awscalls
from cctview_agent.fleetconstants import SSH_PORT_TAG
from cctview_fleet.cloud import aws
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.devfleet import debianroot, emulator, firstboot, sshd
from cctview_fleet.devfleet.errors import DevFleetError, ProcessStartError
from cctview_fleet.devfleet.noderoots import NodeRoot, mount_node_root
from cctview_fleet.devfleet.nodes import (
    DebianNodePaths,
    node_names,
    passthrough_environment,
    supervisor_command,
    wait_for_agent,
)
from cctview_fleet.devfleet.processes import (
    ProcessRecord,
    free_port,
    log_tail,
    spawn,
    stop,
    wait_for_port,
)
from cctview_fleet.devfleet.state import STATE_FILE, FleetState, NodeRecord, save_state

if TYPE_CHECKING:
    from cctview_fleet.devfleet.fleet import UpOptions
    from cctview_infra.agentpackage import AgentWheel

OnStep = Callable[[str], None]

REGION = "us-east-1"
VOLUME_SIZE_GIB = 8  # the size emulator.register_nodes gives each node's data volume
CHROOT = "/usr/sbin/chroot"
_ATTEMPTS = 3


def _agent_dir() -> Path:
    """The checkout's ``agent/`` folder (the package is installed from it, editable)."""
    import cctview_agent

    return Path(cctview_agent.__file__).resolve().parent.parent


@awscalls.acting_as(awscalls.DEPLOYER)  # stands in for `pulumi up`'s upload of the wheel
def upload_agent(stack: Stack, wheels: Path) -> AgentWheel:
    """Build this checkout's agent wheel (cached by its sources) and put it in the emulator's
    bucket under the content-addressed key the Pulumi program uses."""
    from cctview_infra.agentpackage import build_agent_wheel

    agent_dir = _agent_dir()
    if not (agent_dir / "pyproject.toml").is_file():
        raise DevFleetError(
            f"the agent's sources are not beside its package ({agent_dir}); Debian local nodes "
            "install the checkout's agent: run `dev up` from a checkout (`make setup`)"
        )
    wheel = build_agent_wheel(agent_dir, wheels)
    # `pulumi up` uploads it on AWS: the deployer's call, not the operator's (one PUT, in this
    # thread, so the recorder sees who acts; upload_file would hand it to a worker thread)
    with (
        awscalls.acting_as(awscalls.DEPLOYER),
        aws.translate_errors(stack, "s3", "uploading the agent wheel", error=DevFleetError),
    ):
        aws.s3(stack).put_object(Bucket=stack.bucket, Key=wheel.key, Body=wheel.path.read_bytes())
    return wheel


def user_data(node: str, stack: Stack, period: int, size_gib: int) -> str:
    """The script EC2 would run at this node's first boot (its wheel and volume it reads from
    the instance's tags: :func:`boot_tags`)."""
    from cctview_infra.userdata import UserDataSpec, render_user_data, shipped_systemd_unit

    spec = UserDataSpec(
        node=node,
        region=REGION,
        bucket=stack.bucket,
        volume_size_gib=size_gib,
        agent_period=period,
        prefix=stack.prefix,
    )
    return render_user_data(spec, shipped_systemd_unit(_agent_dir()))


def boot_tags(package: AgentWheel, volume_id: str) -> dict[str, str]:
    """What the program tags a new node's instance with for its user data (``node.boot_tags``)."""
    from cctview_infra import tags

    return {tags.AGENT_KEY: package.key, tags.AGENT_SHA256: package.sha256,
            tags.DATA_VOLUME: volume_id}  # fmt: skip


def start_metadata_service(state: FleetState) -> tuple[FleetState, dict[str, str]]:
    """The nodes' instance metadata service (:mod:`.metadataservice`), one loopback port per
    node; returns each node's URL for its ``~/.aws/config``."""
    from cctview_fleet.devfleet.metadataservice import HOST, Listener

    log = Path(state.folder) / "logs" / "metadata.log"
    for _ in range(_ATTEMPTS):
        listeners = [Listener(n.name, free_port(HOST), n.instance_id) for n in state.nodes]
        argv = [sys.executable, "-m", "cctview_fleet.devfleet.metadataservice", "--moto",
                state.moto_url, *(f"--listen={x.argument()}" for x in listeners)]  # fmt: skip
        record = spawn("metadata", "metadata", argv, log, mark=state.folder)
        try:
            for listener in listeners:
                wait_for_port(record, HOST, listener.port, timeout=30)
        except ProcessStartError:
            stop([record])
            if "Address already in use" in log_tail(record, 20):
                continue
            raise
        state = state.with_process(record)
        save_state(state)
        return state, {x.node: f"http://{HOST}:{x.port}" for x in listeners}
    raise ProcessStartError(f"the metadata service could not bind free ports (log {log})")


def boot(
    root: NodeRoot,
    paths: DebianNodePaths,
    identity: firstboot.NodeIdentity,
    script: str,
    pip_cache: Path,
) -> NodeRoot:
    """cloud-init's part, then the user data, in the node's mounted root; the log is the node's
    ``first-boot.log`` (the script also keeps /var/log/cctview-bootstrap.log in the node)."""
    firstboot.prepare(root, identity)
    firstboot.run_user_data(root, script, paths.folder / "first-boot.log", pip_cache)
    return root


def start_sshd(
    node: str, root: NodeRoot, log: Path, *, mark: str, port: int | None = None
) -> ProcessRecord:
    """The node's own sshd (Debian's config, PAM, its own host keys), chrooted, on a loopback
    port."""

    def argv(chosen: int) -> list[str]:
        return [
            CHROOT, str(root.merged), "/usr/sbin/sshd", "-D", "-e",
            "-o", f"ListenAddress={sshd.HOST}", "-p", str(chosen),
            "-o", "PasswordAuthentication=no", "-o", "ClientAliveInterval=15",
        ]  # fmt: skip

    return sshd.start_listening(node, log, argv, mark=mark, port=port)


def start_agents(node: str, root: NodeRoot, log: Path, *, mark: str) -> list[ProcessRecord]:
    """Every service first boot enabled, each under its supervisor, as its unit's user."""
    started = []
    for service in firstboot.enabled_services(root):
        unit = root.path(f"/etc/systemd/system/{service}")
        argv = supervisor_command(unit, [], root=root.merged)
        name = "agent" if service == "cctview-agent.service" else service.removesuffix(".service")
        started.append(spawn(f"{name} {node}", "agent", argv, log, mark=mark, node=node))
    if not started:
        raise ProcessStartError(f"first boot of {node} enabled no service (log {log})")
    return started


def _paths(state: FleetState, name: str) -> DebianNodePaths:
    return DebianNodePaths(Path(state.folder) / "nodes" / name, Path(state.roots) / name / "merged")


def start_nodes(
    state: FleetState,
    options: UpOptions,
    step: OnStep,
    public_key: str,
    image: str,
    stack: Stack,
) -> FleetState:
    """Build (or reuse) the Debian root, first-boot every node in parallel, then start each
    node's sshd and supervised agent inside its root; registers the nodes in the emulator."""
    step("the nodes' Debian 12 root (mmdebstrap, cached)")
    base = debianroot.ensure_root()
    emulator.create_bucket(stack)
    package = upload_agent(stack, debianroot.cache_dir() / "wheels")
    names = node_names(options.nodes)
    paths = {name: _paths(state, name) for name in names}
    pip_cache = debianroot.cache_dir() / "pip"
    roots: dict[str, NodeRoot] = {}
    for name in names:  # mounted first: the EBS stand-in makes devices in the nodes' /dev
        paths[name].folder.mkdir(parents=True, exist_ok=True)
        roots[name] = mount_node_root(base, paths[name].root.parent)
        state = state.with_node(
            NodeRecord(name, str(paths[name].folder), 0, root=str(paths[name].root))
        )
    save_state(state)
    # As Pulumi does: the instances and their generation-1 data volumes exist before first boot,
    # which finds the volume by its id once EC2 (here: the attacher) shows the device.
    state = emulator.register_in_emulator(state, stack, image)
    attacher = spawn(
        "ebs", "ebs",
        [sys.executable, "-m", "cctview_fleet.devfleet.ebsattacher", "--state",
         str(Path(state.folder) / STATE_FILE)],
        Path(state.folder) / "logs" / "ebs.log", mark=state.folder,
    )  # fmt: skip
    state = state.with_process(attacher)
    save_state(state)
    records = {node.name: node for node in state.nodes}
    for record in records.values():  # as the program tags a new node's instance
        emulator.tag_boot(stack, record.instance_id, boot_tags(package, record.volume_id))
    state, metadata_urls = start_metadata_service(state)

    def first_boot(name: str) -> NodeRoot:
        identity = firstboot.NodeIdentity(
            name,
            public_key,
            state.moto_url,
            metadata_urls[name],
            Path(state.ca_file) if state.ca_file else None,
            tuple(sorted(passthrough_environment().items())),
        )
        script = user_data(name, stack, options.period, VOLUME_SIZE_GIB)
        return boot(roots[name], paths[name], identity, script, pip_cache)

    for name in names:
        step(f"{name}: first boot (cloud-init's part, then the user data)")
    with ThreadPoolExecutor(max_workers=min(4, len(names))) as pool:
        list(pool.map(first_boot, names))

    ec2 = aws.ec2(stack)
    for name in names:
        step(f"{name}: starting its sshd and agent")
        sshd_process = start_sshd(
            name, roots[name], paths[name].folder / "sshd.log", mark=state.folder
        )
        node = replace(
            records[name], ssh_port=sshd_process.port or 0, host_key=firstboot.host_key(roots[name])
        )
        with (  # the address tag stands for what the deployer tags on AWS
            awscalls.acting_as(awscalls.DEPLOYER),
            aws.translate_errors(stack, "ec2", "tagging the nodes", error=DevFleetError),
        ):
            ec2.create_tags(
                Resources=[node.instance_id],
                Tags=[{"Key": SSH_PORT_TAG, "Value": str(node.ssh_port)}],
            )
        state = state.with_process(sshd_process).with_node(node)
        save_state(state)
    sshd.write_known_hosts(Path(state.known_hosts), list(state.nodes))
    agents: dict[str, ProcessRecord] = {}
    for name in names:
        log = paths[name].agent_output
        (agents[name],) = start_agents(name, roots[name], log, mark=state.folder)
        state = state.with_process(agents[name])
        save_state(state)
    for name, agent in agents.items():
        wait_for_agent(agent, paths[name], timeout=60)
    return state


def restart(state: FleetState, node: NodeRecord) -> FleetState:
    """Start a Debian node's sshd (on its port) and agent again; the caller stopped them."""
    root = NodeRoot(Path(node.root).parent)
    paths = _paths(state, node.name)
    record = start_sshd(
        node.name, root, paths.folder / "sshd.log", mark=state.folder, port=node.ssh_port
    )
    state = state.with_process(record)
    save_state(state)
    paths.status.unlink(missing_ok=True)  # ready again once the new agent writes it
    (agent,) = start_agents(node.name, root, paths.agent_output, mark=state.folder)
    state = state.with_process(agent)
    save_state(state)
    wait_for_agent(agent, paths, timeout=60)
    return state
