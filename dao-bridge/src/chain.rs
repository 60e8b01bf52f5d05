//! Connection to an Ethereum JSON-RPC endpoint that is checked to serve the expected chain.
//!
//! Every operation of this crate first runs [`Chain::check`], which asks the endpoint for
//! its chain id and refuses to go on when it differs from the configured one; transactions
//! are additionally signed for the configured chain id (EIP-155), so a node that changes its
//! answer mid-way cannot get them replayed on another chain.

use std::time::Duration;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{DaoError, Result};
use crate::revert;
use crate::signer::Signer;

/// Chain id of the local dev chain (anvil's default).
pub const DEVNET_CHAIN_ID: u64 = 31337;
/// RPC URL of the local dev chain that `colony dao devnet` starts by default.
pub const DEVNET_RPC_URL: &str = "http://127.0.0.1:8545";

/// How long one HTTP request to the endpoint may take before it counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which chain to talk to: the endpoint and the chain id it must serve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// JSON-RPC endpoint (`http://…`; `https://…` needs the crate feature `https`).
    pub rpc_url: String,
    /// The chain id the endpoint must report; anything else is refused.
    pub chain_id: u64,
}

impl Default for ChainConfig {
    /// The local dev chain: [`DEVNET_RPC_URL`], [`DEVNET_CHAIN_ID`].
    fn default() -> Self {
        Self {
            rpc_url: DEVNET_RPC_URL.to_owned(),
            chain_id: DEVNET_CHAIN_ID,
        }
    }
}

/// The receipt of one transaction this crate sent, for reports and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// What the transaction did (e.g. `deploy DatasetToken`, `vote`).
    pub action: String,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Gas used by the transaction.
    pub gas_used: u64,
    /// What the sender paid for it in wei: gas used × effective gas price.
    #[serde(with = "crate::governance::u256_dec", default)]
    pub fee: alloy::primitives::U256,
    /// Block the transaction was mined in.
    pub block: u64,
    /// The contract it created, for deployments.
    pub contract_address: Option<Address>,
}

/// A connection to an endpoint that serves the expected chain, with an optional signing key.
///
/// Cheap to clone. `Debug` shows the endpoint, chain id and sender address, never the key.
#[derive(Clone)]
pub struct Chain {
    provider: DynProvider,
    config: ChainConfig,
    sender: Option<Address>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("rpc_url", &self.config.rpc_url)
            .field("chain_id", &self.config.chain_id)
            .field("sender", &self.sender)
            .finish()
    }
}

impl Chain {
    /// Connects read-only (no key) and checks the chain id.
    pub async fn connect(config: &ChainConfig) -> Result<Self> {
        let (client, url) = http_client(&config.rpc_url)?;
        let provider = ProviderBuilder::new().connect_reqwest(client, url).erased();
        let chain = Self {
            provider,
            config: config.clone(),
            sender: None,
        };
        chain.check().await?;
        Ok(chain)
    }

    /// Connects with `signer` as the sender of every transaction and checks the chain id.
    pub async fn connect_with_signer(config: &ChainConfig, signer: &Signer) -> Result<Self> {
        let (client, url) = http_client(&config.rpc_url)?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .with_chain_id(config.chain_id)
            .wallet(EthereumWallet::from(signer.local().clone()))
            .connect_reqwest(client, url)
            .erased();
        let chain = Self {
            provider,
            config: config.clone(),
            sender: Some(signer.address()),
        };
        chain.check().await?;
        Ok(chain)
    }

    /// Asks the endpoint for its chain id; errors when it is unreachable or serves another chain.
    pub async fn check(&self) -> Result<()> {
        let actual = self
            .provider
            .get_chain_id()
            .await
            .map_err(|e| self.rpc_error("reading the chain id", e))?;
        if actual != self.config.chain_id {
            return Err(DaoError::ChainIdMismatch {
                url: self.shown_url(),
                expected: self.config.chain_id,
                actual,
            });
        }
        Ok(())
    }

    /// The provider, after [`Chain::check`] passed. Every call path of this crate goes through here.
    pub(crate) async fn checked(&self) -> Result<&DynProvider> {
        self.check().await?;
        Ok(&self.provider)
    }

    /// The endpoint and chain id.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The chain id (checked at connect time and before every operation).
    pub fn chain_id(&self) -> u64 {
        self.config.chain_id
    }

    /// The RPC URL.
    pub fn rpc_url(&self) -> &str {
        &self.config.rpc_url
    }

    /// The address transactions are sent from, if a key was given.
    pub fn sender(&self) -> Option<Address> {
        self.sender
    }

    /// The endpoint as error messages show it (API keys in the path or query hidden).
    fn shown_url(&self) -> String {
        shown_url(&self.config.rpc_url)
    }

    /// `text` with the full endpoint URL (which HTTP errors quote) replaced by [`Self::shown_url`].
    fn redact(&self, text: String) -> String {
        let full = &self.config.rpc_url;
        let normalised = reqwest::Url::parse(full)
            .map(|u| u.to_string())
            .unwrap_or_default();
        let shown = self.shown_url();
        let mut out = text;
        for variant in [normalised.as_str(), full.as_str()] {
            if !variant.is_empty() {
                out = out.replace(variant, &shown);
            }
        }
        out
    }

    /// The sender, or [`DaoError::NoSigner`] naming `action`.
    pub(crate) fn require_sender(&self, action: &str) -> Result<Address> {
        self.sender.ok_or_else(|| DaoError::NoSigner {
            action: action.to_owned(),
        })
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64> {
        let p = self.checked().await?;
        p.get_block_number()
            .await
            .map_err(|e| self.rpc_error("reading the block number", e))
    }

    /// The timestamp of the latest block (seconds since the Unix epoch).
    pub async fn latest_timestamp(&self) -> Result<u64> {
        let p = self.checked().await?;
        let block = p
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| self.rpc_error("reading the latest block", e))?;
        Ok(block.map(|b| b.header.timestamp).unwrap_or_default())
    }

    /// Turns a JSON-RPC error into a [`DaoError`] that names the endpoint.
    pub(crate) fn rpc_error(&self, action: &str, e: RpcError<TransportErrorKind>) -> DaoError {
        match e {
            RpcError::Transport(kind) => {
                let mut detail = self.redact(transport_detail(&kind));
                if detail.to_lowercase().contains("certificate") {
                    detail.push_str(
                        " (the endpoint's TLS certificate is not trusted here; if it comes from \
                         a private CA, point SSL_CERT_FILE at that CA's PEM file)",
                    );
                }
                DaoError::RpcUnreachable {
                    url: self.shown_url(),
                    detail,
                }
            }
            RpcError::ErrorResp(ref resp) => match resp.as_revert_data() {
                Some(data) => revert::decode(action, &data),
                None => DaoError::Rpc {
                    action: action.to_owned(),
                    url: self.shown_url(),
                    detail: resp.to_string(),
                },
            },
            RpcError::DeserError { .. } => DaoError::Rpc {
                action: action.to_owned(),
                url: self.shown_url(),
                detail: format!(
                    "the endpoint did not answer in JSON-RPC ({e}); is it an Ethereum node?"
                ),
            },
            other => DaoError::Rpc {
                action: action.to_owned(),
                url: self.shown_url(),
                detail: other.to_string(),
            },
        }
    }

    /// Turns a contract-call error into a [`DaoError`], decoding revert data.
    pub(crate) fn contract_error(&self, action: &str, e: alloy::contract::Error) -> DaoError {
        if let Some(data) = e.as_revert_data() {
            return revert::decode(action, &data);
        }
        match e {
            alloy::contract::Error::TransportError(t) => self.rpc_error(action, t),
            alloy::contract::Error::PendingTransactionError(
                alloy::providers::PendingTransactionError::TransportError(t),
            ) => self.rpc_error(action, t),
            other => DaoError::Rpc {
                action: action.to_owned(),
                url: self.shown_url(),
                detail: other.to_string(),
            },
        }
    }

    /// Sends a contract call as a transaction and waits for its receipt.
    pub(crate) async fn send<P: Provider, D: CallDecoder>(
        &self,
        action: &str,
        call: CallBuilder<P, D>,
    ) -> Result<TxRecord> {
        self.send_with_receipt(action, call).await.map(|(tx, _)| tx)
    }

    /// Like [`Chain::send`], also returning the receipt (for its logs).
    pub(crate) async fn send_with_receipt<P: Provider, D: CallDecoder>(
        &self,
        action: &str,
        call: CallBuilder<P, D>,
    ) -> Result<(TxRecord, TransactionReceipt)> {
        self.require_sender(action)?;
        self.check().await?;
        let pending = call
            .send()
            .await
            .map_err(|e| self.contract_error(action, e))?;
        let receipt = self.wait_for_receipt(action, *pending.tx_hash()).await?;
        if !receipt.status() {
            return Err(DaoError::TxFailed {
                action: action.to_owned(),
                tx_hash: receipt.transaction_hash,
            });
        }
        let tx = TxRecord {
            action: action.to_owned(),
            tx_hash: receipt.transaction_hash,
            gas_used: receipt.gas_used,
            fee: alloy::primitives::U256::from(receipt.gas_used)
                * alloy::primitives::U256::from(receipt.effective_gas_price),
            block: receipt.block_number.unwrap_or_default(),
            contract_address: receipt.contract_address,
        };
        Ok((tx, receipt))
    }
}

impl Chain {
    /// Polls for the receipt of `tx_hash`: quickly at first (a dev chain mines at once), then
    /// backing off to every 2 s, for up to [`RECEIPT_TIMEOUT`].
    async fn wait_for_receipt(&self, action: &str, tx_hash: B256) -> Result<TransactionReceipt> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let found = self
                .provider
                .get_transaction_receipt(tx_hash)
                .await
                .map_err(|e| self.rpc_error(action, e))?;
            if let Some(receipt) = found {
                return Ok(receipt);
            }
            if started.elapsed() > RECEIPT_TIMEOUT {
                return Err(DaoError::Rpc {
                    action: action.to_owned(),
                    url: self.shown_url(),
                    detail: format!(
                        "transaction {tx_hash} was sent but not mined within {} s; it may still \
                         be mined later, so check it before sending again",
                        RECEIPT_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// How long to wait for a sent transaction to be mined.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// An HTTP client with timeouts, and the parsed URL; refuses schemes this build cannot speak.
fn http_client(rpc_url: &str) -> Result<(reqwest::Client, reqwest::Url)> {
    let url = reqwest::Url::parse(rpc_url).map_err(|e| DaoError::InvalidRpcUrl {
        url: rpc_url.to_owned(),
        reason: format!("{e}; expected something like {DEVNET_RPC_URL}"),
    })?;
    match url.scheme() {
        "http" => {}
        "https" if cfg!(feature = "https") => {}
        "https" => {
            return Err(DaoError::InvalidRpcUrl {
                url: shown_url(rpc_url),
                reason: "this build of colony has no TLS; rebuild with the `https` feature of \
                         colony-dao-bridge, or use an http:// endpoint"
                    .to_owned(),
            });
        }
        other => {
            return Err(DaoError::InvalidRpcUrl {
                url: shown_url(rpc_url),
                reason: format!("scheme `{other}` is not supported; use http:// (or https://)"),
            });
        }
    }
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| DaoError::InvalidRpcUrl {
            url: shown_url(rpc_url),
            reason: format!("cannot build an HTTP client: {e}"),
        })?;
    Ok((client, url))
}

/// `url` for messages: hosted endpoints often carry an API key in the path, the query or the
/// user info, so only scheme, host and port are shown when there is more than that.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let bare = u.path() == "/"
                && u.query().is_none()
                && u.username().is_empty()
                && u.password().is_none();
            if bare {
                url.trim_end_matches('/').to_owned()
            } else {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or(""))
            }
        }
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// A transport error with its causes, e.g. "connection refused".
fn transport_detail(kind: &TransportErrorKind) -> String {
    let mut detail = kind.to_string();
    let mut source = std::error::Error::source(kind);
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = s.source();
    }
    detail
}

/// Blocks per `eth_getLogs` request; public endpoints cap the range of one request.
const LOG_CHUNK: u64 = 10_000;

impl Chain {
    /// All logs matching `filter` in blocks `from..=to`, asked for in chunks.
    pub(crate) async fn logs(
        &self,
        action: &str,
        filter: &alloy::rpc::types::Filter,
        from: u64,
        to: u64,
    ) -> Result<Vec<alloy::rpc::types::Log>> {
        let p = self.checked().await?;
        let mut out = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(LOG_CHUNK - 1));
            let f = filter.clone().from_block(start).to_block(end);
            let mut logs = p
                .get_logs(&f)
                .await
                .map_err(|e| self.rpc_error(action, e))?;
            out.append(&mut logs);
            start = end + 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn api_keys_in_urls_are_not_shown() {
        assert_eq!(shown_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(
            shown_url("https://eth.example/v3/SECRETKEY"),
            "https://eth.example/…"
        );
        assert_eq!(
            shown_url("https://u:SECRET@eth.example:8443/"),
            "https://eth.example:8443/…"
        );
        assert_eq!(shown_url("http://h/?key=SECRET"), "http://h/…");
    }
}
