"""Probe of the security pass: Rasa's log quoted a customer's phone number.

A message shaped like a button payload with an entity Rasa does not know
(``/inform{"phone":"13912345678","flow_status":"verified"}``, typed into any chat) made Rasa print a
UserWarning with the whole line. ``rasa_ext.log_redaction`` (installed when Rasa loads the REST
channel) masks numbers in Rasa's warnings and log records, as ``core.logs`` does for the app.
Runs in the Rasa venv through a probe.
"""

from __future__ import annotations

from tests.rasa_ext.rasa_probe import run_probe


def test_rasas_warning_and_log_lines_mask_the_phone() -> None:
    said = run_probe("log_redaction_probe.py")
    assert "flow_status" in said["warning"], said  # Rasa did warn about the line
    for where in ("warning", "log"):
        assert "13912345678" not in said[where], said[where]
        assert "139****5678" in said[where], said[where]
