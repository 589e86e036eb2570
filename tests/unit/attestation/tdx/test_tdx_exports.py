"""phala_agents.attestation.tdx re-exports its API with a sorted, complete ``__all__``."""

from __future__ import annotations

import dataclasses
import types

import phala_agents.attestation.tdx as tdx


def test_all_sorted_and_complete() -> None:
    assert tdx.__all__ == sorted(tdx.__all__)
    for name in tdx.__all__:
        assert hasattr(tdx, name), name
    public = {
        k for k, v in vars(tdx).items() if not k.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public <= set(tdx.__all__) | {"annotations"}, public - set(tdx.__all__)
    for name in ("parse_quote", "load_collateral", "verify_quote", "validate_quote"):
        assert name in tdx.__all__
    for name in ("VerifyOptions", "Policy", "Quote", "Collateral", "VerifiedQuote"):
        assert name in tdx.__all__


def test_dataclasses_are_frozen_slots_kw_only() -> None:
    for cls in (tdx.VerifyOptions, tdx.Policy, tdx.Quote, tdx.Collateral, tdx.VerifiedQuote, tdx.TdReport):
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, cls
        assert "__slots__" in cls.__dict__, cls
        assert all(f.kw_only for f in dataclasses.fields(cls) if f.init), cls
