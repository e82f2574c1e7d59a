"""Operations over the fleet's nodes: status, health, logs, sync, trusting host keys."""
