//! The cost of one password hash: the physical limit of login and register.

use anyhow::anyhow;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::time::{Duration, Instant};

/// authd's default argon2id parameters (SPEC.md section 3): memory in KiB, passes, lanes.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// Timed hashes; the median is reported.
const RUNS: usize = 21;

/// argon2id with authd's defaults and its working memory, allocated once and reused as
/// authd does.
struct Hasher {
    argon2: Argon2<'static>,
    memory: Vec<Block>,
}

impl Hasher {
    fn new() -> anyhow::Result<Self> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(32))
            .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
        let memory = vec![Block::new(); params.block_count()];
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        Ok(Self { argon2, memory })
    }

    fn hash(&mut self) -> anyhow::Result<()> {
        let mut output = [0u8; 32];
        self.argon2
            .hash_password_into_with_memory(
                b"correct horse battery staple",
                b"authd-bench-salt",
                &mut output,
                &mut self.memory,
            )
            .map_err(|e| anyhow!("argon2: {e}"))
    }
}

/// The median time of one hash on this thread, alone on the machine.
pub fn time_one() -> anyhow::Result<Duration> {
    let mut hasher = Hasher::new()?;
    hasher.hash()?; // touches the memory and warms the caches
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        hasher.hash()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[RUNS / 2])
}

/// Hashes per second with one thread per core hashing for `span`: what the machine can
/// do right now, shared memory bandwidth and neighbours on the host included.
pub fn throughput(cores: usize, span: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut hasher = Hasher::new()?;
                    let mut count = 0u32;
                    while started.elapsed() < span {
                        hasher.hash()?;
                        count += 1;
                    }
                    anyhow::Ok(count)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .map_err(|_| anyhow!("a hashing thread failed"))?
            })
            .collect::<anyhow::Result<Vec<u32>>>()
    })?;
    Ok(f64::from(counts.iter().sum::<u32>()) / started.elapsed().as_secs_f64())
}
