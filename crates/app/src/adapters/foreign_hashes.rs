//! Password hashes other systems made, as their exports hold them: recognised and
//! checked, never made (a match is answered with "rehash", and the login stores an
//! argon2id hash in its place). The formats, and how each system's export becomes one,
//! are in docs/operations.md, "Migrating to authd".
//!
//! - bcrypt, `$2a$`/`$2b$`/`$2y$` (Supabase, Kratos, most PHP and Rails apps);
//! - Better-Auth's scrypt, `<hex salt>:<hex key>` (N 2^14, r 16, p 1, 64 bytes, the
//!   password NFKC-normalised and the salt's hex text used as the salt);
//! - Firebase's scrypt, `$firebase-scrypt$m=<mem cost>,r=<rounds>$<signer key>$<salt
//!   separator>$<salt>$<hash>` (base64 fields): the project's signer key encrypted with
//!   AES-256-CTR under scrypt(password, salt ‖ separator);
//! - Django's PBKDF2, `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`;
//! - PBKDF2 as Keycloak and Kratos keep it, in PHC form:
//!   `$pbkdf2-sha256$i=<iterations>[,l=<length>]$<base64 salt>$<base64 hash>` (and
//!   `pbkdf2-sha512`).
//!
//! Costs are bounded (see the `MAX_` constants), so a stored hash cannot make one check
//! take minutes or gigabytes.

use aes::cipher::{KeyIvInit as _, StreamCipher as _};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq as _;
use unicode_normalization::UnicodeNormalization as _;

/// Highest bcrypt cost accepted: 2^16 rounds, a few seconds of one core.
const MAX_BCRYPT_COST: u32 = 16;
/// Most PBKDF2 iterations accepted: above Django's 1,000,000 of 2025, under 2 s a check.
const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;
/// Most scrypt memory accepted per check (128 · N · r bytes): 64 MiB, twice Better-Auth's.
const MAX_SCRYPT_MEMORY: u64 = 64 << 20;
/// The longest derived key or salt accepted, in bytes.
const MAX_FIELD: usize = 1024;

/// Standard base64 with or without padding: exports differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A stored hash in one of the foreign formats, parsed.
#[derive(Clone)]
pub enum ForeignHash {
    /// The whole `$2…$` string, which the bcrypt crate parses itself.
    Bcrypt(String),
    /// Better-Auth: the salt is the hex text, not the bytes it spells.
    BetterAuth { salt: String, key: Vec<u8> },
    /// Firebase's scrypt variant.
    Firebase {
        scrypt: scrypt::Params,
        signer_key: Vec<u8>,
        /// The user's salt followed by the project's salt separator.
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// PBKDF2 with HMAC-SHA-256 or -512 (Django's and the PHC forms).
    Pbkdf2 {
        digest: Digest,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// The hash function under PBKDF2.
#[derive(Clone, Copy)]
pub enum Digest {
    Sha256,
    Sha512,
}

/// Why a string in a foreign format cannot be checked; names the problem, never the string.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(&'static str);

impl ForeignHash {
    /// `None` when `stored` is in none of the foreign formats; else the parsed hash, or
    /// what is wrong with it.
    pub fn parse(stored: &str) -> Option<Result<Self, Malformed>> {
        if let Some(rest) = ["$2a$", "$2b$", "$2y$"]
            .iter()
            .find_map(|prefix| stored.strip_prefix(prefix))
        {
            return Some(bcrypt_cost(rest).map(|_| Self::Bcrypt(stored.to_owned())));
        }
        if let Some(rest) = stored.strip_prefix("$firebase-scrypt$") {
            return Some(firebase(rest));
        }
        if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
            return Some(django(rest));
        }
        for (prefix, digest) in [
            ("$pbkdf2-sha256$", Digest::Sha256),
            ("$pbkdf2-sha512$", Digest::Sha512),
        ] {
            if let Some(rest) = stored.strip_prefix(prefix) {
                return Some(pbkdf2_phc(rest, digest));
            }
        }
        better_auth(stored)
    }

    /// Whether `password` is the one this hash was made of (compared in constant time).
    pub fn matches(&self, password: &str) -> Result<bool, Malformed> {
        match self {
            // bcrypt uses the first 72 bytes, as the system that made the hash did.
            Self::Bcrypt(stored) => {
                bcrypt::verify(password, stored).map_err(|_| Malformed("invalid bcrypt hash"))
            }
            Self::BetterAuth { salt, key } => {
                let password: String = password.nfkc().collect();
                let params = scrypt_params(14, 16, 1)?;
                let mut out = vec![0; key.len()];
                scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out)
                    .map_err(|_| Malformed("invalid scrypt key length"))?;
                Ok(bool::from(out.ct_eq(key)))
            }
            Self::Firebase {
                scrypt: params,
                signer_key,
                salt,
                hash,
            } => {
                let mut key = [0; 32];
                scrypt::scrypt(password.as_bytes(), salt, params, &mut key)
                    .map_err(|_| Malformed("invalid scrypt key length"))?;
                let mut sealed = signer_key.clone();
                ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &[0; 16].into())
                    .apply_keystream(&mut sealed);
                Ok(bool::from(sealed.ct_eq(hash)))
            }
            Self::Pbkdf2 {
                digest,
                iterations,
                salt,
                hash,
            } => {
                let mut out = vec![0; hash.len()];
                match digest {
                    Digest::Sha256 => {
                        pbkdf2::pbkdf2_hmac::<Sha256>(
                            password.as_bytes(),
                            salt,
                            *iterations,
                            &mut out,
                        );
                    }
                    Digest::Sha512 => {
                        pbkdf2::pbkdf2_hmac::<Sha512>(
                            password.as_bytes(),
                            salt,
                            *iterations,
                            &mut out,
                        );
                    }
                }
                Ok(bool::from(out.ct_eq(hash)))
            }
        }
    }
}

/// The cost of a bcrypt hash after its `$2x$` prefix: two digits, `$`, 53 characters.
fn bcrypt_cost(rest: &str) -> Result<u32, Malformed> {
    let (cost, body) = rest
        .split_once('$')
        .ok_or(Malformed("bcrypt hash without a cost"))?;
    let cost: u32 = cost
        .parse()
        .map_err(|_| Malformed("bcrypt cost is not a number"))?;
    if !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(Malformed("bcrypt cost out of range 4..=16"));
    }
    if body.len() != 53 {
        return Err(Malformed("bcrypt salt and hash are not 53 characters"));
    }
    Ok(cost)
}

/// `<32 hex digits>:<hex digits>`, Better-Auth's own format; `None` for anything else.
fn better_auth(stored: &str) -> Option<Result<ForeignHash, Malformed>> {
    let (salt, key) = stored.split_once(':')?;
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if salt.len() != 32 || !hex(salt) || !hex(key) {
        return None;
    }
    Some(
        decode_hex(key)
            .filter(|key| (16..=MAX_FIELD).contains(&key.len()))
            .map(|key| ForeignHash::BetterAuth {
                salt: salt.to_owned(),
                key,
            })
            .ok_or(Malformed("Better-Auth key is not 16 to 1024 hex bytes")),
    )
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `m=<mem cost>,r=<rounds>$<signer key>$<separator>$<salt>$<hash>`.
fn firebase(rest: &str) -> Result<ForeignHash, Malformed> {
    let fields: Vec<&str> = rest.split('$').collect();
    let [params, signer_key, separator, salt, hash] = fields[..] else {
        return Err(Malformed(
            "Firebase scrypt hash is not m=…,r=…$key$separator$salt$hash",
        ));
    };
    let (mut mem_cost, mut rounds) = (None, None);
    for param in params.split(',') {
        match param.split_once('=') {
            Some(("m", value)) => mem_cost = value.parse::<u8>().ok(),
            Some(("r", value)) => rounds = value.parse::<u32>().ok(),
            _ => return Err(Malformed("Firebase scrypt parameters are m and r")),
        }
    }
    let (Some(mem_cost), Some(rounds)) = (mem_cost, rounds) else {
        return Err(Malformed("Firebase scrypt needs numbers m and r"));
    };
    let mut salt = base64_field(salt, "Firebase salt is not base64 of 1 to 1024 bytes")?;
    salt.extend(base64_field(
        separator,
        "Firebase salt separator is not base64 of 1 to 1024 bytes",
    )?);
    Ok(ForeignHash::Firebase {
        scrypt: scrypt_params(mem_cost, rounds, 1)?,
        signer_key: base64_field(
            signer_key,
            "Firebase signer key is not base64 of 1 to 1024 bytes",
        )?,
        salt,
        hash: base64_field(hash, "Firebase hash is not base64 of 1 to 1024 bytes")?,
    })
}

/// `<iterations>$<salt text>$<base64 hash>`, after Django's `pbkdf2_sha256$`.
fn django(rest: &str) -> Result<ForeignHash, Malformed> {
    let fields: Vec<&str> = rest.split('$').collect();
    let [iterations, salt, hash] = fields[..] else {
        return Err(Malformed(
            "Django hash is not pbkdf2_sha256$iterations$salt$hash",
        ));
    };
    let iterations = iterations
        .parse()
        .map_err(|_| Malformed("Django iterations are not a number"))?;
    pbkdf2(
        Digest::Sha256,
        iterations,
        salt.as_bytes().to_vec(),
        base64_field(hash, "Django hash is not base64 of 1 to 1024 bytes")?,
    )
}

/// `i=<iterations>[,l=<length>]$<base64 salt>$<base64 hash>`, after `$pbkdf2-sha…$`.
fn pbkdf2_phc(rest: &str, digest: Digest) -> Result<ForeignHash, Malformed> {
    let fields: Vec<&str> = rest.split('$').collect();
    let [params, salt, hash] = fields[..] else {
        return Err(Malformed("PBKDF2 hash is not $pbkdf2-…$i=…$salt$hash"));
    };
    let hash = base64_field(hash, "PBKDF2 hash is not base64 of 1 to 1024 bytes")?;
    let mut iterations = None;
    for param in params.split(',') {
        match param.split_once('=') {
            Some(("i", value)) => iterations = value.parse().ok(),
            Some(("l", value)) if value.parse() == Ok(hash.len()) => {}
            Some(("l", _)) => return Err(Malformed("PBKDF2 length l is not the hash's")),
            _ => return Err(Malformed("PBKDF2 parameters are i and l")),
        }
    }
    let iterations = iterations.ok_or(Malformed("PBKDF2 hash needs a number i"))?;
    pbkdf2(
        digest,
        iterations,
        base64_field(salt, "PBKDF2 salt is not base64 of 1 to 1024 bytes")?,
        hash,
    )
}

fn pbkdf2(
    digest: Digest,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
) -> Result<ForeignHash, Malformed> {
    if !(1..=MAX_PBKDF2_ITERATIONS).contains(&iterations) {
        return Err(Malformed("PBKDF2 iterations out of range 1..=5000000"));
    }
    if salt.len() > MAX_FIELD || !(16..=MAX_FIELD).contains(&hash.len()) {
        return Err(Malformed("PBKDF2 salt or hash of an unusable length"));
    }
    Ok(ForeignHash::Pbkdf2 {
        digest,
        iterations,
        salt,
        hash,
    })
}

fn scrypt_params(log_n: u8, r: u32, p: u32) -> Result<scrypt::Params, Malformed> {
    let memory = 128u64
        .checked_shl(u32::from(log_n))
        .and_then(|m| m.checked_mul(u64::from(r)));
    if memory.is_none_or(|m| m > MAX_SCRYPT_MEMORY) {
        return Err(Malformed("scrypt memory above 64 MiB"));
    }
    scrypt::Params::new(log_n, r, p).map_err(|_| Malformed("invalid scrypt parameters"))
}

fn base64_field(field: &str, what: &'static str) -> Result<Vec<u8>, Malformed> {
    let bytes = BASE64.decode(field).map_err(|_| Malformed(what))?;
    if bytes.is_empty() || bytes.len() > MAX_FIELD {
        return Err(Malformed(what));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
