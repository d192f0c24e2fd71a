//! What reqwest's errors and headers mean to us: error kinds, `Retry-After`, the backoff.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorKind};

/// The timeouts in force, to say which one passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) idle: Duration,
    pub(crate) total: Option<Duration>,
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// The error for a request that got no answer head.
pub(crate) fn request_error(
    e: reqwest::Error,
    timeouts: &Timeouts,
    deadline_passed: bool,
) -> Error {
    let e = e.without_url();
    if e.is_timeout() {
        let detail = if deadline_passed {
            format!(
                "the total deadline ({}) passed",
                secs(timeouts.total.unwrap_or_default())
            )
        } else if e.is_connect() {
            format!(
                "no connection within the connect timeout ({})",
                secs(timeouts.connect)
            )
        } else {
            format!(
                "no answer within the idle timeout ({})",
                secs(timeouts.idle)
            )
        };
        let err = Error::with_source(ErrorKind::Timeout, detail, e);
        return if deadline_passed {
            err
        } else {
            err.transient()
        };
    }
    if e.is_connect() {
        return Error::with_source(ErrorKind::Http, "cannot connect", e).connecting();
    }
    Error::with_source(ErrorKind::Http, "the request failed", e).transient()
}

/// The error for a body that stopped: `received` bytes came before it.
pub(crate) fn body_error(e: reqwest::Error, timeouts: &Timeouts, received: u64) -> Error {
    let e = e.without_url();
    if e.is_timeout() {
        let detail = format!(
            "no body bytes for the idle timeout ({}) or the deadline passed, after {received} bytes",
            secs(timeouts.idle)
        );
        return Error::with_source(ErrorKind::Timeout, detail, e).transient();
    }
    let detail = format!("the response body broke off after {received} bytes");
    Error::with_source(ErrorKind::Http, detail, e).transient()
}

/// The wait a `Retry-After` value asks for: delay-seconds or an HTTP-date (RFC 9110 10.2.3).
/// `None` when it is neither.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with jitter: the wait before retry number `retry` (1-based) is a random
/// time between half and all of `min(cap, base * 2^(retry-1))`.
pub(crate) fn backoff(base: Duration, cap: Duration, retry: u32) -> Duration {
    let exp = base
        .checked_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .unwrap_or(cap)
        .min(cap);
    let half = exp / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if nanos == 0 {
        0
    } else {
        random() % (nanos + 1)
    };
    half + Duration::from_nanos(jitter)
}

/// A random number from the standard library's hasher keys, enough for jitter.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        // A date in the past: no wait.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for retry in 1..=40 {
            let want = (base * 2u32.saturating_pow(retry - 1)).min(cap);
            let got = backoff(base, cap, retry);
            assert!(
                got >= want / 2 && got <= want,
                "retry {retry}: {got:?} for {want:?}"
            );
        }
        assert_eq!(backoff(Duration::ZERO, cap, 3), Duration::ZERO);
    }
}
