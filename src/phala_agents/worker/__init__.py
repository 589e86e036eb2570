"""phala_agents.worker: the worker runtime (token estimates, gas meter, upstream client, ledger)."""

from phala_agents.worker.call import (
    CallSpec,
    MeteredCall,
    MeteredResult,
    MeteredStream,
    ReceiptDraft,
    ReceiptSigner,
)
from phala_agents.worker.ledger import Ledger, LedgerReceipt, NewReceipt, ReceiptState, ReceiptWriter
from phala_agents.worker.meter import CallerId, Charge, GasMeter, Prices, Reservation, Usage
from phala_agents.worker.model_server import ModelServer, find_llama_server, find_model
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

__all__ = [
    "CallSpec",
    "CallerId",
    "Charge",
    "ChatRequest",
    "ChatStream",
    "CompletionResult",
    "GasMeter",
    "Ledger",
    "LedgerReceipt",
    "MeteredCall",
    "MeteredResult",
    "MeteredStream",
    "ModelServer",
    "NewReceipt",
    "Prices",
    "ReceiptDraft",
    "ReceiptSigner",
    "ReceiptState",
    "ReceiptWriter",
    "Reservation",
    "Secret",
    "StreamResult",
    "UpstreamClient",
    "UpstreamModel",
    "Usage",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "find_llama_server",
    "find_model",
    "install_tiktoken_cache",
]
