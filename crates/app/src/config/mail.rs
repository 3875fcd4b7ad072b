//! Outgoing mail: `MAIL_TRANSPORT`, `MAIL_FROM` and `MAIL_LINK_BASE`.

use super::http::base_url;
use super::secret::CredentialUrl;
use super::vars::Vars;
use lettre::Address;
use lettre::message::Mailbox;
use std::path::PathBuf;
use url::Url;

/// How outgoing mail is delivered (`MAIL_TRANSPORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// `log`: messages are written to the log (the default; for development).
    Log,
    /// `file:<dir>`: one JSON file per message in this directory.
    File(PathBuf),
    /// `smtp://…` or `smtps://…`: the URL as given, credentials included.
    Smtp(CredentialUrl),
}

/// `MAIL_TRANSPORT`: `log`, `file:<dir>`, or an `smtp://`/`smtps://` URL.
pub(super) fn mail_transport<F: Fn(&str) -> Option<String>>(vars: &mut Vars<F>) -> MailTransport {
    let Some(value) = vars.get("MAIL_TRANSPORT") else {
        return MailTransport::Log;
    };
    if value.eq_ignore_ascii_case("log") {
        return MailTransport::Log;
    }
    if let Some(dir) = value.strip_prefix("file:") {
        let dir = dir.trim();
        if dir.is_empty() {
            vars.report("MAIL_TRANSPORT", "expected a directory after file:");
            return MailTransport::Log;
        }
        return MailTransport::File(PathBuf::from(dir));
    }
    // From here on the value is never quoted back: an SMTP URL may contain a password.
    if value.starts_with("smtp://") || value.starts_with("smtps://") {
        return match CredentialUrl::parse(&value) {
            Ok((_, parsed))
                if parsed.scheme() == "smtp"
                    && (!parsed.username().is_empty() || parsed.password().is_some())
                    // lettre reads the first `tls` parameter.
                    && parsed
                        .query_pairs()
                        .find(|(key, _)| key == "tls")
                        .is_none_or(|(_, value)| value != "required") =>
            {
                // lettre would log in, and send every reset link, in plain text.
                vars.report(
                    "MAIL_TRANSPORT",
                    "credentials need an encrypted connection: use smtps:// or add ?tls=required",
                );
                MailTransport::Log
            }
            Ok((url, parsed)) if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
                MailTransport::Smtp(url)
            }
            Ok(_) => {
                vars.report(
                    "MAIL_TRANSPORT",
                    "expected a host after smtp:// or smtps://",
                );
                MailTransport::Log
            }
            Err(err) => {
                vars.report("MAIL_TRANSPORT", format!("not a valid SMTP URL ({err})"));
                MailTransport::Log
            }
        };
    }
    vars.report(
        "MAIL_TRANSPORT",
        "expected log, file:<dir>, smtp://… or smtps://…",
    );
    MailTransport::Log
}

/// `MAIL_FROM`: a mailbox (`Name <user@host>` or a bare address); unset: `authd
/// <no-reply@HOST>` with the host of `public_url`.
pub(super) fn mail_from<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    public_url: &str,
) -> Mailbox {
    // Returned only alongside a reported problem, so it is never used.
    let placeholder = || Mailbox::new(None, Address::new_dangerous("no-reply", "localhost"));
    if let Some(value) = vars.get("MAIL_FROM") {
        // lettre's own error ("Invalid input") would add nothing to this message.
        return value.parse().unwrap_or_else(|_| {
            vars.report(
                "MAIL_FROM",
                format!(
                    "expected an address such as `authd <no-reply@example.com>`, got {value:?}"
                ),
            );
            placeholder()
        });
    }
    // A bad AUTHD_PUBLIC_URL is reported by name already and leaves `public_url` empty.
    let Some(host) = Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    else {
        return placeholder();
    };
    match Address::new("no-reply", &host) {
        Ok(address) => Mailbox::new(Some("authd".to_owned()), address),
        Err(_) => {
            vars.report(
                "MAIL_FROM",
                format!("unset, and no-reply@{host} (from AUTHD_PUBLIC_URL) is not an email address: set it"),
            );
            placeholder()
        }
    }
}

/// `MAIL_LINK_BASE`: where the links in mails point (`{base}/verify-email?token=…`), so a
/// web app can serve those pages itself; unset: `public_url`, authd's own pages.
pub(super) fn mail_link_base<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    public_url: &str,
) -> String {
    let Some(value) = vars.get("MAIL_LINK_BASE") else {
        return public_url.to_owned();
    };
    base_url(&value).unwrap_or_else(|message| {
        vars.report("MAIL_LINK_BASE", format!("{message}, got {value:?}"));
        String::new()
    })
}
