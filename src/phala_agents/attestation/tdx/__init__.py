"""phala_agents.attestation.tdx."""

__all__: list[str] = []
