"""How the operator's commands spell `cctview-agent` on a node: one place, per stack."""

from __future__ import annotations

from cctview_fleet.cloud.inventory import Node
from cctview_fleet.cloud.stacks import Stack
from cctview_fleet.remote.ssh import NodeConnection, SshSettings


def _conn(stack: Stack) -> NodeConnection:
    node = Node(name="node-01", instance_id="i-1", state="running", ssh_host="127.0.0.1")
    return NodeConnection(node, SshSettings.for_stack(stack))


def test_cloud_nodes_run_the_agent_as_its_user_and_volume_steps_as_root() -> None:
    conn = _conn(Stack(name="dev"))
    assert (
        conn.agent_command("status", "--json") == "sudo -n -u cctview cctview-agent status --json"
    )
    assert conn.agent_command("volume", "prepare", "--volume-id", "vol-1", root=True) == (
        "sudo -n cctview-agent volume prepare --volume-id vol-1"
    )


def test_words_are_quoted_and_the_local_fleet_needs_no_sudo() -> None:
    conn = _conn(
        Stack(name="local", agent_command="cctview-agent", agent_root_command="cctview-agent")
    )
    assert conn.agent_command("sync", "--prefix", "a b;rm -rf /") == (
        "cctview-agent sync --prefix 'a b;rm -rf /'"
    )
