//! Which browser pages may open a WebSocket, and which host room links name.
//!
//! A page's `Origin` alone proves little: with DNS rebinding, `http://evil.example:8420`
//! can resolve to this server, and the browser then sends a matching `Host`. So an Origin
//! passes when it is `--public-url`'s, one of `--allowed-origins`, or the very `Host` the
//! request went to when that host cannot be rebound: an IP literal, `localhost`, or a
//! `.local` name (resolved on the local network only). Other names need `--public-url`.

use axum::http::{header, HeaderMap};

use crate::Config;

/// Whether a request with these headers may open a WebSocket. Clients that send no
/// Origin (editors' plugins, CLI tools) are not browsers and pass.
pub fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if config
        .allowed_origins
        .iter()
        .any(|a| a == "*" || same_origin(a, origin))
    {
        return true;
    }
    if config
        .public_url
        .as_deref()
        .is_some_and(|public| same_origin(public, origin))
    {
        return true;
    }
    if let Some(host) = trusted_host(headers) {
        return same_origin(&format!("http://{host}"), origin);
    }
    // The page came from this server under a DNS name: allowed only when configured.
    // Say how, once, since the editor can only show that it cannot connect.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if host.is_some_and(|host| same_origin(&format!("http://{host}"), origin))
        && !NAMED_HOST_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            %origin,
            "refusing WebSockets from pages served under a DNS name; start the server \
             with --public-url {origin} (or --allowed-origins) to allow it"
        );
    }
    false
}

/// Whether the hint about DNS names has been logged.
static NAMED_HOST_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The base of room links: `--public-url`, else `http://` and the request's `Host` when
/// it cannot be rebound (see the module doc), else empty (links are then relative).
pub fn base_url(config: &Config, headers: &HeaderMap) -> String {
    if let Some(public) = &config.public_url {
        return public.trim_end_matches('/').to_string();
    }
    trusted_host(headers)
        .map(|host| format!("http://{host}"))
        .unwrap_or_default()
}

/// The request's `Host`, when it names this machine in a way no one else's DNS can.
fn trusted_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let name = strip_port(host)?;
    let name = name.to_ascii_lowercase();
    let trusted = name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || (name.ends_with(".local") && name.len() > ".local".len());
    trusted.then_some(host)
}

/// `host` without its `:port`; IPv6 literals keep their brackets off.
fn strip_port(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (address, tail) = rest.split_once(']')?;
        return (tail.is_empty() || tail.strip_prefix(':').is_some_and(is_port)).then_some(address);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => Some(name),
        Some(_) => None,
        None => Some(host),
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether two origins (or URLs) have the same scheme, host and port. A path on `a`
/// (a public URL under a prefix) is ignored.
fn same_origin(a: &str, b: &str) -> bool {
    fn parts(url: &str) -> Option<(String, String)> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next()?;
        let scheme = scheme.to_ascii_lowercase();
        let mut authority = authority.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => ":80",
            "https" => ":443",
            _ => "",
        };
        if !default_port.is_empty() && authority.ends_with(default_port) {
            authority.truncate(authority.len() - default_port.len());
        }
        Some((scheme, authority))
    }
    match (parts(a), parts(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    fn config(args: &[&str]) -> Config {
        Config::from_args(args).expect("config")
    }

    #[test]
    fn own_address_passes() {
        let plain = config(&[]);
        assert!(origin_allowed(&headers(None, "h:1"), &plain));
        for (origin, host) in [
            ("http://127.0.0.1:8420", "127.0.0.1:8420"),
            ("http://localhost:8420", "localhost:8420"),
            ("http://[::1]:8420", "[::1]:8420"),
            ("http://192.168.1.20:8420", "192.168.1.20:8420"),
            ("http://ada-laptop.local:8420", "ada-laptop.local:8420"),
            ("http://LOCALHOST", "localhost:80"),
        ] {
            assert!(
                origin_allowed(&headers(Some(origin), host), &plain),
                "{origin} to {host}"
            );
        }
    }

    #[test]
    fn rebinding_scheme_and_strangers_fail() {
        let plain = config(&[]);
        for (origin, host) in [
            // DNS rebinding: the attacker's name resolves to this server.
            ("http://evil.example:8420", "evil.example:8420"),
            ("https://127.0.0.1:8420", "127.0.0.1:8420"),
            ("http://127.0.0.1:9999", "127.0.0.1:8420"),
            ("http://evil.example", "127.0.0.1:8420"),
            ("null", "127.0.0.1:8420"),
            ("http://x.local.evil.example:1", "x.local.evil.example:1"),
        ] {
            assert!(
                !origin_allowed(&headers(Some(origin), host), &plain),
                "{origin} to {host}"
            );
        }
    }

    #[test]
    fn configured_origins_pass() {
        let public = config(&["--public-url", "https://pair.example.com/"]);
        assert!(origin_allowed(
            &headers(Some("https://pair.example.com"), "pair.example.com"),
            &public
        ));
        assert!(!origin_allowed(
            &headers(Some("http://pair.example.com"), "pair.example.com"),
            &public
        ));
        let allowed = config(&["--allowed-origins", "http://app.example"]);
        assert!(origin_allowed(
            &headers(Some("http://app.example"), "h:1"),
            &allowed
        ));
        let any = config(&["--allowed-origins", "*"]);
        assert!(origin_allowed(&headers(Some("null"), "h:1"), &any));
    }

    #[test]
    fn room_links_do_not_reflect_untrusted_hosts() {
        let plain = config(&[]);
        assert_eq!(
            base_url(&plain, &headers(None, "127.0.0.1:8420")),
            "http://127.0.0.1:8420"
        );
        assert_eq!(base_url(&plain, &headers(None, "evil.example")), "");
        let public = config(&["--public-url", "https://pair.example.com/"]);
        assert_eq!(
            base_url(&public, &headers(None, "evil.example")),
            "https://pair.example.com"
        );
    }
}
