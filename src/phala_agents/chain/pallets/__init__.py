"""phala_agents.chain.pallets."""

__all__: list[str] = []
