//! `--web.listen-address` values: parsing (`:9177`, `127.0.0.1:9177`, `[::1]:9177`,
//! `localhost:9177`) and turning them into the socket addresses to bind.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// One `--web.listen-address` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:9177`: every interface, IPv6 and IPv4 (`[::]`, falling back to `0.0.0.0` when the host
    /// has no IPv6).
    AllInterfaces { port: u16 },
    /// A literal IP address and port: `127.0.0.1:9177`, `[::1]:9177`.
    Socket(SocketAddr),
    /// A host name, resolved when binding: `localhost:9177`. Every address it resolves to is
    /// bound.
    Host { host: String, port: u16 },
}

/// A listen address that is not `[host]:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {input:?}: {reason}; expected [host]:port, e.g. :9177 or 127.0.0.1:9177")]
pub struct ParseListenAddressError {
    input: String,
    reason: &'static str,
}

impl ListenAddress {
    /// The port to listen on (0 asks the OS to pick one).
    pub fn port(&self) -> u16 {
        match self {
            ListenAddress::AllInterfaces { port } | ListenAddress::Host { port, .. } => *port,
            ListenAddress::Socket(addr) => addr.port(),
        }
    }

    /// The socket addresses to bind, in order of preference. For [`ListenAddress::AllInterfaces`]
    /// these are alternatives (`[::]` first, `0.0.0.0` if IPv6 is unavailable); otherwise all of
    /// them are bound.
    pub(crate) async fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match self {
            ListenAddress::AllInterfaces { port } => Ok(vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), *port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), *port),
            ]),
            ListenAddress::Socket(addr) => Ok(vec![*addr]),
            ListenAddress::Host { host, port } => {
                let mut addrs = Vec::new();
                for addr in tokio::net::lookup_host((host.as_str(), *port)).await? {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                Ok(addrs)
            }
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::AllInterfaces { port } => write!(f, ":{port}"),
            ListenAddress::Socket(addr) => write!(f, "{addr}"),
            ListenAddress::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl FromStr for ListenAddress {
    type Err = ParseListenAddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseListenAddressError {
            input: input.to_owned(),
            reason,
        };
        if let Ok(addr) = input.parse::<SocketAddr>() {
            return Ok(ListenAddress::Socket(addr));
        }
        let (host, port) = input.rsplit_once(':').ok_or_else(|| err("no port"))?;
        let port = parse_port(port).ok_or_else(|| err("the port must be a number 0-65535"))?;
        if host.is_empty() {
            return Ok(ListenAddress::AllInterfaces { port });
        }
        if host.starts_with('[') || host.ends_with(']') {
            return Err(err("not a valid bracketed IPv6 address"));
        }
        if host.contains(':') {
            return Err(err("IPv6 addresses must be in brackets, e.g. [::1]:9177"));
        }
        if !is_host_name(host) {
            return Err(err("not a valid host name"));
        }
        Ok(ListenAddress::Host {
            host: host.to_owned(),
            port,
        })
    }
}

fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

/// RFC 1123 host name, leniently (underscores allowed, as resolvers accept them).
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ListenAddress, ParseListenAddressError> {
        s.parse()
    }

    #[test]
    fn parses_good_addresses() {
        assert_eq!(
            parse(":9177").unwrap(),
            ListenAddress::AllInterfaces { port: 9177 }
        );
        assert_eq!(
            parse(":0").unwrap(),
            ListenAddress::AllInterfaces { port: 0 }
        );
        assert_eq!(
            parse("127.0.0.1:9177").unwrap(),
            ListenAddress::Socket("127.0.0.1:9177".parse().unwrap())
        );
        assert_eq!(
            parse("0.0.0.0:0").unwrap(),
            ListenAddress::Socket("0.0.0.0:0".parse().unwrap())
        );
        assert_eq!(
            parse("[::1]:9177").unwrap(),
            ListenAddress::Socket("[::1]:9177".parse().unwrap())
        );
        assert_eq!(
            parse("[::]:65535").unwrap(),
            ListenAddress::Socket("[::]:65535".parse().unwrap())
        );
        assert_eq!(
            parse("localhost:9177").unwrap(),
            ListenAddress::Host {
                host: "localhost".into(),
                port: 9177
            }
        );
        assert_eq!(
            parse("exporter-1.example.org:80").unwrap(),
            ListenAddress::Host {
                host: "exporter-1.example.org".into(),
                port: 80
            }
        );
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "abc",
            "9177",
            ":",
            ":abc",
            ":65536",
            ":-1",
            ":+80",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "::1:9177",
            "[::1]",
            "[::1:9177",
            "[zz]:9177",
            "::",
            "local host:9177",
            "-bad:9177",
            "a..b:9177",
            "http://localhost:9177",
            "localhost:9177/metrics",
            " :9177",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn error_message_names_input_and_expected_form() {
        let msg = parse("abc").unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid listen address \"abc\": no port; expected [host]:port, e.g. :9177 or 127.0.0.1:9177"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [":9177", "127.0.0.1:9177", "[::1]:9177", "localhost:9177"] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[tokio::test]
    async fn resolves_all_interfaces_to_v6_then_v4() {
        let addrs = parse(":9177").unwrap().resolve().await.unwrap();
        assert_eq!(
            addrs,
            vec![
                "[::]:9177".parse::<SocketAddr>().unwrap(),
                "0.0.0.0:9177".parse().unwrap()
            ]
        );
    }
}
