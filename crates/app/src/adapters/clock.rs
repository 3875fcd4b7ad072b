//! The wall clock behind the `Clock` port: the one place in authd that reads the time.

use auth_ports::Clock;
use chrono::{DateTime, SubsecRound as _, Utc};

/// The system clock, truncated to microseconds.
///
/// `PostgreSQL` keeps microseconds, so a time written and read back compares equal to the
/// one the domain was handed.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The clock (it holds no state).
    #[must_use]
    pub const fn new() -> Self {
        Self
    }
}

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the composition root's clock is the only permitted reader of the time"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike as _;

    #[test]
    #[allow(clippy::disallowed_methods)] // compares with the real clock on purpose
    fn now_has_whole_microseconds() {
        let now = SystemClock.now();
        assert_eq!(now.nanosecond() % 1_000, 0);
        assert!((Utc::now() - now).num_seconds().abs() < 5);
    }
}
