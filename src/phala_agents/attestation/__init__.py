"""phala_agents.attestation."""

__all__: list[str] = []
