"""Each attestation package re-exports its API with a sorted ``__all__`` (httpx test_exported_members)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["phala_agents.attestation", "phala_agents.attestation.sev"])
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for attr in exported:
        assert hasattr(module, attr), attr
    public = {k for k, v in vars(module).items() if not k.startswith("_") and not isinstance(v, type(module))}
    assert public <= set(exported) | {"annotations"}, public - set(exported)
