"""Sealed slot values: only the action server's key opens them, and only while fresh."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from actions.sealed import PREFIX, seal, unseal
from rasa_ext.redaction import SEALED_PREFIX


def test_prefix_matches_what_the_tracker_store_keeps() -> None:
    assert PREFIX == SEALED_PREFIX


@given(st.text(min_size=1, max_size=40))
def test_round_trip(value: str) -> None:
    assert unseal(seal(value, "k1"), "k1") == value


def test_wrong_key_tampering_and_garbage_are_refused() -> None:
    token = seal("13912345678", "k1")
    assert "13912345678" not in token
    assert unseal(token, "k2") is None
    assert unseal(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], "k1") is None
    for junk in (None, 42, "", "13912345678", PREFIX, PREFIX + "not-base64!"):
        assert unseal(junk, "k1") is None


def test_old_seals_expire() -> None:
    token = seal("13912345678", "k1")
    time.sleep(1.1)
    assert unseal(token, "k1", max_age_s=0) is None
    assert unseal(token, "k1", max_age_s=60) == "13912345678"
