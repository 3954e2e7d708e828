//! A small, lenient DER reader and writer for key structures.
//!
//! Strict PKCS#8 parsers refuse the Go notary client's inner key layouts (crates.md §5: ECDSA
//! `PrivateKeyInfo` version 1 without `publicKey`, ed25519 under GnuPG's OID with a raw payload),
//! so key files are read with this reader: it checks tags and lengths, nothing more. The writer
//! builds DER into zeroizing buffers sized up front, so secret bytes are never reallocated.

use zeroize::Zeroizing;

use super::error::KeyFormatError;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0]` constructed (EC parameters, PKCS#8 attributes).
pub(crate) const TAG_CONTEXT_0: u8 = 0xa0;
/// `[1]` constructed (EC public key).
pub(crate) const TAG_CONTEXT_1: u8 = 0xa1;
/// `[1]` primitive (the RFC 5958 `publicKey` of a OneAsymmetricKey, IMPLICIT BIT STRING).
pub(crate) const TAG_CONTEXT_1_PRIMITIVE: u8 = 0x81;

fn bad(what: &'static str) -> KeyFormatError {
    KeyFormatError::Der(what)
}

/// Reads consecutive TLVs from a byte slice.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next TLV: its tag and its content.
    pub(crate) fn next(&mut self) -> Result<(u8, &'a [u8]), KeyFormatError> {
        let [tag, first, rest @ ..] = self.rest else {
            return Err(bad("truncated DER"));
        };
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte DER tags are not used in keys"));
        }
        let (len, rest) = if first & 0x80 == 0 {
            (usize::from(*first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            // 0x80 is the BER indefinite length; more than 4 length bytes is never a key.
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad("unsupported DER length"));
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(bad("DER length runs past the end of the data"));
        }
        let (value, rest) = rest.split_at(len);
        self.rest = rest;
        Ok((*tag, value))
    }

    /// The content of the next TLV, which must have `tag`.
    pub(crate) fn expect(
        &mut self,
        tag: u8,
        what: &'static str,
    ) -> Result<&'a [u8], KeyFormatError> {
        match self.next()? {
            (t, value) if t == tag => Ok(value),
            _ => Err(bad(what)),
        }
    }

    /// The content of the next TLV if it has `tag`; nothing is consumed otherwise.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, KeyFormatError> {
        if self.peek_tag() == Some(tag) {
            self.next().map(|(_, v)| Some(v))
        } else {
            Ok(None)
        }
    }

    /// A small non-negative INTEGER (versions).
    pub(crate) fn small_uint(&mut self, what: &'static str) -> Result<u8, KeyFormatError> {
        match self.expect(TAG_INTEGER, what)? {
            [v] if *v < 0x80 => Ok(*v),
            _ => Err(bad(what)),
        }
    }
}

/// The length octets of a DER length.
fn length_octets(len: usize) -> ([u8; 5], usize) {
    let mut out = [0u8; 5];
    if len < 0x80 {
        out[0] = u8::try_from(len).expect("below 0x80");
        return (out, 1);
    }
    // Our DER values are key structures, far below 4 GiB.
    let bytes = u32::try_from(len)
        .expect("a DER value under 4 GiB")
        .to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let n = 4 - skip;
    out[0] = 0x80 | u8::try_from(n).expect("at most 4 length octets");
    out[1..=n].copy_from_slice(&bytes[skip..]);
    (out, n + 1)
}

/// Encoded size of a TLV with `content_len` bytes of content.
pub(crate) fn tlv_len(content_len: usize) -> usize {
    1 + length_octets(content_len).1 + content_len
}

/// One TLV whose content is the concatenation of `parts`, in a zeroizing buffer allocated once.
pub(crate) fn tlv(tag: u8, parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let content_len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(tlv_len(content_len)));
    out.push(tag);
    let (len, n) = length_octets(content_len);
    out.extend_from_slice(&len[..n]);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip_and_truncation_is_refused() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let enc = tlv(TAG_OCTET_STRING, &[&content]);
            assert_eq!(enc.len(), tlv_len(len));
            let mut r = Reader::new(&enc);
            assert_eq!(r.next().unwrap(), (TAG_OCTET_STRING, &content[..]));
            assert!(r.is_empty());
            assert!(matches!(
                Reader::new(&enc[..enc.len() - 1]).next(),
                Err(KeyFormatError::Der(_))
            ));
        }
        assert!(
            matches!(
                Reader::new(&[0x30, 0x80, 0, 0]).next(),
                Err(KeyFormatError::Der(_))
            ),
            "indefinite length"
        );
        assert!(matches!(
            Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).next(),
            Err(KeyFormatError::Der(_))
        ));
    }
}
