"""Substrate's base-16 Patricia-Merkle state trie (sp-trie ``LayoutV1<BlakeTwo256>``).

``trie_root`` and ``ordered_trie_root`` hash a key set from scratch; ``StateTrie`` is the
persistent trie the node keeps per block, updated by path copying so that a block re-hashes only
the paths of the keys it changed; ``verify_read_proof`` checks what ``StateTrie.read_proof``
(Substrate's ``state_getReadProof``) returns. See docs/trie.md.
"""

from phala_agents.chain.trie._proof import verify_read_proof
from phala_agents.chain.trie._trie import (
    EMPTY_ROOT,
    StateTrie,
    StateVersion,
    ordered_trie_root,
    trie_root,
)

__all__ = [
    "EMPTY_ROOT",
    "StateTrie",
    "StateVersion",
    "ordered_trie_root",
    "trie_root",
    "verify_read_proof",
]
