"""Rolling changes onto the fleet: roll, agent releases and upgrades."""
