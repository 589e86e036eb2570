"""phala_agents.worker."""

__all__: list[str] = []
