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
/// to the first untrusted address. A hop that does not parse (bytes that are not ASCII
/// included) ends the walk: what lies left of it is not vouched for, so the last trusted
/// address is used.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut nearest = peer.to_canonical();
    if !is_trusted(&nearest) {
        return nearest;
    }
    // Split as bytes: a client's non-ASCII byte must not hide the hops our proxy
    // appended to the same line.
    let hops: Vec<&[u8]> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = std::str::from_utf8(hop)
            .ok()
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok())
        else {
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
    fn a_hop_that_is_not_ascii_ends_the_walk_without_hiding_the_hops_after_it() {
        let mut headers = HeaderMap::new();
        let value = b"198.51.100.7, \xff, 203.0.113.9";
        headers.insert(X_FORWARDED_FOR, value.as_slice().try_into().unwrap());
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(ip("10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_proxies() {
        let mapped = client("::ffff:10.0.0.2", "198.51.100.7", &["10.0.0.0/8"]);
        assert_eq!(mapped, ip("198.51.100.7"));
    }

    mod properties {
        use super::*;
        use axum::http::HeaderValue;
        use ipnet::IpNet;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use std::net::{Ipv4Addr, Ipv6Addr};

        /// Addresses, often inside the networks [`trusted`] draws from, IPv4-mapped IPv6
        /// ones included.
        fn address() -> impl Strategy<Value = IpAddr> {
            let v4 = prop_oneof![
                any::<[u8; 4]>().prop_map(Ipv4Addr::from),
                any::<[u8; 3]>().prop_map(|[a, b, c]| Ipv4Addr::new(10, a, b, c)),
                Just(Ipv4Addr::LOCALHOST),
            ];
            prop_oneof![
                v4.clone().prop_map(IpAddr::V4),
                v4.prop_map(|v4| IpAddr::V6(v4.to_ipv6_mapped())),
                any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
                any::<u128>()
                    .prop_map(|bits| IpAddr::V6(Ipv6Addr::from((0xfd << 120) | (bits >> 8)))),
            ]
        }

        /// `TRUSTED_PROXIES`: fixed networks and random ones of any prefix length.
        fn trusted() -> impl Strategy<Value = Vec<IpNet>> {
            let net = prop_oneof![
                Just("10.0.0.0/8".parse::<IpNet>().unwrap()),
                Just("fd00::/8".parse().unwrap()),
                Just("127.0.0.1/32".parse().unwrap()),
                (address(), 0..=128_u8).prop_map(|(ip, len)| {
                    let len = len.min(if ip.is_ipv4() { 32 } else { 128 });
                    IpNet::new(ip, len).unwrap().trunc()
                }),
            ];
            vec(net, 0..4)
        }

        /// One hop of `X-Forwarded-For` as a proxy or a client may write it: an address
        /// with blanks around it, one with brackets or a port, or garbage, including
        /// bytes that are not ASCII; never a comma (hops are split on commas).
        fn hop() -> impl Strategy<Value = Vec<u8>> {
            let blank = || "[ \t]{0,2}";
            let garbage_byte = prop_oneof![
                (0x20_u8..0x7f).prop_filter("not a comma", |b| *b != b','),
                0x80_u8..=0xff,
                Just(b'\t'),
            ];
            prop_oneof![
                4 => (blank(), address(), blank()).prop_map(|(l, ip, r)| format!("{l}{ip}{r}").into_bytes()),
                1 => address().prop_map(|ip| format!("[{ip}]").into_bytes()),
                1 => (address(), any::<u16>()).prop_map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string().into_bytes()),
                1 => "[a-z0-9.:_ -]{0,12}".prop_map(String::into_bytes),
                2 => vec(garbage_byte, 0..12),
            ]
        }

        /// The lines of the header (a proxy may append a line or a `, hop`), as hops.
        fn lines() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
            vec(vec(hop(), 1..5), 0..4)
        }

        fn headers(lines: &[Vec<Vec<u8>>]) -> HeaderMap {
            let mut headers = HeaderMap::new();
            for line in lines {
                let value = HeaderValue::from_bytes(&line.join(&b","[..])).unwrap();
                headers.append(X_FORWARDED_FOR, value);
            }
            headers
        }

        /// The hop as an address, if it is one.
        fn parsed(hop: &[u8]) -> Option<IpAddr> {
            std::str::from_utf8(hop).ok()?.trim().parse().ok()
        }

        fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
            trusted.iter().any(|net| net.contains(&ip.to_canonical()))
        }

        proptest! {
            #[test]
            fn the_client_is_the_peer_or_a_hop_and_only_trusted_peers_are_believed(
                peer in address(),
                lines in lines(),
                trusted in trusted(),
            ) {
                let client = client_ip(peer, &headers(&lines), &trusted);
                if !is_trusted(peer, &trusted) {
                    prop_assert_eq!(client, peer.to_canonical());
                }
                let named = lines.iter().flatten().filter_map(|hop| parsed(hop));
                prop_assert!(
                    client == peer.to_canonical() || named.map(|ip| ip.to_canonical()).any(|ip| ip == client),
                    "{} is neither the peer nor in the header", client
                );
            }

            #[test]
            fn the_hop_a_trusted_proxy_appends_decides_whatever_the_client_sent(
                peer in address(),
                sent in lines(),
                client in address(),
                own_line in any::<bool>(),
                trusted in trusted(),
            ) {
                let trusted = [trusted, vec![IpNet::from(peer.to_canonical())]].concat();
                prop_assume!(!is_trusted(client, &trusted));
                let mut lines = sent;
                let appended = client.to_string().into_bytes();
                match lines.last_mut() {
                    Some(last) if !own_line => last.push(appended),
                    _ => lines.push(vec![appended]),
                }
                prop_assert_eq!(client_ip(peer, &headers(&lines), &trusted), client.to_canonical());
            }

            #[test]
            fn nothing_left_of_the_first_hop_that_is_not_a_trusted_proxy_counts(
                peer in address(),
                left in lines(),
                right in vec(vec(hop(), 1..5), 1..4),
                joined in any::<bool>(),
                trusted in trusted(),
            ) {
                let stops = right
                    .iter()
                    .flatten()
                    .any(|hop| parsed(hop).is_none_or(|ip| !is_trusted(ip, &trusted)));
                prop_assume!(stops);
                let alone = client_ip(peer, &headers(&right), &trusted);
                let (mut lines, mut right) = (left, right);
                if joined && let Some(last) = lines.last_mut() {
                    last.extend(right.remove(0));
                }
                lines.extend(right);
                prop_assert_eq!(client_ip(peer, &headers(&lines), &trusted), alone);
            }

            #[test]
            fn a_chain_of_trusted_proxies_is_walked_to_its_start(
                peer in address(),
                chain in vec(address(), 0..6),
                trusted in trusted(),
            ) {
                let hosts = std::iter::once(peer).chain(chain.iter().copied());
                let trusted: Vec<IpNet> = trusted
                    .into_iter()
                    .chain(hosts.map(|ip| IpNet::from(ip.to_canonical())))
                    .collect();
                let line: Vec<Vec<u8>> = chain.iter().map(|ip| ip.to_string().into_bytes()).collect();
                let headers = if line.is_empty() { HeaderMap::new() } else { headers(&[line]) };
                let expected = chain.first().copied().unwrap_or(peer).to_canonical();
                prop_assert_eq!(client_ip(peer, &headers, &trusted), expected);
            }
        }
    }
}
