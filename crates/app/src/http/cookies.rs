//! Reading cookies from a request: one place for the rule that a name sent twice counts
//! as absent.

use axum::http::{HeaderMap, header};

/// The value of cookie `name`, if the request carries exactly one of that name. Two of
/// one name mean one was planted (for a wider path, or by a sibling subdomain over plain
/// http): trust neither.
pub(super) fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, value)| value);
    let value = values.next()?;
    values.next().is_none().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(header::COOKIE, cookie.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_cookie_is_found_among_others_and_in_any_header() {
        let headers = headers(&["a=1; b=2", "c=3"]);
        assert_eq!(read(&headers, "b"), Some("2"));
        assert_eq!(read(&headers, "c"), Some("3"));
        assert_eq!(read(&headers, "d"), None);
    }

    #[test]
    fn a_name_sent_twice_counts_as_absent() {
        assert_eq!(read(&headers(&["a=1; a=2"]), "a"), None);
        assert_eq!(read(&headers(&["a=1", "a=1"]), "a"), None);
    }
}
