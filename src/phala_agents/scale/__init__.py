"""phala_agents.scale."""

__all__: list[str] = []
