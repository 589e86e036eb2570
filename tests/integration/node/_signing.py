"""Sign extrinsics for the dev runtime with the sr25519 bindings directly (fast, for load tests).

Layout: v4 signed, MultiAddress::Id, MultiSignature::Sr25519, extra = era (immortal) ++
Compact<nonce> ++ Compact<tip> ++ CheckMetadataHash mode 0; additional = spec_version ++
transaction_version ++ genesis ++ genesis ++ None.
"""

from __future__ import annotations

import sr25519
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.scale import blake2_256, encode_compact


class FastSigner:
    def __init__(self, s: SubstrateInterface) -> None:
        s.init_runtime()
        self.genesis = bytes.fromhex(s.get_block_hash(0)[2:])
        self.spec = s.runtime_version
        self.tx_version = s.transaction_version
        template = s.compose_call(
            "Balances", "transfer_allow_death", {"dest": "0x" + bytes(32).hex(), "value": 1}
        )
        self._transfer = bytes(template.data.data)
        assert self._transfer[2:35] == b"\x00" + bytes(32)
        self._remark = bytes(s.compose_call("System", "remark", {"remark": "0x00"}).data.data)

    def transfer_call(self, dest: bytes, value: int) -> bytes:
        return self._transfer[:3] + dest + encode_compact(value)

    def remark_call(self) -> bytes:
        return self._remark

    def sign(
        self,
        pair: Keypair,
        nonce: int,
        call: bytes,
        *,
        genesis: bytes | None = None,
        spec: int | None = None,
        corrupt_signature: bool = False,
    ) -> str:
        extra = b"\x00" + encode_compact(nonce) + encode_compact(0) + b"\x00"
        additional = (
            (self.spec if spec is None else spec).to_bytes(4, "little")
            + self.tx_version.to_bytes(4, "little")
            + (genesis or self.genesis)
            + self.genesis
            + b"\x00"
        )
        payload = call + extra + additional
        if len(payload) > 256:
            payload = blake2_256(payload)
        signature = sr25519.sign((pair.public_key, pair.private_key), payload)
        if corrupt_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        body = b"\x84\x00" + pair.public_key + b"\x01" + signature + extra + call
        return "0x" + (encode_compact(len(body)) + body).hex()
