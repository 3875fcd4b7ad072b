//! argon2id password hashing behind the `PasswordHasher` port. Hashes run on a few
//! dedicated threads (one per CPU), so a login flood can neither stall the async runtime
//! nor exhaust memory; the queue before them is measured for `/metrics`. Hashes other
//! systems made (`foreign_hashes`) are checked on the same threads.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use auth_ports::{HashError, Password, PasswordHash, PasswordHasher, Verification};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::oneshot;

use super::foreign_hashes::ForeignHash;
use crate::config::{Argon2Config, MAX_ARGON2_ITERATIONS, MAX_ARGON2_MEMORY_KIB};

/// The argon2id adapter: version 0x13, the configured m/t/p, a 16-byte salt from the OS
/// RNG, PHC strings in and out.
///
/// Each hashing thread takes the next job from one queue as soon as it finishes the last,
/// without a round trip through the async runtime: on a machine busy hashing, no core
/// waits between two hashes.
pub struct Argon2PasswordHasher {
    jobs: flume::Sender<Job>,
    params: Params,
    threads: usize,
    queue_timeout: Duration,
    metrics: Arc<HashQueueMetrics>,
}

/// What the hashing queue measures, for `/metrics`.
#[derive(Clone, Debug)]
pub struct HashQueueMetrics {
    /// Calls waiting for a hashing thread now (neither taken nor withdrawn).
    pub queued: Gauge,
    /// How long each call a hashing thread took had waited for it, in seconds.
    pub waited: Histogram,
    /// Calls answered [`HashError::Busy`], by `reason`: `queue_full` (refused at once)
    /// or `queue_timeout` (withdrawn after waiting the queue timeout).
    pub refused: Family<Refusal, Counter>,
}

/// The label of a refused call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Refusal {
    reason: &'static str,
}

const QUEUE_FULL: Refusal = Refusal {
    reason: "queue_full",
};
const QUEUE_TIMEOUT: Refusal = Refusal {
    reason: "queue_timeout",
};

impl HashQueueMetrics {
    fn new() -> Self {
        let refused = Family::default();
        // Both reasons from the start, so a rate over them is 0 rather than absent.
        drop(refused.get_or_create(&QUEUE_FULL));
        drop(refused.get_or_create(&QUEUE_TIMEOUT));
        Self {
            queued: Gauge::default(),
            // 1 ms … ~8 s: past the 5 s queue timeout a call is withdrawn, not taken.
            waited: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            refused,
        }
    }
}

/// Work for a hashing thread.
type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// Default queue length per hashing thread: at the default cost a hash takes 30–60 ms
/// of one core, so 64 queued calls are 2–4 s of work, inside the 5 s queue timeout; a
/// call beyond that would only wait to be refused.
const QUEUE_PER_THREAD: usize = 64;

/// Where a job stands: a caller that has waited `queue_timeout` withdraws it, unless a
/// hashing thread has taken it first (then the caller waits for the result).
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

/// One hashing thread's argon2: the configured parameters, the dummy hash, and the
/// working memory it reuses from hash to hash.
#[derive(Clone)]
struct Engine {
    argon2: Argon2<'static>,
    /// Verified against when there is no stored hash, so unknown users cost a full hash.
    dummy: Phc,
    memory: Memory,
    /// How long a check at the configured parameters takes, shared by all threads.
    typical: Arc<TypicalCheck>,
}

/// A moving average of the time a check at the configured parameters takes (nanoseconds;
/// 0 before the first). A check of any other hash (a foreign one, an argon2 hash of other
/// parameters) that took less is made to last as long, so how long a wrong password takes
/// to refuse does not tell an unknown email from an imported account.
#[derive(Debug, Default)]
struct TypicalCheck(AtomicU64);

impl TypicalCheck {
    fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    /// Folds `took` in with weight 1/8; the first sample is taken as it is.
    fn observe(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |average| {
                Some(if average == 0 {
                    took
                } else {
                    average - average / 8 + took / 8
                })
            });
    }
}

/// A check's outcome, and how much longer its caller must wait before answering.
struct Checked {
    verification: Verification,
    pad: Duration,
}

/// argon2's working memory, allocated at the first hash and kept at the configured size.
#[derive(Clone)]
struct Memory {
    blocks: Vec<Block>,
    configured: usize,
}

impl std::fmt::Debug for Argon2PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2PasswordHasher")
            .field("params", &self.params)
            .field("threads", &self.threads)
            .field("queued", &self.jobs.len())
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
    }
}

impl Argon2PasswordHasher {
    /// Builds the hasher and starts its `threads` hashing threads (pass the number of
    /// CPUs); each holds `memory_kib` KiB once it has hashed. A call not taken by a thread
    /// within `queue_timeout` answers [`HashError::Busy`], and so does, at once, a call
    /// that finds `max_queue` calls waiting already. The threads end when the hasher is
    /// dropped.
    ///
    /// # Errors
    /// [`HashError::Failed`] when argon2 rejects the parameters, `threads` is 0, the OS
    /// RNG fails or a thread cannot be started.
    pub fn new(
        config: &Argon2Config,
        threads: usize,
        queue_timeout: Duration,
    ) -> Result<Self, HashError> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| HashError::Failed(format!("invalid argon2 parameters: {e}")))?;
        if threads == 0 {
            return Err(HashError::Failed(
                "at least one hashing thread is needed".into(),
            ));
        }
        let engine = Engine {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            dummy: dummy_phc(&params)?,
            memory: Memory {
                blocks: Vec::new(),
                configured: params.block_count(),
            },
            typical: Arc::default(),
        };
        let max_queue = config
            .max_queue
            .unwrap_or(QUEUE_PER_THREAD.saturating_mul(threads));
        let (jobs, queue) = flume::bounded::<Job>(max_queue);
        for _ in 0..threads {
            let (queue, mut engine) = (queue.clone(), engine.clone());
            std::thread::Builder::new()
                .name("authd-hash".into())
                .spawn(move || {
                    // Ends when the hasher, the only sender, is dropped. A panicking job
                    // drops its result sender (its caller gets an error), not the thread.
                    for job in queue.iter() {
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut engine)));
                    }
                })
                .map_err(|e| HashError::Failed(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            jobs,
            params,
            threads,
            queue_timeout,
            metrics: Arc::new(HashQueueMetrics::new()),
        })
    }

    /// The queue's metrics.
    #[must_use]
    pub fn metrics(&self) -> &HashQueueMetrics {
        &self.metrics
    }

    /// Queues `work` for a hashing thread and waits for its result; [`HashError::Busy`]
    /// at once when the queue is full, or when no thread has taken the work within the
    /// queue timeout (then it is withdrawn). Work once
    /// taken runs to the end, even when the caller has gone away; work whose caller has
    /// gone before it was taken is skipped.
    async fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Engine) -> Result<T, HashError> + Send + 'static,
    {
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (done, mut result) = oneshot::channel();
        let job_state = Arc::clone(&state);
        let metrics = Arc::clone(&self.metrics);
        let queued_at = Instant::now();
        let job: Job = Box::new(move |engine| {
            let take =
                job_state.compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire);
            if take.is_ok() {
                // Taken, even if its caller has gone: it leaves the queue either way.
                metrics.queued.dec();
                metrics.waited.observe(queued_at.elapsed().as_secs_f64());
            }
            if !done.is_closed() && take.is_ok() {
                let _ = done.send(work(engine));
            }
        });
        // Counted before a thread can take it, so the gauge never dips below zero.
        self.metrics.queued.inc();
        self.jobs.try_send(job).map_err(|err| {
            self.metrics.queued.dec();
            match err {
                // A flood: answer now rather than after the queue timeout.
                flume::TrySendError::Full(_) => {
                    self.metrics.refused.get_or_create(&QUEUE_FULL).inc();
                    HashError::Busy
                }
                flume::TrySendError::Disconnected(_) => {
                    HashError::Failed("the hasher is shut down".into())
                }
            }
        })?;
        let died = |_| HashError::Failed("a hashing thread failed".into());
        match tokio::time::timeout(self.queue_timeout, &mut result).await {
            Ok(outcome) => outcome.map_err(died)?,
            Err(_elapsed) => {
                let withdraw =
                    state.compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire);
                if withdraw.is_ok() {
                    self.metrics.queued.dec();
                    self.metrics.refused.get_or_create(&QUEUE_TIMEOUT).inc();
                    return Err(HashError::Busy);
                }
                result.await.map_err(died)?
            }
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

impl Memory {
    /// Runs `argon2` into `out` on these blocks, grown as needed and shrunk back to the
    /// configured size after, so a stored hash of a costlier past configuration leaves no
    /// lasting extra memory.
    fn hash_into(
        &mut self,
        argon2: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> argon2::Result<()> {
        let needed = argon2.params().block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::new());
        }
        let result =
            argon2.hash_password_into_with_memory(password, salt, out, &mut self.blocks[..needed]);
        if self.blocks.len() > self.configured {
            self.blocks.truncate(self.configured);
            self.blocks.shrink_to_fit();
        }
        result
    }

    /// Whether `password` produces `phc`'s output (compared in constant time).
    fn matches(&mut self, password: &[u8], phc: &Phc) -> Result<bool, HashError> {
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|e| malformed(&e))?;
        let version = phc
            .version
            .map_or(Ok(Version::V0x10), Version::try_from)
            .map_err(|e| malformed(&e))?;
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return Err(malformed(&"no salt or no hash"));
        };
        let stored = Params::try_from(phc).map_err(|e| malformed(&e))?;
        if !within_bounds(&stored) {
            return Err(malformed(&"costs above 4 GiB or 100 passes"));
        }
        let params = Params::new(
            stored.m_cost(),
            stored.t_cost(),
            stored.p_cost(),
            Some(expected.len()),
        )
        .map_err(|e| malformed(&e))?;
        let argon2 = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        self.hash_into(&argon2, password, salt.as_ref(), &mut out)
            .map_err(|e| malformed(&e))?;
        let computed = Output::new(&out).map_err(|e| malformed(&e))?;
        Ok(computed == *expected)
    }
}

impl Engine {
    /// A new PHC string for `password` with the configured parameters and a fresh salt.
    fn hash(&mut self, password: &[u8]) -> Result<PasswordHash, HashError> {
        let failed =
            |e: &dyn std::fmt::Display| HashError::Failed(format!("cannot hash the password: {e}"));
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.memory
            .hash_into(&self.argon2, password, &salt, &mut out)
            .map_err(|e| failed(&e))?;
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon2.params()).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(PasswordHash::new(phc.to_string()))
    }

    /// Checks `password` against `stored` (the dummy hash when `None`), and says how long
    /// to wait before answering so the answer takes as long as a configured check.
    fn verify(&mut self, password: &str, stored: Option<&str>) -> Result<Checked, HashError> {
        let started = Instant::now();
        let Some(stored) = stored else {
            // Same work as a real check; the outcome is ignored on purpose.
            let _ = self.memory.matches(password.as_bytes(), &self.dummy);
            self.typical.observe(started.elapsed());
            return Ok(Checked {
                verification: Verification::Mismatch,
                pad: Duration::ZERO,
            });
        };
        let (verification, configured) = match ForeignHash::parse(stored) {
            Some(foreign) => {
                let matched = foreign
                    .and_then(|hash| hash.matches(password))
                    .map_err(|e| malformed(&e))?;
                let verification = if matched {
                    Verification::Match { needs_rehash: true }
                } else {
                    Verification::Mismatch
                };
                (verification, false)
            }
            None => self.verify_argon2(password.as_bytes(), stored)?,
        };
        if configured {
            self.typical.observe(started.elapsed());
            return Ok(Checked {
                verification,
                pad: Duration::ZERO,
            });
        }
        let typical = self.typical_check(password.as_bytes());
        Ok(Checked {
            verification,
            pad: typical.saturating_sub(started.elapsed()),
        })
    }

    /// Checks an argon2 PHC string; also says whether it has the configured parameters.
    fn verify_argon2(
        &mut self,
        password: &[u8],
        stored: &str,
    ) -> Result<(Verification, bool), HashError> {
        let phc = Phc::new(stored).map_err(|e| malformed(&e))?;
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|e| malformed(&e))?;
        let stored_params = Params::try_from(&phc).map_err(|e| malformed(&e))?;
        let current =
            algorithm == Algorithm::Argon2id && phc.version == Some(Version::V0x13.into());
        let configured = self.argon2.params();
        let same_cost = stored_params.m_cost() == configured.m_cost()
            && stored_params.t_cost() == configured.t_cost()
            && stored_params.p_cost() == configured.p_cost();
        if !self.memory.matches(password, &phc)? {
            return Ok((Verification::Mismatch, current && same_cost));
        }
        let verification = Verification::Match {
            needs_rehash: !current || self.weaker_than_configured(&stored_params),
        };
        Ok((verification, current && same_cost))
    }

    /// How long a configured check takes; measured on the dummy hash if none has been yet.
    fn typical_check(&mut self, password: &[u8]) -> Duration {
        if self.typical.get().is_zero() {
            let started = Instant::now();
            let _ = self.memory.matches(password, &self.dummy);
            self.typical.observe(started.elapsed());
        }
        self.typical.get()
    }

    /// Whether `stored` costs an attacker less than the configured parameters: less
    /// memory or fewer passes. Rehashing only then means lowering the configuration
    /// never weakens hashes made under a stronger one. Lanes are left out: fewer lanes
    /// over the same memory cost an attacker no less.
    fn weaker_than_configured(&self, stored: &Params) -> bool {
        let configured = self.argon2.params();
        stored.m_cost() < configured.m_cost() || stored.t_cost() < configured.t_cost()
    }
}

#[async_trait::async_trait]
impl PasswordHasher for Argon2PasswordHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.expose().to_owned();
        self.run(move |engine| engine.hash(password.as_bytes()))
            .await
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<PasswordHash>,
    ) -> Result<Verification, HashError> {
        let password = password.expose().to_owned();
        let checked = self
            .run(move |engine| engine.verify(&password, hash.as_ref().map(PasswordHash::expose)))
            .await?;
        // Waited here, not on the hashing thread, which takes the next job meanwhile.
        if !checked.pad.is_zero() {
            tokio::time::sleep(checked.pad).await;
        }
        Ok(checked.verification)
    }

    fn accepts(&self, hash: &PasswordHash) -> bool {
        let stored = hash.expose();
        match ForeignHash::parse(stored) {
            Some(foreign) => foreign.is_ok(),
            None => Phc::new(stored).is_ok_and(|phc| {
                Algorithm::try_from(phc.algorithm.as_str()).is_ok()
                    && Params::try_from(&phc).is_ok_and(|params| within_bounds(&params))
                    && phc.salt.is_some()
                    && phc.hash.is_some()
            }),
        }
    }
}

/// Whether a stored argon2 hash costs no more than the configuration may ask for (4 GiB,
/// 100 passes): every hash authd can be configured to make is checked, and an imported
/// one cannot make a check exhaust the machine or hold a hashing thread for minutes.
fn within_bounds(params: &Params) -> bool {
    u64::from(params.m_cost()) <= MAX_ARGON2_MEMORY_KIB
        && u64::from(params.t_cost()) <= MAX_ARGON2_ITERATIONS
}

/// An error naming what is wrong with a stored hash, never the stored string itself.
fn malformed(e: &dyn std::fmt::Display) -> HashError {
    HashError::Failed(format!("the stored password hash is malformed: {e}"))
}

#[cfg(test)]
mod tests;
