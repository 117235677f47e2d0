"""Anthropic Messages <-> OpenAI Chat Completions, as pure functions over parsed JSON.

Nothing here does I/O: the engine hands in parsed bodies / SSE events and relays
what comes back. Anything a caller sent that cannot be expressed on the other
side raises TranslationError, which the engine answers as a 400 in the
caller's own protocol.
"""

from __future__ import annotations


class TranslationError(ValueError):
    """The request cannot be expressed in the target protocol (-> HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


from dario.pipeline.translate.requests import (  # noqa: E402  (TranslationError must exist first)
    anthropic_to_openai_request,
    openai_to_anthropic_request,
)
from dario.pipeline.translate.responses import (  # noqa: E402
    anthropic_to_openai_response,
    openai_to_anthropic_response,
    translate_error,
)
from dario.pipeline.translate.streams import (  # noqa: E402
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
)

__all__ = [
    "TranslationError",
    "anthropic_to_openai_request",
    "openai_to_anthropic_request",
    "anthropic_to_openai_response",
    "openai_to_anthropic_response",
    "translate_error",
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
]
