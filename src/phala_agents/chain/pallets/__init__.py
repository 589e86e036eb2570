"""The standard pallets of the dev runtime (System, Timestamp, Balances, TransactionPayment, Sudo)."""

from phala_agents.chain.pallets.agent_registry import AgentRegistry, AgentRegistryConfig
from phala_agents.chain.pallets.balances import (
    Balances,
    BalancesConfig,
    BalancesWeightInfo,
    BalancesWeights,
)
from phala_agents.chain.pallets.billing import Billing, BillingConfig, BillingWeights
from phala_agents.chain.pallets.sudo import Sudo, SudoConfig, SudoWeightInfo, SudoWeights
from phala_agents.chain.pallets.system import System, SystemConfig, SystemWeightInfo, SystemWeights
from phala_agents.chain.pallets.timestamp import (
    Timestamp,
    TimestampConfig,
    TimestampWeightInfo,
    TimestampWeights,
)
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
    "BalancesWeightInfo",
    "BalancesWeights",
    "Billing",
    "BillingConfig",
    "BillingWeights",
    "FeeParts",
    "Sudo",
    "SudoConfig",
    "SudoWeightInfo",
    "SudoWeights",
    "System",
    "SystemConfig",
    "SystemWeightInfo",
    "SystemWeights",
    "Timestamp",
    "TimestampConfig",
    "TimestampWeightInfo",
    "TimestampWeights",
    "TransactionPayment",
    "TransactionPaymentConfig",
    "Workers",
]
