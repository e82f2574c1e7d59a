"""AWS and Pulumi: clients, discovery by tag, stacks, teardown."""
