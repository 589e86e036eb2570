"""phala-agents: AI agents that behave like smart contracts."""

__version__ = "0.1.0"
