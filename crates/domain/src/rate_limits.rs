//! Rate limits by client address, shared by the services that count attempts: which keys
//! an address is counted under, and the check of each against the limiter port.

use crate::audit::ClientInfo;
use auth_ports::{RateDecision, RateLimit, RateLimiter};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// How many times the per-address limit an IPv6 /56 and a /48 may use: a /56 is commonly
/// one household or small site (several /64 networks), a /48 one organisation.
pub const WIDE_PREFIX_FACTORS: (u32, u32) = (4, 16);

/// Counts one attempt under `key`; `Err(retry_after)` when it is over `limit`.
pub(crate) async fn check(
    limiter: &dyn RateLimiter,
    key: &str,
    limit: RateLimit,
) -> Result<(), Duration> {
    match limiter.check(key, limit).await {
        RateDecision::Allowed => Ok(()),
        RateDecision::Limited { retry_after } => Err(retry_after),
    }
}

/// The key of a client address as one source: the address itself for IPv4, its /64
/// for IPv6 (one subscriber usually holds a whole /64, so single addresses are free).
pub(crate) fn ip_key(client: &ClientInfo) -> String {
    match client.ip {
        Some(IpAddr::V6(ip)) => ipv6_prefix(ip, 64),
        Some(ip) => ip.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Counts an attempt from `client` against `limit` under `scope`, once for each key
/// of the address: IPv4 the address; IPv6 its /64 at `limit`, its /56 at
/// [`WIDE_PREFIX_FACTORS`]`.0` × and its /48 at `.1` × `limit`, so rotating through
/// the /64s of one allocation does not multiply the budget. Refused when any is over.
pub(crate) async fn limit_ip(
    limiter: &dyn RateLimiter,
    scope: &str,
    client: &ClientInfo,
    limit: RateLimit,
) -> Result<(), Duration> {
    check(limiter, &format!("{scope}:ip:{}", ip_key(client)), limit).await?;
    if let Some(IpAddr::V6(ip)) = client.ip {
        let (f56, f48) = WIDE_PREFIX_FACTORS;
        for (bits, factor) in [(56, f56), (48, f48)] {
            let wider = RateLimit {
                max: limit.max.saturating_mul(factor),
                window: limit.window,
            };
            let key = format!("{scope}:ip:{}", ipv6_prefix(ip, bits));
            check(limiter, &key, wider).await?;
        }
    }
    Ok(())
}

/// `ip`'s network of `bits` (at most 64) as `a:b:c::/bits`.
pub(crate) fn ipv6_prefix(ip: Ipv6Addr, bits: usize) -> String {
    let groups: Vec<String> = ip.segments()[..bits / 16]
        .iter()
        .map(|g| format!("{g:x}"))
        .collect();
    let partial = if bits.is_multiple_of(16) {
        String::new()
    } else {
        let g = ip.segments()[bits / 16] & (0xffff_u16 << (16 - bits % 16));
        format!(":{g:x}")
    };
    format!("{}{partial}::/{bits}", groups.join(":"))
}
