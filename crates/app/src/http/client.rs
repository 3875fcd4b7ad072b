//! Who sent a request: the socket's peer, or the address a trusted proxy names in
//! `X-Forwarded-For`, and the user agent, as sessions and the audit log keep them.

use auth_domain::ClientInfo;
use axum::http::{HeaderMap, header};
use std::net::IpAddr;

/// The header a trusted proxy names the client in.
pub(super) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Longest user agent kept for sessions and the audit log.
const MAX_USER_AGENT_CHARS: usize = 512;

/// The client of a request from its socket peer and headers (see `extract::Client`).
pub(super) fn client_info(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> ClientInfo {
    let ip = peer.map(|peer| client_ip(peer, headers, trusted));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    ClientInfo { ip, user_agent }
}

/// Walks `X-Forwarded-For` from the right (the hop our proxy added) past trusted proxies
/// to the first untrusted address. A hop that does not parse ends the walk: what lies
/// left of it is not vouched for, so the last trusted address is used.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut nearest = peer.to_canonical();
    if !is_trusted(&nearest) {
        return nearest;
    }
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        nearest = ip.to_canonical();
        if !is_trusted(&nearest) {
            break;
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client `client_ip` finds for `peer` with `X-Forwarded-For: forwarded_for`
    /// (none when empty) and the proxies `trusted`.
    fn client(peer: &str, forwarded_for: &str, trusted: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        if !forwarded_for.is_empty() {
            headers.insert(X_FORWARDED_FOR, forwarded_for.parse().unwrap());
        }
        let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
        client_ip(peer.parse().unwrap(), &headers, &trusted)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        assert_eq!(
            client("203.0.113.1", "198.51.100.7", &[]),
            ip("203.0.113.1")
        );
    }

    #[test]
    fn forwarded_for_is_walked_past_trusted_proxies() {
        let hops = "1.1.1.1, 198.51.100.7, 10.0.0.3";
        assert_eq!(
            client("10.0.0.2", hops, &["10.0.0.0/8"]),
            ip("198.51.100.7")
        );
        assert_eq!(client("10.0.0.2", "", &["10.0.0.0/8"]), ip("10.0.0.2"));
    }

    #[test]
    fn an_unparsable_hop_ends_the_walk() {
        let hops = "198.51.100.7, unknown, 10.0.0.3";
        assert_eq!(client("10.0.0.2", hops, &["10.0.0.0/8"]), ip("10.0.0.3"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_proxies() {
        let mapped = client("::ffff:10.0.0.2", "198.51.100.7", &["10.0.0.0/8"]);
        assert_eq!(mapped, ip("198.51.100.7"));
    }
}
