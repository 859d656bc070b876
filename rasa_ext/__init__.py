"""Extensions loaded by the Rasa server process (Python 3.10, its own venv).

Only the standard library, Rasa itself and ``core.masking`` may be imported here: the app's other
packages need Python 3.11 and libraries the Rasa venv does not have.
"""
