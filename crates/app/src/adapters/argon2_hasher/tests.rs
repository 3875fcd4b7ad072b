use super::*;
use argon2::{PasswordHasher as _, PasswordVerifier as _};

fn config(memory_kib: u32, iterations: u32) -> Argon2Config {
    Argon2Config {
        memory_kib,
        iterations,
        parallelism: 1,
        max_queue: None,
    }
}

fn hasher(memory_kib: u32, iterations: u32) -> Argon2PasswordHasher {
    Argon2PasswordHasher::new(&config(memory_kib, iterations), 2, Duration::from_secs(5)).unwrap()
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
async fn weaker_params_need_a_rehash() {
    let current = hasher(2048, 2);
    for old in [
        hasher(1024, 2),
        hasher(2048, 1),
        hasher(4096, 1),
        hasher(1024, 3),
    ] {
        let hash = old.hash(&password("pw")).await.unwrap();
        assert_eq!(
            current.verify(&password("pw"), Some(hash)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }
}

/// Never rehashed to a weaker cost: a stored hash with more memory or passes (or
/// fewer lanes, which costs an attacker no less) stays as it is.
#[tokio::test]
async fn stronger_params_are_kept() {
    let two_lanes = Argon2Config {
        parallelism: 2,
        ..config(1024, 1)
    };
    let current = Argon2PasswordHasher::new(&two_lanes, 1, Duration::from_secs(5)).unwrap();
    for stronger in [hasher(2048, 1), hasher(1024, 2), hasher(1024, 1)] {
        let hash = stronger.hash(&password("pw")).await.unwrap();
        assert_eq!(
            current.verify(&password("pw"), Some(hash)).await.unwrap(),
            Verification::Match {
                needs_rehash: false
            }
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
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9",
        "pbkdf2_sha256$1200$salt$not base64",
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

/// Django's PBKDF2 of "correct horse battery staple", 1,200 iterations: about a
/// millisecond, far cheaper than the configured argon2id below.
const DJANGO: &str =
    "pbkdf2_sha256$1200$q1w2e3r4t5y6u7i8$6O5tbobOQNn0IzaYMuIKNfNnXu/3E/r5RYH7r8QQonM=";

#[tokio::test]
async fn a_foreign_hash_matches_and_asks_for_a_rehash() {
    let hasher = hasher(1024, 1);
    let stored = || Some(PasswordHash::new(DJANGO.into()));
    let (right, wrong) = (
        password("correct horse battery staple"),
        password("correct horse"),
    );
    assert_eq!(
        hasher.verify(&right, stored()).await.unwrap(),
        Verification::Match { needs_rehash: true }
    );
    assert_eq!(
        hasher.verify(&wrong, stored()).await.unwrap(),
        Verification::Mismatch
    );
}

#[tokio::test]
async fn a_cheap_foreign_hash_is_answered_no_faster_than_a_configured_check() {
    // Costly enough (tens of milliseconds) that the padding, not noise, decides.
    let hasher = hasher(32 * 1024, 3);
    let guess = password("guess");
    let django = || Some(PasswordHash::new(DJANGO.into()));
    let started = Instant::now();
    // The first check of any kind is a foreign one: it measures a configured check itself.
    let first = hasher.verify(&guess, django()).await.unwrap();
    assert_eq!(first, Verification::Mismatch);
    let first = started.elapsed();
    let started = Instant::now();
    let unknown = hasher.verify(&guess, None).await.unwrap();
    assert_eq!(unknown, Verification::Mismatch);
    let configured = started.elapsed();
    let started = Instant::now();
    let foreign = hasher.verify(&guess, django()).await.unwrap();
    assert_eq!(foreign, Verification::Mismatch);
    let foreign = started.elapsed();
    // Two configured checks averaged against one: allow a quarter of slack for noise.
    assert!(
        foreign * 4 >= configured * 3 && first * 4 >= configured * 3,
        "foreign {foreign:?} and first {first:?} against configured {configured:?}"
    );
}

#[test]
fn accepts_what_it_can_check_within_bounds() {
    let hasher = hasher(1024, 1);
    let accepts = |stored: &str| hasher.accepts(&PasswordHash::new(stored.into()));
    assert!(accepts(
        "$argon2id$v=19$m=2048,t=1,p=2$Affm0CND/YfisC/VkwaFBA$DUdoetuhUxfjLC8oNfWdpz8bWBvvwQ0szK7Lu9mrWbA"
    ));
    assert!(accepts(
        "$argon2i$v=19$m=1024,t=1,p=1$cTaws80UyAECCcrgrBbCnQ$lVt/Ex/3+7p3z0h2goECl4x6HGOA4vJYRNIKGhvP2Zw"
    ));
    assert!(accepts(DJANGO));
    assert!(accepts(
        "$2y$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6"
    ));
    for refused in [
        "",
        "plain text",
        "$argon2id$v=19$m=5000000,t=1,p=1$Affm0CND/YfisC/VkwaFBA$DUdoetuhUxfjLC8oNfWdpz8bWBvvwQ0szK7Lu9mrWbA",
        "$argon2id$v=19$m=2048,t=1000,p=1$Affm0CND/YfisC/VkwaFBA$DUdoetuhUxfjLC8oNfWdpz8bWBvvwQ0szK7Lu9mrWbA",
        "$argon2id$v=19$m=2048,t=1,p=2$Affm0CND/YfisC/VkwaFBA",
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
        "$2b$20$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6",
        "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
    ] {
        assert!(!accepts(refused), "{refused}");
    }
}

#[test]
fn invalid_params_are_rejected() {
    let timeout = Duration::from_secs(1);
    assert!(Argon2PasswordHasher::new(&config(4, 1), 1, timeout).is_err());
    assert!(Argon2PasswordHasher::new(&config(1024, 0), 1, timeout).is_err());
    assert!(Argon2PasswordHasher::new(&config(1024, 1), 0, timeout).is_err());
}

/// Occupies one hashing thread until the returned sender is dropped, as a long hash
/// would.
fn occupy(hasher: &Argon2PasswordHasher) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    hasher
        .jobs
        .send(Box::new(move |_| {
            let _ = released.recv();
        }))
        .unwrap();
    release
}

/// `work`'s answer, or a failed test if none comes within 10 s (a broken hasher
/// would otherwise hang the test run).
async fn answer<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("the hasher answers")
}

#[tokio::test]
async fn a_saturated_hasher_answers_busy_then_recovers() {
    let hasher = Argon2PasswordHasher::new(&config(1024, 1), 1, Duration::from_millis(50)).unwrap();
    let held = occupy(&hasher);
    let started = std::time::Instant::now();
    assert!(matches!(
        answer(hasher.hash(&password("pw"))).await,
        Err(HashError::Busy)
    ));
    assert!(matches!(
        answer(hasher.verify(&password("pw"), None)).await,
        Err(HashError::Busy)
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(refused(&hasher, &QUEUE_TIMEOUT), 2);
    assert_eq!(refused(&hasher, &QUEUE_FULL), 0);
    assert_eq!(
        hasher.metrics().queued.get(),
        0,
        "withdrawn calls left the queue"
    );
    drop(held);
    assert!(answer(hasher.hash(&password("pw"))).await.is_ok());
}

/// How many calls were refused for `reason`.
fn refused(hasher: &Argon2PasswordHasher, reason: &Refusal) -> u64 {
    hasher.metrics().refused.get_or_create(reason).get()
}

#[tokio::test]
async fn a_full_queue_answers_busy_at_once() {
    let config = Argon2Config {
        max_queue: Some(1),
        ..config(1024, 1)
    };
    let hasher = Arc::new(Argon2PasswordHasher::new(&config, 1, Duration::from_secs(5)).unwrap());
    let held = occupy(&hasher);
    wait_until(|| hasher.jobs.is_empty()).await;
    let queued = tokio::spawn({
        let hasher = Arc::clone(&hasher);
        async move { hasher.hash(&password("pw")).await }
    });
    wait_until(|| hasher.jobs.len() == 1).await;
    let started = std::time::Instant::now();
    assert!(matches!(
        answer(hasher.verify(&password("pw"), None)).await,
        Err(HashError::Busy)
    ));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "waited for a slot"
    );
    assert_eq!(refused(&hasher, &QUEUE_FULL), 1);
    assert_eq!(
        hasher.metrics().queued.get(),
        1,
        "the refused call is not queued"
    );
    drop(held);
    assert!(answer(queued).await.unwrap().is_ok());
    assert_eq!(refused(&hasher, &QUEUE_TIMEOUT), 0);
}

#[tokio::test]
async fn the_queue_gauge_counts_waiting_calls_and_their_wait_is_timed() {
    let hasher =
        Arc::new(Argon2PasswordHasher::new(&config(1024, 1), 1, Duration::from_secs(5)).unwrap());
    let metrics = hasher.metrics().clone();
    let held = occupy(&hasher);
    wait_until(|| hasher.jobs.is_empty()).await;
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let hasher = Arc::clone(&hasher);
            tokio::spawn(async move { hasher.hash(&password("pw")).await })
        })
        .collect();
    wait_until(|| metrics.queued.get() == 2).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(metrics.waited.count(), 0, "nothing taken yet");

    drop(held);
    for call in calls {
        assert!(answer(call).await.unwrap().is_ok());
    }
    assert_eq!(metrics.queued.get(), 0);
    assert_eq!(metrics.waited.count(), 2);
    assert!(metrics.waited.sum() >= 0.04, "{}", metrics.waited.sum());
    assert_eq!(
        refused(&hasher, &QUEUE_FULL) + refused(&hasher, &QUEUE_TIMEOUT),
        0
    );
}

/// Polls `condition` every millisecond for up to 5 s.
async fn wait_until(condition: impl Fn() -> bool) {
    answer(async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn work_taken_in_time_answers_even_after_the_queue_timeout() {
    let hasher =
        Argon2PasswordHasher::new(&config(1024, 1), 1, Duration::from_millis(500)).unwrap();
    let started = std::time::Instant::now();
    let slow = hasher.run(|engine| {
        std::thread::sleep(Duration::from_millis(1500));
        engine.hash(b"pw")
    });
    let slow = answer(slow).await;
    assert!(slow.is_ok(), "{slow:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn work_whose_caller_has_gone_is_skipped() {
    let hasher = Argon2PasswordHasher::new(&config(1024, 1), 1, Duration::from_secs(5)).unwrap();
    let held = occupy(&hasher);
    let (ran, was_run) = std::sync::mpsc::channel::<()>();
    let abandoned = hasher.run(move |_| {
        let _ = ran.send(());
        Ok(())
    });
    // Queued, then dropped before a thread is free, like a client that disconnects.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), abandoned)
            .await
            .is_err()
    );
    assert_eq!(hasher.metrics().queued.get(), 1, "still in the queue");
    drop(held);
    assert!(answer(hasher.hash(&password("pw"))).await.is_ok());
    assert!(was_run.try_recv().is_err(), "the abandoned work ran");
    assert_eq!(hasher.metrics().queued.get(), 0, "taken and skipped");
}

#[tokio::test]
async fn a_costlier_stored_hash_leaves_no_extra_memory() {
    let current = Argon2PasswordHasher::new(&config(1024, 1), 1, Duration::from_secs(5)).unwrap();
    let costlier = hasher(4096, 1).hash(&password("pw")).await.unwrap();
    let checked = current.verify(&password("pw"), Some(costlier)).await;
    assert_eq!(
        checked.unwrap(),
        Verification::Match {
            needs_rehash: false
        }
    );
    let kept = answer(current.run(|engine| Ok(engine.memory.blocks.len()))).await;
    let configured = Params::new(1024, 1, 1, None).unwrap().block_count();
    assert_eq!(kept.unwrap(), configured);
}

#[tokio::test]
async fn every_thread_hashes_at_once() {
    let hasher = Argon2PasswordHasher::new(&config(1024, 1), 2, Duration::from_secs(5)).unwrap();
    // Each job tells the other it started, then waits to hear the same: both pass
    // only if they run at the same time.
    let (a_started, a_heard) = std::sync::mpsc::channel::<()>();
    let (b_started, b_heard) = std::sync::mpsc::channel::<()>();
    let meet = |started: std::sync::mpsc::Sender<()>, other: std::sync::mpsc::Receiver<()>| {
        hasher.run(move |engine| {
            let _ = started.send(());
            other
                .recv_timeout(Duration::from_secs(5))
                .map_err(|_| HashError::Failed("the other job did not run meanwhile".into()))?;
            engine.hash(b"pw")
        })
    };
    let (a, b) =
        answer(async { tokio::join!(meet(a_started, b_heard), meet(b_started, a_heard)) }).await;
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
}
