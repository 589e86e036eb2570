"""Type aliases shared by the client modules."""

from __future__ import annotations

from typing import Literal, TypeAlias

# A decoded SCALE value as substrate-interface hands it out: JSON-shaped Python data.
JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

# Which block a read is made at: the best block, the finalized block, or a block hash (0x...).
At: TypeAlias = str

# How long to follow a submitted extrinsic.
WaitFor: TypeAlias = Literal["inBlock", "finalized"]

BEST: At = "best"
FINALIZED: At = "finalized"
