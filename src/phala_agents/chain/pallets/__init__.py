"""The pallets of the dev runtime: the standard ones (System, Timestamp, Balances,
TransactionPayment, Sudo) and ours (AgentRegistry, Workers, Billing)."""

from phala_agents.chain.pallets.agent_registry import (
    AgentRegistry,
    AgentRegistryConfig,
    AgentRegistryWeightInfo,
    AgentRegistryWeights,
)
from phala_agents.chain.pallets.balances import (
    Balances,
    BalancesConfig,
    BalancesWeightInfo,
    BalancesWeights,
)
from phala_agents.chain.pallets.billing import Billing, BillingConfig, BillingWeightInfo, BillingWeights
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
from phala_agents.chain.pallets.workers import Workers, WorkersConfig, WorkersWeightInfo, WorkersWeights

__all__ = [
    "AgentRegistry",
    "AgentRegistryConfig",
    "AgentRegistryWeightInfo",
    "AgentRegistryWeights",
    "Balances",
    "BalancesConfig",
    "BalancesWeightInfo",
    "BalancesWeights",
    "Billing",
    "BillingConfig",
    "BillingWeightInfo",
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
    "WorkersConfig",
    "WorkersWeightInfo",
    "WorkersWeights",
]
