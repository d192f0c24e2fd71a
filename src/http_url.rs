//! The rule for a URL this crate sends to, shared by the API client and the webhook forwarder:
//! an absolute `http` or `https` URL with a host, and plain `http` only to loopback unless the
//! caller allowed it (what crosses the network unencrypted is a secret or personal data).

use reqwest::Url;

/// `text` as an absolute `http` or `https` URL with a host, or `None`.
pub(crate) fn parse(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

/// Whether `url` is plain `http` to a host that is not loopback (`127.0.0.0/8`, `::1`,
/// `localhost`): what needs the caller's leave.
pub(crate) fn is_insecure(url: &Url) -> bool {
    url.scheme() == "http" && !url.host_str().is_some_and(is_loopback)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}
