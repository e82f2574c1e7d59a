"""Which cameras go to which node: selection, the planner, a run, its record."""
