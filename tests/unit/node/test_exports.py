"""phala_agents.node re-exports its API with a sorted __all__."""

from __future__ import annotations

import phala_agents.node as node


def test_all_is_sorted_and_importable() -> None:
    assert node.__all__ == sorted(node.__all__)
    for name in node.__all__:
        assert getattr(node, name) is not None
