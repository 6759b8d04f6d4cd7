"""What event schemas share about free text (libs/events/free_text.py): the upcaster of a v1 payload that
carried a person's text inline into the v2 that carries a reference to the free-text register."""

from __future__ import annotations

from typing import Any


def inline_text_stays(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2 for an event whose free text moved to the register. Nothing can be moved out of an event
    already published (topics are kept forever), so the text stays inline, where v1 put it: v2 keeps that
    field, optional, beside the empty reference, and reads show it as before."""
    return payload
