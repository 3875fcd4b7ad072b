//! Bytes from the OS random number generator, for tokens, nonces and secrets.

/// `N` bytes from the OS RNG.
///
/// # Panics
/// When the OS random number generator fails, which a working kernel never does: a
/// token, nonce or secret that is not random would be worse than a failed request.
#[expect(
    clippy::panic,
    reason = "callers cannot report an RNG failure, and predictable secrets must never be issued"
)]
pub(super) fn os_random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("the OS random number generator failed: {e}");
    }
    bytes
}
