//! The variable source: reads trimmed or raw values, parses numbers, durations and
//! flags, and collects a [`ConfigProblem`] for every bad value instead of stopping.

use super::error::{ConfigError, ConfigProblem};
use std::time::Duration;

/// Longest duration any `*_SECS` setting accepts: ten years. Anything larger is a typo
/// and would overflow timestamp arithmetic (`now + ttl`) further down.
pub(super) const MAX_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// The variable source plus the problems found so far. Each reader returns the default
/// after reporting a problem, so parsing goes on and every problem is collected.
pub(super) struct Vars<F> {
    /// Answers a variable name with its value.
    lookup: F,
    /// Problems found so far.
    problems: Vec<ConfigProblem>,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// A source with no problems found yet.
    pub(super) fn new(lookup: F) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// `Ok` when nothing was reported, else every problem in the order found.
    pub(super) fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }

    /// The value as given, or `None` when unset or blank. For secrets, which are not
    /// trimmed.
    pub(super) fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// The trimmed value, or `None` when unset or blank.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.raw(name).map(|value| value.trim().to_owned())
    }

    /// Records a problem with `name`.
    pub(super) fn report(&mut self, name: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: name.to_owned(),
            message: message.into(),
        });
    }

    /// An integer in `min..=max`, or `default` when unset.
    pub(super) fn number(&mut self, name: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(value) = self.get(name) else {
            return default;
        };
        let kind = if min >= 1 {
            "a positive integer"
        } else {
            "a non-negative integer"
        };
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            Ok(0) if min == 1 => {
                self.report(name, format!("expected {kind}, got {value:?}"));
                default
            }
            Ok(n) => {
                self.report(name, format!("must be between {min} and {max}, got {n}"));
                default
            }
            Err(_) => {
                self.report(name, format!("expected {kind}, got {value:?}"));
                default
            }
        }
    }

    /// A `u32` in `min..=max`, or `default` when unset.
    pub(super) fn number_u32(&mut self, name: &str, default: u32, min: u32, max: u32) -> u32 {
        let n = self.number(name, default.into(), min.into(), max.into());
        u32::try_from(n).unwrap_or(default)
    }

    /// A `u32` of at least 1, or `default` when unset.
    pub(super) fn positive(&mut self, name: &str, default: u32) -> u32 {
        self.number_u32(name, default, 1, u32::MAX)
    }

    /// A positive number of seconds (at most [`MAX_SECS`]), or `default` when unset.
    pub(super) fn secs(&mut self, name: &str, default: u64) -> Duration {
        Duration::from_secs(self.number(name, default, 1, MAX_SECS))
    }

    /// A boolean (`true`/`false`/`1`/`0`/`yes`/`no`, any case), or `default` when unset.
    pub(super) fn flag(&mut self, name: &str, default: bool) -> bool {
        let Some(value) = self.get(name) else {
            return default;
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                self.report(
                    name,
                    format!("expected true/false/1/0/yes/no, got {value:?}"),
                );
                default
            }
        }
    }
}
