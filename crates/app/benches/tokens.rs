//! Session and one-time tokens: 256 bits from the OS, base64url, and the SHA-256 that
//! every authenticated request computes: `cargo bench -p authd --bench tokens`.

// criterion's macros generate public functions without docs.
#![allow(missing_docs)]

use auth_ports::TokenGenerator;
use authd::adapters::RandomTokenGenerator;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn tokens(c: &mut Criterion) {
    let generator = RandomTokenGenerator::new();
    c.bench_function("generate a token and its hash", |b| {
        b.iter(|| generator.generate());
    });
    let (token, _) = generator.generate();
    c.bench_function("hash a presented token", |b| {
        b.iter(|| generator.hash(black_box(&token)));
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
