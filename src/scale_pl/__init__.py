"""scale_pl: SCALE-style schedulers for agentic LLM workflows."""

__version__ = "0.1.0"
