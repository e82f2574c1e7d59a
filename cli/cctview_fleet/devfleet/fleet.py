"""``dev up``, ``dev status`` and ``dev down`` as library functions (the CLI only renders them).

Start order: the AWS emulator, the camera simulator, the operator key, then the nodes (single-user:
one sshd per node, the instances and volumes in the emulator, the node folders and agents, the
bucket; Debian, as root: :mod:`.debiannodes`), a real SSH login to every node, and last the
``local`` stack file. After every process started, the state file is
rewritten; if any step fails, everything started so far is stopped again before the error
leaves, and ``dev down`` can always finish what an interrupted ``dev up`` left, mounts and loop
devices included.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cctview_agent.periods import validate_period_length
from cctview_fleet.cloud.stacks import Stack, save_stack, stack_path
from cctview_fleet.devfleet import emulator, noderoots, nodes, simulator, sshd
from cctview_fleet.devfleet.errors import DevFleetError, FleetAlreadyUpError
from cctview_fleet.devfleet.processes import ProcessRecord, descendants, is_alive, marked, stop
from cctview_fleet.devfleet.state import (
    FLEET_NAME,
    FleetState,
    NodeRecord,
    load_state,
    remove_state,
    save_state,
    state_dir,
)

BUCKET = "cctview-local"
NodeKind = Literal["auto", "debian", "single-user"]
MAX_NODES = 64
OnStep = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class UpOptions:
    """The flags of ``dev up``."""

    nodes: int = 3
    period: int = 60
    catalog: Path | None = None
    https: bool = True
    seed: int | None = None
    cameras: int | None = None  # how many cameras the simulator serves (its default: 900)
    poll_interval: float = 1.0
    node_kind: NodeKind = "auto"  # debian: first-booted roots (needs root); auto: debian as root
    # The simulator's behaviour (cctview_camsim.profiles): "real" reproduces webcams.nyctmc.org
    # (irregular cadences, latency, offline card); tests not about it ask for "easy" by name.
    camsim_profile: str = "real"

    @property
    def debian(self) -> bool:
        """First-booted Debian nodes: asked for, or `auto` as root (CI runs as root)."""
        return self.node_kind == "debian" or (self.node_kind == "auto" and os.geteuid() == 0)


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """One row of ``dev status``."""

    name: str
    role: str
    pid: int
    port: int | None
    alive: bool
    log: str


@dataclass(frozen=True, slots=True)
class DownReport:
    """What ``dev down`` did: the processes it stopped (empty when nothing was running)."""

    stopped: tuple[ProcessStatus, ...]
    was_up: bool


def steps_total(node_count: int, *, debian: bool = False) -> int:
    """How many times :func:`up` reports a step, for a progress bar."""
    if debian:
        return 3 + 1 + 3 * node_count + 1
    return 3 + 3 * node_count + 2


def local_stack(state: FleetState, user: str) -> Stack:
    """The stack every other command uses for ``--stack local``."""
    if state.mode == "debian":
        from cctview_fleet.devfleet.firstboot import LOGIN_USER

        # As on AWS: log in as the AMI's user, reach the agent with sudo (the Stack defaults).
        return Stack(
            name=FLEET_NAME,
            region="us-east-1",
            bucket=state.bucket,
            prefix="cctview",
            ssh_user=LOGIN_USER,
            ssh_key=state.ssh_key,
            known_hosts=state.known_hosts,
            endpoint_url=state.moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            extra={"catalog_url": state.catalog_url, "ca_file": state.ca_file},
        )
    return Stack(
        name=FLEET_NAME,
        region="us-east-1",
        bucket=state.bucket,
        prefix="cctview",
        ssh_user=user,
        ssh_key=state.ssh_key,
        known_hosts=state.known_hosts,
        # the local nodes' agents run as the SSH user, with no sudo
        agent_command="cctview-agent",
        agent_root_command="cctview-agent",
        endpoint_url=state.moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        extra={"catalog_url": state.catalog_url, "ca_file": state.ca_file},
    )


def _validate(options: UpOptions) -> None:
    if not 1 <= options.nodes <= MAX_NODES:
        raise DevFleetError(f"--nodes {options.nodes} is out of range; use 1 to {MAX_NODES}")
    validate_period_length(options.period)
    if options.node_kind not in ("auto", "debian", "single-user"):
        raise DevFleetError(
            f"node kind {options.node_kind!r} is unknown; use debian or single-user"
        )
    if options.node_kind == "debian" and os.geteuid() != 0:
        raise DevFleetError(
            "Debian local nodes need root (mounts, chroot, their own users); run `dev up` as "
            "root, or without --debian for single-user nodes"
        )
    if options.catalog is not None and not options.catalog.is_file():
        raise DevFleetError(
            f"--catalog {options.catalog} is not a file; pass a camera list in the API's JSON "
            "shape, e.g. nyc-dot-cameras.source.json"
        )


def _mark() -> str:
    """The value every process of this home's fleet carries in its environment."""
    return str(state_dir().absolute())


def _roots() -> Path:
    """Where this home's Debian nodes are mounted (known without the state file)."""
    return noderoots.fleet_roots(_mark())


def _everything(state: FleetState | None) -> list[ProcessRecord]:
    """The recorded processes, newest first, plus any marked one the record missed."""
    recorded = list(reversed(state.processes)) if state else []
    # A recorded process's children (the supervised agents) go with it: they are not extra.
    pids = {record.pid for record in [*recorded, *descendants(recorded)]}
    found = marked(_mark(), str(_roots()))
    return recorded + [record for record in found if record.pid not in pids]


def _unmount() -> None:
    """Undo every mount of this home's Debian nodes (also a killed `dev up`'s) and delete
    their roots."""
    failures = noderoots.unmount_below(_roots())
    failures += [] if failures else noderoots.detach_loops_below(_roots())  # the EBS stand-ins
    if failures:
        raise DevFleetError(
            f"could not unmount {'; '.join(failures)}; stop what uses them, then run `dev down` "
            "again"
        )
    noderoots.remove_fleet_roots(_roots())


def _refuse_if_up() -> None:
    existing = load_state()
    live = [record for record in _everything(existing) if is_alive(record)]
    if live:
        raise FleetAlreadyUpError(
            f"a local fleet is already up in {state_dir()} ({len(live)} processes); "
            "run `cctview-fleet dev down` first"
        )
    if existing is not None:
        remove_state()  # a fleet that died with the machine: nothing left to stop


def up(options: UpOptions, on_step: OnStep | None = None) -> FleetState:
    """Start the local fleet; returns its state. Cleans up after itself when a step fails."""
    step = on_step or (lambda _description: None)
    _validate(options)
    sshd.sshd_path()  # refuse before starting anything when OpenSSH is missing
    sshd.ssh_keygen_path()
    _refuse_if_up()
    folder = Path(_mark())
    if (folder / "nodes").exists():
        shutil.rmtree(folder / "nodes")  # the previous fleet's folders; `dev down` kept them
    folder.mkdir(parents=True, exist_ok=True)
    state = FleetState(
        folder=str(folder),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        period=options.period,
        https=options.https,
        bucket=BUCKET,
        ssh_key=str(folder / "id_ed25519"),
        known_hosts=str(folder / "known_hosts"),
        mode="debian" if options.debian else "single-user",
        roots=str(_roots()) if options.debian else "",
    )
    save_state(state)
    try:
        # Leaving this block waits for the background starts, so the clean-up below sees them.
        with ThreadPoolExecutor(max_workers=3) as background:
            return _start(state, options, step, background)
    except BaseException:
        stop(_everything(load_state() or state))
        _unmount()
        remove_state()
        stack_path(FLEET_NAME).unlink(missing_ok=True)
        raise


def _start(
    state: FleetState, options: UpOptions, step: OnStep, background: ThreadPoolExecutor
) -> FleetState:
    folder = Path(state.folder)
    user = sshd.current_user()

    # moto and the simulator each take a second or two to import: start them side by side.
    step("starting the AWS emulator (moto server)")
    mark = state.folder
    simulator_started = background.submit(
        simulator.start_simulator,
        folder / "camsim",
        mark=mark,
        https=options.https,
        catalog=options.catalog,
        cameras=options.cameras,
        seed=options.seed,
        profile=options.camsim_profile,
    )
    moto, moto_url = emulator.start_moto(folder / "logs" / "moto.log", mark=mark)
    state = replace(state.with_process(moto), moto_url=moto_url)
    save_state(state)
    image = background.submit(emulator.register_image, local_stack(state, user))

    step("starting the camera simulator")
    sim = simulator_started.result()
    state = replace(state.with_process(sim.process), camsim_url=sim.url, ca_file=sim.ca_file)
    save_state(state)

    step("making the operator key")
    public = sshd.keygen(Path(state.ssh_key), f"cctview-local-operator@{user}")
    (folder / "authorized_keys").write_text(public + "\n")

    stack = local_stack(state, user)
    if state.mode == "debian":
        from cctview_fleet.devfleet import debiannodes

        state = debiannodes.start_nodes(state, options, step, public, image.result(), stack)
        login, probe = stack.ssh_user, "sudo -n -u cctview cctview-agent --version"
    else:
        state = _start_single_user_nodes(state, options, step, image.result(), stack)
        login, probe = user, "echo ok"

    def check(node: NodeRecord) -> str:
        return sshd.verify_login(
            node.name, node.ssh_port, login, Path(state.ssh_key), Path(state.known_hosts),
            command=probe,
        )  # fmt: skip

    for node in state.nodes:
        step(f"{node.name}: checking an SSH login with the operator key")
    with ThreadPoolExecutor(max_workers=min(8, len(state.nodes))) as pool:
        list(pool.map(check, state.nodes))

    step("writing the `local` stack")
    stack_file = save_stack(stack)
    state = replace(state, stack_file=str(stack_file), complete=True)
    save_state(state)
    return state


def _start_single_user_nodes(
    state: FleetState, options: UpOptions, step: OnStep, image: str, stack: Stack
) -> FleetState:
    """One sshd and one agent per node, all as the operator, in folders under the fleet's."""
    folder = Path(state.folder)
    mark, moto_url = state.folder, state.moto_url
    authorized_keys = folder / "authorized_keys"
    names = nodes.node_names(options.nodes)
    paths = {name: nodes.make_node_folder(folder / "nodes" / name) for name in names}
    for name in names:
        step(f"{name}: starting sshd")
        host_key = sshd.keygen(paths[name].host_key, f"cctview-local-{name}")
        env = nodes.node_environment(paths[name], moto_url, mark)
        record = sshd.start_sshd(
            name, paths[name].folder, paths[name].host_key, authorized_keys, env, mark=mark
        )
        node = NodeRecord(name, str(paths[name].folder), record.port or 0, host_key)
        state = state.with_process(record).with_node(node)
        save_state(state)
    sshd.write_known_hosts(Path(state.known_hosts), list(state.nodes))

    step("registering instances and volumes in the emulator")
    state = emulator.register_in_emulator(state, stack, image)
    emulator.create_bucket(stack)

    agents: dict[str, ProcessRecord] = {}
    for node in state.nodes:
        step(f"{node.name}: starting the agent")
        node_paths = paths[node.name]
        nodes.mount_volume(node_paths, node.volume_id)
        nodes.write_agent_files(
            node_paths,
            node.name,
            period=options.period,
            ca_file=state.ca_file,
            poll_interval=options.poll_interval,
            bucket=state.bucket,
        )
        agents[node.name] = nodes.start_agent(
            node.name, node_paths, nodes.node_environment(node_paths, moto_url, mark), mark=mark
        )
        state = state.with_process(agents[node.name])
        save_state(state)
    for name, record in agents.items():
        nodes.wait_for_agent(record, paths[name], timeout=30)

    return state


def status() -> tuple[FleetState | None, list[ProcessStatus]]:
    """The recorded fleet and, for each of its processes, whether it still runs."""
    state = load_state()
    if state is None:
        return None, []
    rows = [
        ProcessStatus(r.name, r.role, r.pid, r.port, is_alive(r), r.log) for r in state.processes
    ]
    return state, rows


def restart_node(name: str, *, timeout: float = 30.0) -> FleetState:
    """Stop the node's sshd and agent (whether they run or died) and start them again: sshd on
    the node's own port (EC2's tags and known_hosts name it), the agent under its supervisor."""
    state = load_state()
    if state is None:
        raise DevFleetError("no local fleet is running; start one with `cctview-fleet dev up`")
    node = state.node(name)
    paths = nodes.NodePaths(Path(node.folder))
    old = [r for r in state.processes if r.node == name and r.role in ("sshd", "agent")]
    survivors = stop(old)
    if survivors:
        pids = ", ".join(f"{r.name} pid {r.pid}" for r in survivors)
        raise DevFleetError(f"could not stop {pids}; stop them by hand, then run it again")
    state = replace(state, processes=tuple(r for r in state.processes if r not in old))
    save_state(state)
    if node.root:
        from cctview_fleet.devfleet import debiannodes

        return debiannodes.restart(state, node)
    env = nodes.node_environment(paths, state.moto_url, state.folder)
    authorized_keys = Path(state.folder) / "authorized_keys"
    record = sshd.start_sshd(
        name, paths.folder, paths.host_key, authorized_keys, env, mark=state.folder,
        port=node.ssh_port,
    )  # fmt: skip
    state = state.with_process(record)
    save_state(state)
    paths.status.unlink(missing_ok=True)  # ready again once the new agent writes it
    agent = nodes.start_agent(name, paths, env, mark=state.folder)
    state = state.with_process(agent)
    save_state(state)
    nodes.wait_for_agent(agent, paths, timeout=timeout)
    return state


def down(*, timeout: float = 5.0) -> DownReport:
    """Stop every process the fleet started, by pid; remove the stack. Safe to run twice."""
    state = load_state()
    live = [record for record in _everything(state) if is_alive(record)]
    mounted = bool(noderoots.mounts_below(_roots()) or noderoots.loops_below(_roots()))
    if state is None and not live and not mounted:
        stack_path(FLEET_NAME).unlink(missing_ok=True)
        return DownReport((), was_up=False)
    survivors = stop(live, timeout=timeout)
    if survivors:
        pids = ", ".join(f"{r.name} pid {r.pid}" for r in survivors)
        raise DevFleetError(f"could not stop {pids}; stop them by hand, then run `dev down` again")
    _unmount()
    stack_path(FLEET_NAME).unlink(missing_ok=True)
    remove_state()
    stopped = tuple(ProcessStatus(r.name, r.role, r.pid, r.port, False, r.log) for r in live)
    return DownReport(stopped, was_up=True)
