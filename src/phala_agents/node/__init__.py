"""phala_agents.node."""

__all__: list[str] = []
