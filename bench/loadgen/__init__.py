"""Load generation against the running assistant: signed WeChat customers, Rasa alone, statistics.

Used by ``bench/load.py`` and by the fault and bad-input tests (``tests/e2e``), which need to talk
to a real gateway exactly as WeChat does.
"""
