//! Second factors: `MFA_SECRET_KEY` (seals TOTP secrets), and the WebAuthn relying
//! party of passkeys: `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME` and the origins passkeys are
//! used from (`AUTHD_PUBLIC_URL`'s and `CORS_ALLOWED_ORIGINS`).

use super::secret::{Secret, aes_key};
use super::vars::Vars;
use url::{Host, Url};

/// `WEBAUTHN_RP_NAME` when unset.
const DEFAULT_RP_NAME: &str = "authd";

/// Second factors.
#[derive(Debug, Clone)]
pub struct MfaConfig {
    /// AES-256-GCM key that seals TOTP secrets, bound to their user (`MFA_SECRET_KEY`);
    /// `None`: TOTP enrolment is not offered.
    pub secret_key: Option<Secret<[u8; 32]>>,
    /// The service's name as users see it in authenticator apps (the TOTP issuer) and
    /// passkey prompts (`WEBAUTHN_RP_NAME`, default `authd`).
    pub rp_name: String,
    /// The passkey relying party; `None` when `AUTHD_PUBLIC_URL`'s host is an IP address
    /// (WebAuthn needs a domain), so passkeys are not offered.
    pub webauthn: Option<WebauthnConfig>,
}

/// The WebAuthn relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// The domain passkeys are bound to (`WEBAUTHN_RP_ID`, default the host of
    /// `AUTHD_PUBLIC_URL`). Changing it orphans every registered passkey.
    pub rp_id: String,
    /// Origins a ceremony may come from, as browsers send them: `AUTHD_PUBLIC_URL`'s
    /// first, then those of `CORS_ALLOWED_ORIGINS` on the RP ID or a subdomain of it.
    pub origins: Vec<String>,
    /// The `CORS_ALLOWED_ORIGINS` that are not on the RP ID, so cannot use passkeys (for
    /// a warning at start-up: cookie sessions and the API work there all the same).
    pub left_out: Vec<String>,
}

/// `MFA_SECRET_KEY`, `WEBAUTHN_RP_NAME` and `WEBAUTHN_RP_ID` with the origins of
/// `public_url` (empty when it was bad, already reported) and `cors_origins`.
pub(super) fn mfa<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    public_url: &str,
    cors_origins: &[String],
) -> MfaConfig {
    MfaConfig {
        secret_key: aes_key(vars, "MFA_SECRET_KEY"),
        rp_name: vars
            .get("WEBAUTHN_RP_NAME")
            .unwrap_or_else(|| DEFAULT_RP_NAME.to_owned()),
        webauthn: webauthn(vars, public_url, cors_origins),
    }
}

fn webauthn<F: Fn(&str) -> Option<String>>(
    vars: &mut Vars<F>,
    public_url: &str,
    cors_origins: &[String],
) -> Option<WebauthnConfig> {
    let public = Url::parse(public_url).ok();
    let rp_id = match vars.get("WEBAUTHN_RP_ID") {
        Some(value) => match domain_of(&value) {
            Some(domain) => domain,
            None => {
                vars.report(
                    "WEBAUTHN_RP_ID",
                    format!("expected a domain name such as example.com, got {value:?}"),
                );
                return None;
            }
        },
        // An IP address cannot be an RP ID: without a domain, no passkeys.
        None => match public.as_ref()?.host()? {
            Host::Domain(domain) => domain.to_owned(),
            Host::Ipv4(_) | Host::Ipv6(_) => return None,
        },
    };
    let own = public.as_ref()?.origin().ascii_serialization();
    if !is_within(&own, &rp_id) {
        vars.report(
            "WEBAUTHN_RP_ID",
            format!(
                "AUTHD_PUBLIC_URL's origin {own} is not on {rp_id} or a subdomain of it, so \
                 passkeys could not be used from authd itself; set WEBAUTHN_RP_ID to a domain \
                 it is on"
            ),
        );
        return None;
    }
    let (within, left_out): (Vec<String>, Vec<String>) = cors_origins
        .iter()
        .cloned()
        .partition(|origin| is_within(origin, &rp_id));
    let origins = std::iter::once(own).chain(within).collect();
    Some(WebauthnConfig {
        rp_id,
        origins,
        left_out,
    })
}

/// `value` as a lower-case domain name, if it is one (not an IP address, no port, path or
/// scheme).
fn domain_of(value: &str) -> Option<String> {
    let url = Url::parse(&format!("https://{value}/")).ok()?;
    match url.host()? {
        Host::Domain(domain)
            if url.port().is_none()
                && url.as_str() == format!("https://{}/", value.to_ascii_lowercase()) =>
        {
            Some(domain.to_owned())
        }
        _ => None,
    }
}

/// Whether `origin`'s host is `rp_id` or a subdomain of it.
fn is_within(origin: &str, rp_id: &str) -> bool {
    Url::parse(origin)
        .ok()
        .and_then(|url| url.domain().map(str::to_owned))
        .is_some_and(|host| host == rp_id || host.ends_with(&format!(".{rp_id}")))
}

#[cfg(test)]
#[path = "mfa_tests.rs"]
mod tests;
