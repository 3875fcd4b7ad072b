//! Permission matching, as the route guard runs it on every admin request:
//! `cargo bench -p auth-domain --bench permissions`.

// criterion's macros generate public functions without docs.
#![allow(missing_docs)]

use auth_domain::permission::is_granted;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn permission_matching(c: &mut Criterion) {
    let moderator = ["audit:read", "profile:read", "users:read", "users:suspend"];
    let cases: [(&str, &[&str], &str); 4] = [
        ("exact match among 4 grants", &moderator, "users:suspend"),
        ("no match among 4 grants", &moderator, "roles:write"),
        ("resource wildcard", &["users:*"], "users:delete"),
        ("star", &["*"], "roles:assign"),
    ];
    for (name, granted, required) in cases {
        c.bench_function(&format!("is_granted: {name}"), |b| {
            b.iter(|| is_granted(black_box(granted), black_box(required)));
        });
    }
}

criterion_group!(benches, permission_matching);
criterion_main!(benches);
