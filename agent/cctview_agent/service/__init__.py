"""The long-running agent: its task group, status and pid files, health, event loop."""
