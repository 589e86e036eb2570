"""phala_agents.attestation.sev."""

__all__: list[str] = []
