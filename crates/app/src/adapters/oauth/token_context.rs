//! What a sealed provider token is bound to: the account (provider, subject) and the
//! token's role, so a ciphertext copied to another row or column does not open.

/// Which token of an account a ciphertext holds.
#[derive(Debug, Clone, Copy)]
pub(super) enum TokenRole {
    Access,
    Refresh,
}

/// The associated data of a provider token. Unambiguous: provider names cannot hold `|`,
/// and the subject, which can, comes last.
pub(super) fn token_context(provider: &str, subject: &str, role: TokenRole) -> Vec<u8> {
    let role = match role {
        TokenRole::Access => "access",
        TokenRole::Refresh => "refresh",
    };
    format!("authd-oauth-token-v1|{role}|{provider}|{subject}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sealing::Sealer;

    const TOKEN: &[u8] = b"ya29.provider-access-token";

    #[test]
    fn a_sealed_token_opens_only_for_its_account_and_role() {
        let sealer = Sealer::new(&[7; 32]);
        let sealed = sealer.seal(TOKEN, &token_context("google", "sub-1", TokenRole::Access));
        let open =
            |provider, subject, role| sealer.open(&sealed, &token_context(provider, subject, role));

        assert_eq!(
            open("google", "sub-1", TokenRole::Access).as_deref(),
            Some(TOKEN)
        );
        assert_eq!(open("google", "sub-2", TokenRole::Access), None);
        assert_eq!(open("gitlab", "sub-1", TokenRole::Access), None);
        assert_eq!(open("google", "sub-1", TokenRole::Refresh), None);
    }
}
