//! The cost of one password hash: the physical limit of login and register.

use anyhow::anyhow;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::time::{Duration, Instant};

/// authd's default argon2id parameters (SPEC.md section 3): memory in KiB, passes, lanes.
pub const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// Timed hashes; the median is reported.
const RUNS: usize = 21;

/// The median time of one argon2id hash with authd's defaults on this thread, its working
/// memory allocated once and reused as authd does.
pub fn time_one() -> anyhow::Result<Duration> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(32))
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut memory = vec![Block::new(); blocks];
    let mut output = [0u8; 32];
    let mut hash = || {
        argon2
            .hash_password_into_with_memory(
                b"correct horse battery staple",
                b"authd-bench-salt",
                &mut output,
                &mut memory,
            )
            .map_err(|e| anyhow!("argon2: {e}"))
    };
    hash()?; // warms the memory and the caches
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        hash()?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[RUNS / 2])
}
