"""The standard pallets of the dev runtime (System, Timestamp, Balances, TransactionPayment, Sudo)."""

from phala_agents.chain.pallets.agent_registry import AgentRegistry, AgentRegistryConfig
from phala_agents.chain.pallets.balances import Balances, BalancesConfig, BalancesWeights
from phala_agents.chain.pallets.billing import Billing, BillingConfig, BillingWeights
from phala_agents.chain.pallets.sudo import Sudo
from phala_agents.chain.pallets.system import System, SystemConfig
from phala_agents.chain.pallets.timestamp import Timestamp, TimestampConfig
from phala_agents.chain.pallets.transaction_payment import (
    FeeParts,
    TransactionPayment,
    TransactionPaymentConfig,
)
from phala_agents.chain.pallets.workers import Workers

__all__ = [
    "AgentRegistry",
    "AgentRegistryConfig",
    "Balances",
    "BalancesConfig",
    "BalancesWeights",
    "Billing",
    "BillingConfig",
    "BillingWeights",
    "FeeParts",
    "Sudo",
    "System",
    "SystemConfig",
    "Timestamp",
    "TimestampConfig",
    "TransactionPayment",
    "TransactionPaymentConfig",
    "Workers",
]
