//! The mails authd sends, with links under the link base (`MAIL_LINK_BASE`: authd's own
//! pages at `AUTHD_PUBLIC_URL`, or a web app's). Each carries the token twice: in a link
//! for people, and as a code for clients that post it to the API themselves. Tokens are
//! base64url, so they need no escaping.

use auth_ports::{BearerToken, Email, MailMessage};
use chrono::{DateTime, SecondsFormat, Utc};
use std::net::IpAddr;
use std::time::Duration;

/// How a password came to change, for the notice mailed afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChangeKind {
    /// By its owner, with the current password.
    Changed,
    /// Through a reset link.
    Reset,
}

/// Builds the account mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messages {
    link_base: String,
}

/// One mail's wording.
struct Wording {
    subject: &'static str,
    action: &'static str,
    path: &'static str,
    note: &'static str,
}

/// The email-verification mail.
const VERIFICATION: Wording = Wording {
    subject: "Confirm your email address",
    action: "Confirm that this is your email address",
    path: "verify-email",
    note: "",
};

/// The password-reset mail.
const PASSWORD_RESET: Wording = Wording {
    subject: "Reset your password",
    action: "Choose a new password",
    path: "reset-password",
    note: "If you did not ask for this, ignore this mail: your password stays as it is.",
};

impl Messages {
    /// Messages whose links start with `link_base` (a trailing `/` is ignored).
    #[must_use]
    pub fn new(link_base: &str) -> Self {
        Self {
            link_base: link_base.trim_end_matches('/').to_owned(),
        }
    }

    /// "Confirm your email address", with a link that works for `valid_for`.
    #[must_use]
    pub fn verification(
        &self,
        to: &Email,
        token: &BearerToken,
        valid_for: Duration,
    ) -> MailMessage {
        self.message(to, token, valid_for, &VERIFICATION)
    }

    /// "Reset your password", with a link that works for `valid_for`.
    #[must_use]
    pub fn password_reset(
        &self,
        to: &Email,
        token: &BearerToken,
        valid_for: Duration,
    ) -> MailMessage {
        self.message(to, token, valid_for, &PASSWORD_RESET)
    }

    /// "Your password was changed" (or reset, after a reset link): a "was this you?"
    /// notice with the time and the client address, and what to do if it was not. It
    /// carries no token: the page it points to, `/reset-password` without one, asks for
    /// the address and mails a reset link to it.
    #[must_use]
    pub fn password_changed(
        &self,
        to: &Email,
        how: PasswordChangeKind,
        at: DateTime<Utc>,
        from: Option<IpAddr>,
    ) -> MailMessage {
        let verb = match how {
            PasswordChangeKind::Changed => "changed",
            PasswordChangeKind::Reset => "reset",
        };
        let when = at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let from = from.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
        let reset = format!("{}/reset-password", self.link_base);
        let fact = format!("The password of your account was {verb} at {when} from {from}.");
        let advice = "If this was you, there is nothing to do. If it was not, reset your \
                      password now and tell the people who run this service.";
        MailMessage {
            to: to.clone(),
            subject: format!("Your password was {verb}"),
            text: format!("{fact}\n\n{advice} {reset}\n"),
            html: format!("<p>{fact}</p><p>{advice} <a href=\"{reset}\">{reset}</a></p>"),
        }
    }

    fn message(
        &self,
        to: &Email,
        token: &BearerToken,
        valid_for: Duration,
        wording: &Wording,
    ) -> MailMessage {
        let Wording {
            subject,
            action,
            path,
            note,
        } = wording;
        let token = token.expose();
        let link = format!("{}/{path}?token={token}", self.link_base);
        let validity = in_words(valid_for);
        MailMessage {
            to: to.clone(),
            subject: (*subject).to_owned(),
            text: format!(
                "{action}: {link}\n\nThe link works once, for {validity}. Code: {token}\n{note}\n"
            ),
            html: format!(
                "<p><a href=\"{link}\">{action}</a></p>\
                 <p>The link works once, for {validity}. Code: <code>{token}</code></p>\
                 <p>{note}</p>"
            ),
        }
    }
}

/// "24 hours", "1 hour", "30 minutes"; under a minute counts as one. Public so that a
/// page saying how long a mailed link works words it as the mail does.
#[must_use]
pub fn in_words(duration: Duration) -> String {
    let minutes = (duration.as_secs() / 60).max(1);
    let (n, unit) = if minutes >= 60 && minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_sit_under_the_link_base_and_carry_the_token() {
        let messages = Messages::new("https://auth.example.com/base/");
        let to = Email::parse("ada@example.com").unwrap();
        let token = BearerToken::new("abc_DEF-123".into());
        let mail = messages.password_reset(&to, &token, Duration::from_secs(1800));
        assert_eq!(mail.to, to);
        assert!(
            mail.text
                .contains("https://auth.example.com/base/reset-password?token=abc_DEF-123"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("30 minutes"));
        assert!(
            mail.html.contains(
                "href=\"https://auth.example.com/base/reset-password?token=abc_DEF-123\""
            )
        );
        let mail = messages.verification(&to, &token, Duration::from_secs(86_400));
        assert!(mail.text.contains("/base/verify-email?token=abc_DEF-123"));
        assert!(mail.text.contains("24 hours"));
        assert_eq!(in_words(Duration::from_secs(3600)), "1 hour");
    }

    #[test]
    fn the_change_notice_says_when_and_from_where() {
        let messages = Messages::new("https://auth.example.com/");
        let to = Email::parse("ada@example.com").unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .to_utc();
        let ip = "192.0.2.9".parse().ok();
        let mail = messages.password_changed(&to, PasswordChangeKind::Reset, at, ip);
        assert_eq!(mail.subject, "Your password was reset");
        assert!(
            mail.text.contains("2026-11-27T12:00:00Z from 192.0.2.9"),
            "{}",
            mail.text
        );
        assert!(
            mail.text
                .contains("https://auth.example.com/reset-password\n")
        );
        assert!(!mail.text.contains("token"), "{}", mail.text);
    }
}
