"""phala_agents.worker: the worker runtime (token estimates, gas meter, upstream client, ledger)."""

from phala_agents.worker.authorization import (
    AUTHORIZATION_HEADER,
    CallAuthorization,
    Receipt,
    ReceiptUsage,
    SignedAuthorization,
    SignedReceipt,
    Sr25519Signer,
    authorization_header,
    parse_authorization_header,
    settle_call_args,
    sign_authorization,
    sign_receipt,
    verify_authorization,
    verify_receipt,
)
from phala_agents.worker.call import (
    CallSpec,
    MeteredCall,
    MeteredResult,
    MeteredStream,
    ReceiptDraft,
    ReceiptSigner,
)
from phala_agents.worker.caller import WorkerInfo, canonical_json, request_hash, sign_request
from phala_agents.worker.fast_upstream import FastUpstreamClient
from phala_agents.worker.ledger import (
    Ledger,
    LedgerDurability,
    LedgerReceipt,
    NewReceipt,
    ReceiptState,
    ReceiptWriter,
)
from phala_agents.worker.meter import CallerId, Charge, GasMeter, Prices, Reservation, Usage
from phala_agents.worker.model_server import ModelServer, find_llama_server, find_model
from phala_agents.worker.server import Gateway, GatewayConfig, build_app
from phala_agents.worker.service import WorkerOptions, WorkerService
from phala_agents.worker.settlement import SettlementConfig, Settler
from phala_agents.worker.sync import ChainSync
from phala_agents.worker.tokens import (
    estimate_prompt_tokens,
    estimate_text_tokens,
    install_tiktoken_cache,
)
from phala_agents.worker.upstream import (
    ChatRequest,
    ChatStream,
    CompletionResult,
    Secret,
    StreamResult,
    UpstreamClient,
    UpstreamModel,
)
from phala_agents.worker.view import AgentRecord, ChainView, StaticChainView

__all__ = [
    "AUTHORIZATION_HEADER",
    "AgentRecord",
    "CallAuthorization",
    "CallSpec",
    "CallerId",
    "ChainSync",
    "ChainView",
    "Charge",
    "ChatRequest",
    "ChatStream",
    "CompletionResult",
    "FastUpstreamClient",
    "GasMeter",
    "Gateway",
    "GatewayConfig",
    "Ledger",
    "LedgerDurability",
    "LedgerReceipt",
    "MeteredCall",
    "MeteredResult",
    "MeteredStream",
    "ModelServer",
    "NewReceipt",
    "Prices",
    "Receipt",
    "ReceiptDraft",
    "ReceiptSigner",
    "ReceiptState",
    "ReceiptUsage",
    "ReceiptWriter",
    "Reservation",
    "Secret",
    "SettlementConfig",
    "Settler",
    "SignedAuthorization",
    "SignedReceipt",
    "Sr25519Signer",
    "StaticChainView",
    "StreamResult",
    "UpstreamClient",
    "UpstreamModel",
    "Usage",
    "WorkerInfo",
    "WorkerOptions",
    "WorkerService",
    "authorization_header",
    "build_app",
    "canonical_json",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "find_llama_server",
    "find_model",
    "install_tiktoken_cache",
    "parse_authorization_header",
    "request_hash",
    "settle_call_args",
    "sign_authorization",
    "sign_receipt",
    "sign_request",
    "verify_authorization",
    "verify_receipt",
]
