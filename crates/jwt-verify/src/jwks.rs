//! The JWKS cache: authd's Ed25519 public keys by `kid`, fetched over HTTP, refreshed after
//! a max age, refetched once for an unknown `kid` (single-flight and rate-limited so that
//! garbage `kid`s cannot make a service hammer authd).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use reqwest::header::{CACHE_CONTROL, HeaderMap};
use serde::Deserialize;

use crate::error::{ConfigError, VerifyError};

/// authd's JWKS holds a handful of keys; anything much bigger is not a JWKS worth reading.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How the JWKS is cached and fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksOptions {
    /// At most one fetch per this interval, whatever the reason (unknown `kid`, stale
    /// set, retry after an error). Default 30 s.
    pub min_refetch_interval: Duration,
    /// How long a fetched set counts as fresh at most; a shorter `Cache-Control: max-age`
    /// of the response wins. Default 5 min.
    pub max_age: Duration,
    /// Timeout of one fetch, connect to last byte. Default 5 s.
    pub fetch_timeout: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            min_refetch_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// The keys last fetched and the bookkeeping of the fetches.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    /// `None` until the first successful fetch.
    fresh_until: Option<Instant>,
    /// Counts fetch attempts, so a caller that waited for another's fetch uses its result
    /// instead of fetching again.
    attempts: u64,
    last_attempt: Option<Instant>,
    last_failed: bool,
}

impl KeySet {
    fn is_fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|until| now < until)
    }

    /// A stale set is still used when a refresh is not allowed yet or failed: what authd
    /// published last beats refusing every request while authd is briefly unreachable.
    fn lookup(&self, kid: &str) -> Result<DecodingKey, VerifyError> {
        match self.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if self.last_failed => Err(VerifyError::KeysUnavailable),
            None => Err(VerifyError::UnknownKey),
        }
    }
}

/// Fetches and caches one JWKS URL.
pub(crate) struct JwksCache {
    url: reqwest::Url,
    client: reqwest::Client,
    options: JwksOptions,
    set: RwLock<KeySet>,
    /// Held for the duration of a fetch: concurrent misses share one fetch.
    fetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub(crate) fn new(url: &str, options: JwksOptions) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(url).map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
        // Whoever can change the JWKS in transit can mint tokens: plain http only on this
        // machine.
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        if !(url.scheme() == "https" || url.scheme() == "http" && loopback) {
            return Err(ConfigError::InvalidUrl(
                "the scheme must be https (http only on a loopback address)".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(options.fetch_timeout)
            // A redirect could lead to a downgrade or another host: the URL given is the
            // only source of keys.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Self {
            url,
            client,
            options,
            set: RwLock::new(KeySet::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key published under `kid`, fetching the JWKS when the set is stale or does not
    /// know `kid` and the rate limit allows it.
    pub(crate) async fn key_for(&self, kid: &str) -> Result<DecodingKey, VerifyError> {
        let seen_attempts = {
            let set = self.read();
            if set.is_fresh(Instant::now())
                && let Some(key) = set.keys.get(kid)
            {
                return Ok(key.clone());
            }
            set.attempts
        };
        let _fetching = self.fetching.lock().await;
        let may_fetch = {
            let set = self.read();
            set.attempts == seen_attempts
                && set
                    .last_attempt
                    .is_none_or(|at| at.elapsed() >= self.options.min_refetch_interval)
        };
        if may_fetch {
            self.refresh().await;
        }
        self.read().lookup(kid)
    }

    async fn refresh(&self) {
        let outcome = self.fetch().await;
        let now = Instant::now();
        let mut set = self.write();
        set.attempts += 1;
        set.last_attempt = Some(now);
        match outcome {
            Ok((keys, max_age)) => {
                // The new set replaces the old: keys authd stopped publishing stop verifying.
                set.keys = keys;
                // A configured max age too large for the clock means "until the next
                // unknown kid" rather than a panic.
                set.fresh_until = Some(now.checked_add(max_age).unwrap_or(now));
                set.last_failed = false;
            }
            Err(reason) => {
                tracing::warn!(url = %self.url, %reason, "could not fetch authd's JWKS");
                set.last_failed = true;
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Duration), FetchError> {
        let mut response = self.client.get(self.url.clone()).send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        // A `max-age` may shorten the configured freshness, never lengthen it: a proxy's
        // long max-age must not keep a withdrawn key verifying.
        let max_age = cache_max_age(response.headers())
            .map_or(self.options.max_age, |age| age.min(self.options.max_age));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let document: JwksDocument = serde_json::from_slice(&body)?;
        Ok((usable_keys(document.keys), max_age))
    }

    // The set is only ever replaced field by field under the lock, so a panic elsewhere
    // cannot leave it half-written: a poisoned lock is safe to keep using.
    fn read(&self) -> RwLockReadGuard<'_, KeySet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, KeySet> {
        self.set.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a fetch failed; logged, never shown to a client.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the body is over {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the body is not a JWKS: {0}")]
    Json(#[from] serde_json::Error),
}

/// Keys are read one by one so that a key of a type this crate does not use (say a
/// future RSA key) does not make the whole set unreadable.
#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

/// The Ed25519 signing keys with a `kid`; everything else is skipped, because the
/// verifier pins EdDSA and finds keys by `kid` only.
fn usable_keys(keys: Vec<serde_json::Value>) -> HashMap<String, DecodingKey> {
    keys.into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter(|jwk| {
            let ed25519 = matches!(
                &jwk.algorithm,
                AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519
            );
            let alg_ok = jwk
                .common
                .key_algorithm
                .is_none_or(|alg| alg == KeyAlgorithm::EdDSA);
            let use_ok = jwk
                .common
                .public_key_use
                .as_ref()
                .is_none_or(|key_use| *key_use == PublicKeyUse::Signature);
            ed25519 && alg_ok && use_ok
        })
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some((jwk.common.key_id?, key))
        })
        .collect()
}

/// `max-age` of a `Cache-Control` header. authd's blanket `no-store` is not a reason to
/// refetch on every request: the rate limit and the max age bound how stale keys get.
fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, seconds) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            seconds
                .trim()
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs)
        })
}
