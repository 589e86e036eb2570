"""AMD product lines and TCB_VERSION layouts: a leaf module shared by ``sev``, ``trust`` and ``kds``.

(Factored out of ``sev/abi.py`` to avoid an import loop, as structlog's ``exceptions.py`` is.)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ProductLine(enum.StrEnum):
    """AMD EPYC product lines with SEV-SNP; the names KDS uses in its URLs."""

    MILAN = "Milan"
    GENOA = "Genoa"
    TURIN = "Turin"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcbVersion:
    """A decoded TCB_VERSION. ``fmc`` exists on Turin only (its layout differs)."""

    bootloader: int
    tee: int
    snp: int
    microcode: int
    fmc: int | None = None

    def components(self) -> dict[str, int]:
        out = {"bootloader": self.bootloader, "tee": self.tee, "snp": self.snp, "microcode": self.microcode}
        if self.fmc is not None:
            out["fmc"] = self.fmc
        return out

    def at_least(self, other: TcbVersion) -> list[str]:
        """The components below ``other``'s (empty when every component is >=)."""
        mine = self.components()
        return [name for name, floor in other.components().items() if mine.get(name, 0) < floor]

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.components().items())


def decode_tcb(raw: int, product: ProductLine | None) -> TcbVersion:
    """Split a 64-bit TCB_VERSION. Milan/Genoa: BL, TEE, 4 reserved, SNP, UCODE (byte 0 first);
    Turin: FMC, BL, TEE, SNP, 3 reserved, UCODE."""
    b = raw.to_bytes(8, "little")
    if product is ProductLine.TURIN:
        return TcbVersion(fmc=b[0], bootloader=b[1], tee=b[2], snp=b[3], microcode=b[7])
    return TcbVersion(bootloader=b[0], tee=b[1], snp=b[6], microcode=b[7])


def encode_tcb(tcb: TcbVersion, product: ProductLine | None) -> int:
    """The inverse of ``decode_tcb``."""
    if product is ProductLine.TURIN:
        b = bytes([tcb.fmc or 0, tcb.bootloader, tcb.tee, tcb.snp, 0, 0, 0, tcb.microcode])
    else:
        b = bytes([tcb.bootloader, tcb.tee, 0, 0, 0, 0, tcb.snp, tcb.microcode])
    return int.from_bytes(b, "little")
