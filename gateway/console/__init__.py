"""The relationship-manager console (/console): login, live queue, transcript, customer panel, charts."""
