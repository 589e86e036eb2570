"""phala_agents.chain."""

__all__: list[str] = []
