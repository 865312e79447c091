//! Export and import: a map as a versioned, checksummed byte string.
//!
//! Format version 1, all integers little-endian:
//!
//! ```text
//! offset 0   4 bytes  magic "FMAP"
//!        4   u16      format version (1)
//!        6   u8       key kind   (fm_kind)
//!        7   u8       value kind (fm_kind)
//!        8   u64      entry count
//!       16   entries  key then value; INT and FLOAT are 8 bytes,
//!                     STR and BYTES are a u32 length then the bytes
//!      end   u32      CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Import treats its input as hostile: the checksum is checked before
//! anything is parsed, every length against the bytes that remain, every STR
//! as UTF-8, and duplicate keys are rejected. The map is built privately and
//! only returned when all of it is valid, so a failed import leaves nothing.

use crate::blob;
use crate::kind::KeyRef;
use crate::kind::{fm_kind, ValIn, FM_BYTES, FM_FLOAT, FM_INT, FM_STR};
use crate::map::{Map, Snapshot};
use crate::status::*;

pub(crate) const MAGIC: &[u8; 4] = b"FMAP";
pub(crate) const VERSION: u16 = 1;
const HEADER_LEN: usize = 16;
const TRAILER_LEN: usize = 4;

fn put_word(out: &mut Vec<u8>, kind: fm_kind, word: u64) {
    if kind.is_blob() {
        // SAFETY: blob words in a snapshot's tables stay alive with the snapshot.
        let b = unsafe { blob::bytes(word as *const blob::Blob) };
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    } else {
        out.extend_from_slice(&word.to_le_bytes());
    }
}

/// Bytes one key or value word takes in the format.
fn word_len(kind: fm_kind, word: u64) -> usize {
    if kind.is_blob() {
        // SAFETY: as in `put_word`.
        4 + unsafe { blob::bytes(word as *const blob::Blob) }.len()
    } else {
        8
    }
}

/// Serialises a snapshot, into a buffer sized exactly first, or fails with
/// `FM_OUT_OF_MEMORY` when it cannot be had.
pub fn export(snap: &Snapshot) -> Result<Vec<u8>> {
    let mut total = HEADER_LEN + TRAILER_LEN;
    for t in snap.tables() {
        t.for_each_word(|k, v| {
            total = total
                .saturating_add(word_len(snap.key_kind, k))
                .saturating_add(word_len(snap.val_kind, v));
        });
    }
    let mut out = crate::alloc::try_vec(total)?;
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(snap.key_kind as u8);
    out.push(snap.val_kind as u8);
    out.extend_from_slice(&(snap.len() as u64).to_le_bytes());
    for t in snap.tables() {
        t.for_each_word(|k, v| {
            put_word(&mut out, snap.key_kind, k);
            put_word(&mut out, snap.val_kind, v);
        });
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len(), total, "export sized exactly");
    Ok(out)
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

fn corrupt(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(FM_CORRUPT_DATA, msg)
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "truncated: needed {n} bytes at offset {}, {} remain",
                    self.pos,
                    self.data.len() - self.pos
                ))
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn blob(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

fn kind_byte(b: u8, what: &str) -> Result<fm_kind> {
    fm_kind::from_raw(b as u32).ok_or_else(|| corrupt(format!("unknown {what} kind {b}")))
}

/// Rebuilds a map from exported bytes.
pub fn import(data: &[u8]) -> Result<Map> {
    if data.len() < HEADER_LEN + TRAILER_LEN {
        return Err(corrupt(format!(
            "{} bytes is shorter than any export",
            data.len()
        )));
    }
    if &data[..4] != MAGIC {
        return Err(corrupt("not a ferrymap export (bad magic)"));
    }
    let version = u16::from_le_bytes([data[4], data[5]]);
    if version != VERSION {
        return fail(
            FM_UNSUPPORTED_VERSION,
            format!("export format version {version}; this library reads version {VERSION}"),
        );
    }
    let (body, trailer) = data.split_at(data.len() - TRAILER_LEN);
    let stored = u32::from_le_bytes(trailer.try_into().expect("4 bytes"));
    if crc32fast::hash(body) != stored {
        return Err(corrupt("checksum mismatch"));
    }
    let key_kind = kind_byte(data[6], "key")?;
    let val_kind = kind_byte(data[7], "value")?;
    let mut r = Reader { data: body, pos: 8 };
    let count = r.u64()?;
    // Every entry takes at least 8 bytes (two 4-byte lengths or an integer),
    // so a count the data cannot hold is caught before any allocation.
    let remaining = (body.len() - HEADER_LEN) as u64;
    if count > remaining / 8 {
        return Err(corrupt(format!(
            "entry count {count} cannot fit in {remaining} bytes"
        )));
    }
    // A kind pair no map can have is corrupt data; running out of memory is not.
    let map = Map::new(key_kind, val_kind, 0).map_err(|e| match e.status {
        FM_OUT_OF_MEMORY => e,
        _ => corrupt(e.message),
    })?;
    map.reserve(count as usize)?;
    for i in 0..count {
        let key = match key_kind {
            FM_INT => KeyRef::Int(r.u64()?),
            FM_STR | FM_BYTES => KeyRef::Bytes(r.blob()?),
            FM_FLOAT => unreachable!("rejected by Map::new"),
        };
        let val = match val_kind {
            FM_INT => ValIn::Int(r.u64()? as i64),
            FM_FLOAT => ValIn::Float(f64::from_bits(r.u64()?)),
            FM_STR | FM_BYTES => ValIn::Bytes(r.blob()?),
        };
        let replaced = map.insert(key, val).map_err(|e| match e.status {
            FM_INVALID_UTF8 => corrupt(format!("entry {i}: {}", e.message)),
            _ => e,
        })?;
        if replaced {
            return Err(corrupt(format!("entry {i}: duplicate key")));
        }
    }
    if r.pos != body.len() {
        return Err(corrupt(format!(
            "{} unexpected bytes after the last entry",
            body.len() - r.pos
        )));
    }
    Ok(map)
}
