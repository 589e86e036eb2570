"""One worker process: chain sync + HTTP gateway + settlement loop over one ledger.

``WorkerService(options).serve()`` runs until interrupted; ``start()``/``stop()`` run it in
threads (tests, the demo). Start order: the ledger opens (its unsettled receipts are re-booked in
the meter by the gateway before it serves), the chain sync loads agents at the finalized head,
the settlement loop resubmits whatever a previous process left ``submitted``, then uvicorn serves.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import uvicorn

from phala_agents.client import ClusterKey
from phala_agents.worker.authorization import Sr25519Signer
from phala_agents.worker.ledger import Ledger, LedgerDurability
from phala_agents.worker.meter import GasMeter
from phala_agents.worker.server import Gateway, GatewayConfig, build_app
from phala_agents.worker.settlement import SettlementConfig, Settler
from phala_agents.worker.sync import ChainSync
from phala_agents.worker.upstream import UpstreamModel

__all__ = ["WorkerOptions", "WorkerService"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """Everything ``phala-agent worker run`` decides. ``port=0`` picks a free port."""

    chain_url: str
    keypair: Sr25519Signer
    cluster_key: ClusterKey
    upstreams: Sequence[UpstreamModel]
    ledger_path: Path
    # "process": WAL + synchronous=NORMAL (survives kill -9; an OS crash may lose the last
    # receipts, which costs the operator, not the caller); "power": FULL, an fsync per commit.
    ledger_durability: LedgerDurability = "process"
    host: str = "127.0.0.1"
    port: int = 8080
    settlement: SettlementConfig = field(default_factory=SettlementConfig)
    settle: bool = True
    # See worker/busy_poll.py: poll instead of idling for this long around each call; 0 = off.
    busy_poll_us: int = 500

    def __repr__(self) -> str:
        return (
            f"WorkerOptions(chain_url={self.chain_url!r}, worker=0x{bytes(self.keypair.public_key).hex()}, "
            f"upstreams={[u.name for u in self.upstreams]}, ledger={str(self.ledger_path)!r} "
            f"({self.ledger_durability}), "
            f"port={self.port})"
        )


class WorkerService:
    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.meter = GasMeter()
        self.ledger = Ledger(options.ledger_path, durability=options.ledger_durability)
        worker = bytes(options.keypair.public_key)
        self.sync = ChainSync(url=options.chain_url, meter=self.meter, ledger=self.ledger, worker=worker)
        self.settler = (
            Settler(
                url=options.chain_url,
                keypair=options.keypair,
                ledger=self.ledger,
                meter=self.meter,
                config=options.settlement,
            )
            if options.settle
            else None
        )
        self.gateway: Gateway | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""

    def _prepare(self, *, tune_gc: bool) -> uvicorn.Server:
        self.sync.start()
        gateway = Gateway(
            GatewayConfig(
                keypair=self.options.keypair,
                cluster_key=self.options.cluster_key,
                upstreams=self.options.upstreams,
                ss58_format=self.sync.ss58_format,
                dev_chain=self.sync.dev_chain,
                tune_gc=tune_gc,
                busy_poll_us=self.options.busy_poll_us,
            ),
            view=self.sync,
            meter=self.meter,
            ledger=self.ledger,
        )
        self.gateway = gateway
        if self.settler is not None:
            self.settler.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.options.host, self.options.port))
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            build_app(gateway),
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        return self._server

    def serve(self) -> None:
        """Run in the foreground until SIGINT/SIGTERM (uvicorn's handlers); tunes the process's GC."""
        server = self._prepare(tune_gc=True)
        assert self._socket is not None
        log.info("worker_serving", url=self.url, worker=f"0x{bytes(self.options.keypair.public_key).hex()}")
        try:
            server.run(sockets=[self._socket])
        finally:
            self._shutdown()

    def start(self, *, timeout: float = 30.0) -> str:
        """Serve in a thread; returns the base URL once uvicorn accepts connections."""
        server = self._prepare(tune_gc=False)  # in someone else's process: leave its GC alone
        thread = threading.Thread(target=server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                self.stop()
                raise RuntimeError("worker HTTP server did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._shutdown()

    def _shutdown(self) -> None:
        if self.settler is not None:
            self.settler.stop()
        self.sync.stop()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self.ledger.close()
