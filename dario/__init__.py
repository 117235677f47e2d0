"""dario: see and steer every LLM API call a command-line program makes."""

__version__ = "0.1.0"
