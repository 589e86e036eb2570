"""phala_agents.chain.frame."""

__all__: list[str] = []
