//! Tickets: how to reach a node, as text a user can paste.
//!
//! `colony1` followed by lowercase base32 (RFC 4648, no padding) of: the 32-byte node
//! id, a count of direct addresses and each address (`4` + 4 bytes or `6` + 16 bytes,
//! then the port, big-endian), and optionally a relay URL (length byte + UTF-8). Several
//! tickets may be joined with `,` in one remote URL: the remote tries them in turn.

use std::net::{IpAddr, SocketAddr};

use iroh::{EndpointAddr, EndpointId, RelayUrl, TransportAddr};

use crate::error::{Result, StoreError};

/// The text every ticket starts with.
pub const PREFIX: &str = "colony1";

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A node's id and where to dial it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The node id (its public key).
    pub id: EndpointId,
    /// Direct addresses.
    pub addrs: Vec<SocketAddr>,
    /// The node's home relay, if it uses one.
    pub relay: Option<String>,
}

impl Ticket {
    /// The ticket of an endpoint address.
    pub fn from_addr(addr: &EndpointAddr) -> Ticket {
        Ticket {
            id: addr.id,
            addrs: addr.ip_addrs().copied().collect(),
            relay: addr.relay_urls().next().map(|u| u.to_string()),
        }
    }

    /// The address to dial.
    pub fn to_addr(&self) -> EndpointAddr {
        let mut addrs: Vec<TransportAddr> =
            self.addrs.iter().map(|a| TransportAddr::Ip(*a)).collect();
        if let Some(r) = self
            .relay
            .as_deref()
            .and_then(|r| r.parse::<RelayUrl>().ok())
        {
            addrs.push(TransportAddr::Relay(r));
        }
        EndpointAddr::from_parts(self.id, addrs)
    }

    /// Reads one ticket.
    pub fn parse(text: &str) -> Result<Ticket> {
        let bad =
            |why: &str| StoreError::Refused(format!("`{text}` is not a colony ticket: {why}"));
        let body = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("it does not start with `colony1`"))?;
        let bytes = decode(body).ok_or_else(|| bad("it is not base32"))?;
        let mut r = Cursor(bytes.as_slice());
        let mut take = |n: usize| r.take(n).ok_or_else(|| bad("it is cut short"));
        let id: [u8; 32] = take(32)?.try_into().expect("32 bytes");
        let id = EndpointId::from_bytes(&id).map_err(|_| bad("its node id is invalid"))?;
        let n = take(1)?[0];
        let mut addrs = Vec::new();
        for _ in 0..n {
            let ip: IpAddr = match take(1)?[0] {
                4 => <[u8; 4]>::try_from(take(4)?).expect("4").into(),
                6 => <[u8; 16]>::try_from(take(16)?).expect("16").into(),
                _ => return Err(bad("an address has an unknown family")),
            };
            let port = u16::from_be_bytes(take(2)?.try_into().expect("2"));
            addrs.push(SocketAddr::new(ip, port));
        }
        let relay = match take(1) {
            Ok(l) => {
                let l = l[0] as usize;
                Some(
                    String::from_utf8(take(l)?.to_vec())
                        .map_err(|_| bad("its relay URL is not UTF-8"))?,
                )
            }
            Err(_) => None,
        };
        Ok(Ticket { id, addrs, relay })
    }

    /// Reads a remote URL holding one or more tickets joined with `,`.
    pub fn parse_list(text: &str) -> Result<Vec<Ticket>> {
        text.split(',')
            .filter(|t| !t.trim().is_empty())
            .map(Ticket::parse)
            .collect()
    }
}

impl std::fmt::Display for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut b = self.id.as_bytes().to_vec();
        let addrs: Vec<&SocketAddr> = self.addrs.iter().take(255).collect();
        b.push(addrs.len() as u8);
        for a in addrs {
            match a.ip() {
                IpAddr::V4(ip) => {
                    b.push(4);
                    b.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    b.push(6);
                    b.extend_from_slice(&ip.octets());
                }
            }
            b.extend_from_slice(&a.port().to_be_bytes());
        }
        if let Some(r) = &self.relay
            && r.len() < 256
        {
            b.push(r.len() as u8);
            b.extend_from_slice(r.as_bytes());
        }
        write!(f, "{PREFIX}{}", encode(&b))
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
}

fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &byte in data {
        buf = (buf << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
        buf &= (1 << bits) - 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = iroh::SecretKey::from_bytes(&[7u8; 32]);
        let t = Ticket {
            id: key.public(),
            addrs: vec![
                "127.0.0.1:4242".parse().unwrap(),
                "[::1]:9".parse().unwrap(),
            ],
            relay: Some("https://relay.example/".into()),
        };
        let text = t.to_string();
        assert!(crate::ops::remote::is_peer_ticket(&text));
        assert_eq!(Ticket::parse(&text).unwrap(), t);
        let two = format!("{text},{text}");
        assert_eq!(Ticket::parse_list(&two).unwrap().len(), 2);
        assert!(Ticket::parse("colony1!!").is_err());
    }
}
