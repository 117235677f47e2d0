"""The text of a message's content, whatever the protocol's shape: the one extraction rule."""

from __future__ import annotations

from typing import Any

TEXT_TYPES = ("text", "input_text", "output_text")  # Messages/Chat "text"; Responses "input_/output_text"


def text_of(content: Any, sep: str = "\n") -> str:
    """A string, or the text parts of a list of blocks/parts joined by `sep` (other parts ignored)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") in TEXT_TYPES and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return sep.join(parts)
