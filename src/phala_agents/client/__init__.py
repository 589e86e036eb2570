"""phala_agents.client."""

__all__: list[str] = []
