"""SSH to the nodes: connections, host keys and the trust policy."""
