//! alloy bindings generated from the committed artifacts in `dao-bridge/artifacts/`
//! (abi + bytecode), so building this crate needs no Solidity compiler and no Node.

#![allow(missing_docs, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc, all_derives)]
    DatasetRegistry,
    "artifacts/DatasetRegistry.json"
);

alloy::sol!(
    #[sol(rpc, all_derives)]
    DatasetToken,
    "artifacts/DatasetToken.json"
);

alloy::sol!(
    #[sol(rpc, all_derives)]
    DatasetGovernor,
    "artifacts/DatasetGovernor.json"
);

alloy::sol!(
    #[sol(rpc, all_derives)]
    TimelockController,
    "artifacts/TimelockController.json"
);

alloy::sol!(
    #[sol(rpc, all_derives)]
    TrainingMarket,
    "artifacts/TrainingMarket.json"
);
