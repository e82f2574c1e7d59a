"""SSH to the nodes: connections, host keys, bounded lines of output."""
