"""The bottom layer every process shares: settings, logging, metrics, health, masking, database sessions.

Nothing here imports another package of this repository. ``core.masking`` is also loaded by the Rasa
process (Python 3.10, its own venv), so it uses the standard library only.
"""
