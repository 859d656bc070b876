"""Relationship-manager handoff: state machine, routing, queue, timeouts and the rating that follows."""
