"""Operations over the fleet's nodes and what they answer: status, health, logs, sync."""
