//! Verifying STAC `file:checksum` values: multihashes (`<varint code><varint length><digest>`), computed
//! incrementally while bytes arrive. Supported: sha2-256 (`0x12`), sha2-512 (`0x13`), md5 (`0xd5`).

use md5::Md5;
use sha2::{Digest, Sha256, Sha512};

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(9) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// A parsed multihash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Multihash {
    code: u64,
    digest: Vec<u8>,
}

impl Multihash {
    /// Parses a multihash; `None` for malformed input.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Multihash> {
        let (code, rest) = varint(bytes)?;
        let (len, digest) = varint(rest)?;
        (digest.len() as u64 == len).then(|| Multihash {
            code,
            digest: digest.to_vec(),
        })
    }

    /// An incremental hasher for this multihash's function, `None` when it is not supported.
    pub(crate) fn hasher(&self) -> Option<Hasher> {
        Some(match self.code {
            0x12 => Hasher::Sha256(Sha256::new()),
            0x13 => Hasher::Sha512(Sha512::new()),
            0xd5 => Hasher::Md5(Md5::new()),
            _ => return None,
        })
    }

    /// The multihash as hex, as error messages show it.
    pub(crate) fn hex(&self) -> String {
        let mut out = Vec::new();
        let mut push_varint = |mut v: u64| loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        };
        push_varint(self.code);
        push_varint(self.digest.len() as u64);
        out.extend_from_slice(&self.digest);
        out.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// An incremental hash of one of the supported functions.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
    Md5(Md5),
}

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    /// The finished hash as a multihash.
    pub(crate) fn finish(self) -> Multihash {
        let (code, digest) = match self {
            Hasher::Sha256(h) => (0x12, h.finalize().to_vec()),
            Hasher::Sha512(h) => (0x13, h.finalize().to_vec()),
            Hasher::Md5(h) => (0xd5, h.finalize().to_vec()),
        };
        Multihash { code, digest }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sha256_multihash_round_trip() {
        let mut expected = vec![0x12, 0x20];
        expected.extend_from_slice(&Sha256::digest(b"hello"));
        let parsed = Multihash::parse(&expected).unwrap();
        let mut h = parsed.hasher().unwrap();
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.finish(), parsed);
        assert!(parsed.hex().starts_with("1220"));
        // md5 has a two-byte varint code (0xd5 0x01).
        let md5 = [&[0xd5, 0x01, 0x10][..], &Md5::digest(b"x")[..]].concat();
        assert_eq!(Multihash::parse(&md5).unwrap().code, 0xd5);
        assert!(Multihash::parse(&[0x12, 0x20, 1, 2]).is_none());
    }
}
