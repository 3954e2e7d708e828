//! The registry part of a reference: Docker's host grammar (`domainAndPort`: a DNS-like name, a
//! dotted IPv4 or a bracketed IPv6, then an optional port), the rule that decides whether a first
//! path component names a registry at all, and splitting a validated registry into host and port.
//! The checks return the detail of a message; the reference parser wraps it in its error.

use std::net::Ipv6Addr;

use super::reference_error::quoted;

/// Splits `host[:port]`; an IPv6 host keeps its brackets. Only called on validated registries.
pub(super) fn split_host_port(registry: &str) -> (&str, Option<&str>) {
    if registry.starts_with('[') {
        if let Some(end) = registry.find(']') {
            let (host, rest) = registry.split_at(end + 1);
            return (host, rest.strip_prefix(':'));
        }
        return (registry, None);
    }
    match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    }
}

pub(super) fn registry_host(registry: &str) -> &str {
    split_host_port(registry).0
}

pub(super) fn registry_port(registry: &str) -> Option<u16> {
    split_host_port(registry).1.and_then(|p| p.parse().ok())
}

/// Whether a validated registry (`host[:port]`) is on this machine; the rule is the one of
/// [`crate::http::is_loopback_host`], which also decides where plain HTTP may go.
pub(super) fn is_loopback(registry: &str) -> bool {
    crate::http::is_loopback_host(registry)
}

/// Docker's test for "this first component is a registry host".
pub(super) fn names_registry(first: &str) -> bool {
    first == "localhost" || first.contains(['.', ':'])
}

/// Docker's `domainAndPort`: a DNS-like name, a dotted IPv4 or a bracketed IPv6, then `:port`.
pub(super) fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(inner_and_rest) = registry.strip_prefix('[') {
        let Some((inner, rest)) = inner_and_rest.split_once(']') else {
            return Err(format!(
                "the IPv6 registry address {} is missing its closing ']'",
                quoted(registry)
            ));
        };
        // Docker allows hex digits and ':' only (no zone, no dotted IPv4 tail); additionally
        // insist on a real address, since nothing else could be connected to.
        if inner.is_empty()
            || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
            || inner.parse::<Ipv6Addr>().is_err()
        {
            return Err(format!(
                "[{inner}] is not an IPv6 address a registry can be reached at"
            ));
        }
        let port = match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(format!(
                        "unexpected {} after the IPv6 address; only ':port' may follow it",
                        quoted(rest)
                    ));
                }
            },
        };
        (None, port)
    } else {
        match registry.split_once(':') {
            Some((host, port)) if port.contains(':') || host.is_empty() => {
                return Err(if registry.parse::<Ipv6Addr>().is_ok() {
                    format!(
                        "IPv6 registry addresses go in brackets, e.g. \"[{registry}]/app\" or \"[{registry}]:5000/app\""
                    )
                } else {
                    format!(
                        "registry {} must be a host name or address with at most one ':port'",
                        quoted(registry)
                    )
                });
            }
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        for label in host.split('.') {
            if label.is_empty() {
                return Err(format!(
                    "registry host {} has an empty label (a leading, trailing or doubled '.')",
                    quoted(host)
                ));
            }
            if let Some(bad) = label
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
            {
                return Err(format!(
                    "registry host {} contains {bad:?}; host names use letters, digits, '-' and '.'",
                    quoted(host)
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(format!(
                    "registry host {} has a label starting or ending with '-'",
                    quoted(host)
                ));
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty() {
            return Err("':' after the registry host must be followed by a port number, e.g. \"localhost:5000\"".into());
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "the registry port {} is not a number",
                quoted(port)
            ));
        }
        // Docker accepts any digit string; refusing what no socket can use gives an early, clear
        // error instead of a confusing connection failure, and lets `registry_port` be a u16.
        if !port.parse::<u16>().is_ok_and(|p| p != 0) {
            return Err(format!(
                "the registry port {port} is out of range; use 1 to 65535"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_splits_into_host_and_port_with_ipv6_kept_in_brackets() {
        let cases: &[(&str, &str, Option<u16>)] = &[
            ("localhost", "localhost", None),
            ("localhost:5000", "localhost", Some(5000)),
            ("127.0.0.1:5000", "127.0.0.1", Some(5000)),
            ("[::1]", "[::1]", None),
            ("[::1]:5000", "[::1]", Some(5000)),
            ("[2001:db8::1]:443", "[2001:db8::1]", Some(443)),
        ];
        for &(registry, host, port) in cases {
            assert!(check_registry(registry).is_ok(), "{registry}");
            assert_eq!(
                (registry_host(registry), registry_port(registry)),
                (host, port),
                "{registry}"
            );
        }
    }

    #[test]
    fn a_first_component_names_a_registry_only_with_a_dot_a_colon_or_as_localhost() {
        for first in ["localhost", "example.com", "my-registry:5000", "[::1]:5000"] {
            assert!(names_registry(first), "{first}");
        }
        for first in ["library", "user", "Localhost", "registry"] {
            assert!(!names_registry(first), "{first}");
        }
    }
}
