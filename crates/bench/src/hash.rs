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

/// Working memories (KiB) of `--hash-scaling`: from well inside this machine's shared
/// cache to beyond it, with authd's default among them.
pub const SCALING_KIB: [u32; 5] = [2_048, 8_192, 12_288, MEMORY_KIB, 32_768];

/// argon2id with authd's defaults (or another memory cost) and its working memory,
/// allocated once and reused as authd does.
struct Hasher {
    argon2: Argon2<'static>,
    memory: Vec<Block>,
}

impl Hasher {
    fn new() -> anyhow::Result<Self> {
        Self::with_memory(MEMORY_KIB)
    }

    fn with_memory(memory_kib: u32) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, ITERATIONS, PARALLELISM, Some(32))
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
    throughput_at(MEMORY_KIB, cores, span)
}

/// [`throughput`] at another memory cost.
pub fn throughput_at(memory_kib: u32, cores: usize, span: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut hasher = Hasher::with_memory(memory_kib)?;
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

/// How hashing scales from one core to all of them at each memory cost of
/// [`SCALING_KIB`]: a markdown table of hashes/s on one thread and on one thread per core,
/// and how much of `cores` × the one-thread rate all cores reach. Where two working sets
/// no longer fit the shared cache together, all cores fall short of that multiple, and so
/// does any login rate measured against the one-core hashing bound.
pub fn scaling(cores: usize, span: Duration) -> anyhow::Result<String> {
    let mut table = format!(
        "| memory KiB | one thread hashes/s | ms per hash | {cores} threads hashes/s | \
         {cores} threads ÷ ({cores} × one thread) |\n|---:|---:|---:|---:|---:|\n"
    );
    for memory_kib in SCALING_KIB {
        let one = throughput_at(memory_kib, 1, span)?;
        let all = throughput_at(memory_kib, cores, span)?;
        let ratio = 100.0 * all / (one * cores as f64);
        table += &format!(
            "| {memory_kib} | {one:.1} | {:.2} | {all:.1} | {ratio:.1} % |\n",
            1000.0 / one
        );
    }
    Ok(table)
}
