//! argon2id password hashing behind the `PasswordHasher` port. Hashes run on tokio's
//! blocking pool, at most `max_concurrent` at a time, so a login flood can neither stall
//! the async runtime nor exhaust memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use auth_ports::{HashError, Password, PasswordHash, PasswordHasher, Verification};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Argon2Config;

/// The argon2id adapter: version 0x13, the configured m/t/p, a 16-byte salt from the OS
/// RNG, PHC strings in and out.
pub struct Argon2PasswordHasher {
    inner: Arc<Inner>,
    /// One permit per hash allowed to run; held until the blocking work ends, even when
    /// the caller has gone away.
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
}

/// argon2 with the configured parameters and its reusable working memory.
struct Engine {
    argon2: Argon2<'static>,
    params: Params,
    /// argon2's working memory, allocated once per concurrent slot and reused: a fresh
    /// 19 MiB allocation per hash would be kept by the allocator of each blocking thread
    /// that ever hashed, and peak memory would grow with the thread count, not the slots.
    memory: Mutex<Vec<Vec<Block>>>,
}

/// What the blocking closures need; shared so each hash clones an `Arc`, not the context.
struct Inner {
    engine: Engine,
    /// Verified against when there is no stored hash, so unknown users cost a full hash.
    dummy: Phc,
}

impl std::fmt::Debug for Argon2PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2PasswordHasher")
            .field("params", &self.inner.engine.params)
            .field("available_permits", &self.permits.available_permits())
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
    }
}

impl Argon2PasswordHasher {
    /// Builds the hasher and its dummy hash.
    ///
    /// `max_concurrent` bounds the hashes running at once (pass the number of CPUs); each
    /// holds `memory_kib` KiB. A call that waits longer than `queue_timeout` for a slot
    /// answers [`HashError::Busy`].
    ///
    /// # Errors
    /// [`HashError::Failed`] when argon2 rejects the parameters, `max_concurrent` is 0,
    /// or the OS RNG fails.
    pub fn new(
        config: &Argon2Config,
        max_concurrent: usize,
        queue_timeout: Duration,
    ) -> Result<Self, HashError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| HashError::Failed(format!("invalid argon2 parameters: {e}")))?;
        if max_concurrent == 0 {
            return Err(HashError::Failed(
                "at least one concurrent password hash must be allowed".into(),
            ));
        }
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy = dummy_phc(&params)?;
        let engine = Engine {
            argon2,
            params,
            memory: Mutex::new(Vec::new()),
        };
        Ok(Self {
            inner: Arc::new(Inner { engine, dummy }),
            permits: Arc::new(Semaphore::new(max_concurrent.min(Semaphore::MAX_PERMITS))),
            queue_timeout,
        })
    }

    /// Runs `work` on the blocking pool once a slot is free; the slot is released when
    /// `work` returns, not when the caller stops waiting.
    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, HashError> + Send + 'static,
    {
        let permit = self.acquire().await?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&inner)
        })
        .await
        .map_err(|e| HashError::Failed(format!("the hashing worker died: {e}")))?
    }

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, HashError> {
        match tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(HashError::Failed("the hasher is shut down".into())),
            Err(_elapsed) => Err(HashError::Busy),
        }
    }
}

/// A PHC string with the configured parameters, a random salt and a random output: checking
/// a password against it costs one full hash, like a real check, and never matches (the
/// output is 256 random bits, not the hash of anything). Nothing is hashed at start-up, so
/// no working memory is taken before the first login.
fn dummy_phc(params: &Params) -> Result<Phc, HashError> {
    let failed =
        |e: &dyn std::fmt::Display| HashError::Failed(format!("cannot make the dummy hash: {e}"));
    let mut salt = [0u8; 16];
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
    getrandom::fill(&mut output).map_err(|e| failed(&e))?;
    Ok(Phc {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    })
}

impl Engine {
    /// Runs argon2 with `argon2`'s parameters into `out`, on a reused memory buffer.
    fn compute(
        &self,
        argon2: &Argon2<'_>,
        blocks: usize,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        let lock = |m: &Mutex<Vec<Vec<Block>>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop()
        };
        let mut buffer = lock(&self.memory).unwrap_or_default();
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::new());
        }
        let result =
            argon2.hash_password_into_with_memory(password, salt, out, &mut buffer[..blocks]);
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(buffer);
        result
    }

    /// A new PHC string for `password` with the configured parameters and a fresh salt.
    fn hash(&self, password: &[u8]) -> Result<PasswordHash, HashError> {
        let failed =
            |e: &dyn std::fmt::Display| HashError::Failed(format!("cannot hash the password: {e}"));
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.compute(
            &self.argon2,
            self.params.block_count(),
            password,
            &salt,
            &mut out,
        )
        .map_err(|e| failed(&e))?;
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(PasswordHash::new(phc.to_string()))
    }

    /// Whether `password` produces `phc`'s output (compared in constant time).
    fn matches(&self, password: &[u8], phc: &Phc) -> Result<bool, HashError> {
        let malformed = |e: &dyn std::fmt::Display| {
            HashError::Failed(format!("the stored password hash is malformed: {e}"))
        };
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|e| malformed(&e))?;
        let version = phc
            .version
            .map_or(Ok(Version::V0x10), Version::try_from)
            .map_err(|e| malformed(&e))?;
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return Err(malformed(&"no salt or no hash"));
        };
        let stored = Params::try_from(phc).map_err(|e| malformed(&e))?;
        let params = Params::new(
            stored.m_cost(),
            stored.t_cost(),
            stored.p_cost(),
            Some(expected.len()),
        )
        .map_err(|e| malformed(&e))?;
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        self.compute(&argon2, blocks, password, salt.as_ref(), &mut out)
            .map_err(|e| malformed(&e))?;
        let computed = Output::new(&out).map_err(|e| malformed(&e))?;
        Ok(computed == *expected)
    }

    fn same_cost(&self, stored: &Params) -> bool {
        let len = |p: &Params| p.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        stored.m_cost() == self.params.m_cost()
            && stored.t_cost() == self.params.t_cost()
            && stored.p_cost() == self.params.p_cost()
            && len(stored) == len(&self.params)
    }
}

impl Inner {
    fn verify(&self, password: &[u8], stored: Option<&str>) -> Result<Verification, HashError> {
        let Some(stored) = stored else {
            // Same work as a real check; the outcome is ignored on purpose.
            let _ = self.engine.matches(password, &self.dummy);
            return Ok(Verification::Mismatch);
        };
        // Error messages name what is wrong, never the stored string itself.
        let malformed = |e: &dyn std::fmt::Display| {
            HashError::Failed(format!("the stored password hash is malformed: {e}"))
        };
        let phc = Phc::new(stored).map_err(|e| malformed(&e))?;
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|e| malformed(&e))?;
        let stored_params = Params::try_from(&phc).map_err(|e| malformed(&e))?;
        if !self.engine.matches(password, &phc)? {
            return Ok(Verification::Mismatch);
        }
        Ok(Verification::Match {
            needs_rehash: algorithm != Algorithm::Argon2id
                || phc.version != Some(Version::V0x13.into())
                || !self.engine.same_cost(&stored_params),
        })
    }
}

#[async_trait::async_trait]
impl PasswordHasher for Argon2PasswordHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.expose().to_owned();
        self.run(move |inner| inner.engine.hash(password.as_bytes()))
            .await
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<PasswordHash>,
    ) -> Result<Verification, HashError> {
        let password = password.expose().to_owned();
        self.run(move |inner| {
            inner.verify(password.as_bytes(), hash.as_ref().map(PasswordHash::expose))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    fn config(memory_kib: u32, iterations: u32) -> Argon2Config {
        Argon2Config {
            memory_kib,
            iterations,
            parallelism: 1,
        }
    }

    fn hasher(memory_kib: u32, iterations: u32) -> Argon2PasswordHasher {
        Argon2PasswordHasher::new(&config(memory_kib, iterations), 2, Duration::from_secs(5))
            .unwrap()
    }

    fn password(s: &str) -> Password {
        Password::new(s.to_owned())
    }

    #[tokio::test]
    async fn hash_then_verify_matches_without_rehash() {
        let hasher = hasher(1024, 1);
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.expose().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            hasher
                .verify(&password("correct horse"), Some(hash))
                .await
                .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_salt() {
        let hasher = hasher(1024, 1);
        let a = hasher.hash(&password("same")).await.unwrap();
        let b = hasher.hash(&password("same")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn wrong_password_mismatches() {
        let hasher = hasher(1024, 1);
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert_eq!(
            hasher
                .verify(&password("wrong horse"), Some(hash))
                .await
                .unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn no_stored_hash_mismatches() {
        let hasher = hasher(1024, 1);
        assert_eq!(
            hasher.verify(&password("anything"), None).await.unwrap(),
            Verification::Mismatch
        );
        assert_eq!(
            hasher.verify(&password(""), None).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn other_params_need_a_rehash() {
        let current = hasher(1024, 1);
        for old in [hasher(2048, 1), hasher(1024, 2)] {
            let hash = old.hash(&password("pw")).await.unwrap();
            assert_eq!(
                current.verify(&password("pw"), Some(hash)).await.unwrap(),
                Verification::Match { needs_rehash: true }
            );
        }
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings() {
        let ours = hasher(1024, 1).hash(&password("pw")).await.unwrap();
        let phc = Phc::new(ours.expose()).unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        assert!(
            reference.verify_password(b"pw", &phc).is_ok(),
            "the argon2 crate accepts our hash"
        );
        assert!(reference.verify_password(b"other", &phc).is_err());
    }

    #[tokio::test]
    async fn other_algorithm_or_version_needs_a_rehash() {
        let current = hasher(1024, 1);
        let params = Params::new(1024, 1, 1, None).unwrap();
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let phc = Argon2::new(algorithm, version, params.clone())
                .hash_password(b"pw")
                .unwrap()
                .to_string();
            assert_eq!(
                current
                    .verify(&password("pw"), Some(PasswordHash::new(phc)))
                    .await
                    .unwrap(),
                Verification::Match { needs_rehash: true }
            );
        }
    }

    #[tokio::test]
    async fn malformed_hash_fails_without_echoing_it() {
        let hasher = hasher(1024, 1);
        for stored in [
            "not-a-phc-string",
            "$argon2id$v=19$m=1024,t=1,p=1$",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
        ] {
            let err = hasher
                .verify(&password("pw"), Some(PasswordHash::new(stored.into())))
                .await
                .unwrap_err();
            match err {
                HashError::Failed(message) => assert!(!message.contains(stored), "{message}"),
                HashError::Busy => panic!("expected Failed for {stored}"),
            }
        }
    }

    #[test]
    fn invalid_params_are_rejected() {
        let timeout = Duration::from_secs(1);
        assert!(Argon2PasswordHasher::new(&config(4, 1), 1, timeout).is_err());
        assert!(Argon2PasswordHasher::new(&config(1024, 0), 1, timeout).is_err());
        assert!(Argon2PasswordHasher::new(&config(1024, 1), 0, timeout).is_err());
    }

    #[tokio::test]
    async fn a_saturated_hasher_answers_busy_then_recovers() {
        let hasher =
            Argon2PasswordHasher::new(&config(1024, 1), 1, Duration::from_millis(50)).unwrap();
        // Hold the only slot, as a long-running hash would.
        let held = Arc::clone(&hasher.permits).acquire_owned().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            hasher.hash(&password("pw")).await,
            Err(HashError::Busy)
        ));
        assert!(matches!(
            hasher.verify(&password("pw"), None).await,
            Err(HashError::Busy)
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(held);
        assert!(hasher.hash(&password("pw")).await.is_ok());
    }
}
