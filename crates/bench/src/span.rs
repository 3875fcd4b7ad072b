//! The length of a soak as written on the command line (`90s`, `30m`, `1h`); hand-parsed,
//! since no duration parser is in the dependency tree and three units are all it needs.

use std::time::Duration;

/// `<n>s`, `<n>m` or `<n>h`, `n` a positive whole number.
///
/// # Errors
/// A message for clap when the text has another form, is zero or does not fit a `u64` of
/// seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("expected a whole number and s, m or h (`90s`, `30m`, `1h`), got `{text}`");
    let (last, unit) = text.char_indices().last().ok_or_else(invalid)?;
    let unit_s: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => return Err(invalid()),
    };
    let number = &text[..last];
    // `u64::from_str` takes a leading `+`; only digits are a count here.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_s))
        .ok_or_else(|| format!("`{text}` is too long"))?;
    if seconds == 0 {
        return Err(format!("a soak needs some time, got `{text}`"));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn seconds_minutes_and_hours_are_read() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("007s"), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn other_forms_are_refused() {
        for text in [
            "", "s", "30", "30 m", " 30m", "30m ", "+30m", "-1m", "1.5m", "30M", "30min", "1d",
            "3é", "m30",
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn zero_and_overflow_are_refused() {
        assert!(parse("0s").is_err());
        assert!(parse("0h").is_err());
        assert!(parse("18446744073709551615s").is_ok());
        assert!(parse("18446744073709551616s").is_err());
        assert!(parse("5124095576030432h").is_err());
    }
}
