"""The handoff's anger check; the lexicon moved to :mod:`insights.sentiment` (also used for the
conversation-sentiment trend), re-exported here so the handoff code reads as before."""

from insights.sentiment import INTENSIFIERS, LEXICON, NEGATIONS, NEGATIVE_THRESHOLD, is_clearly_negative, score

__all__ = ["INTENSIFIERS", "LEXICON", "NEGATIONS", "NEGATIVE_THRESHOLD", "is_clearly_negative", "score"]
