"""Run a dev node with the stub runtime in this process: ``python _stub_node_main.py BASE_PATH``.

Prints the WebSocket URL on stdout once it serves (like ``phala-agent node``); used by the
crash-recovery test, which SIGKILLs it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _stub_runtime import stub_backend

from phala_agents._logging import configure_logging
from phala_agents.node import DevNode, NodeConfig


async def main(base: Path) -> None:
    configure_logging(level="warning", json=True)
    node = DevNode(NodeConfig(base_path=base, rpc_port=0), stub_backend())
    await node.start()
    sys.stdout.write(node.ws_url + "\n")
    sys.stdout.flush()
    await node.stopped.wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
