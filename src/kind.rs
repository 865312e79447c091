//! Key and value kinds, and the forms keys and values take as they cross
//! the core: borrowed from a caller ([`KeyRef`], [`ValIn`]) or owned by a
//! request, a result or a change-feed event ([`OwnedKey`], [`OwnedVal`]).
//! The bottom of the core's layers after `status`, `hash`, `epoch` and
//! `blob`: everything above speaks these types.

use crate::status::Result;

/// The kind of a key or value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum fm_kind {
    /// 64-bit integer (`int64_t`; a `uint64_t` bit pattern round-trips).
    FM_INT = 1,
    /// IEEE 754 double. Values only.
    FM_FLOAT = 2,
    /// UTF-8 text, validated on the way in.
    FM_STR = 3,
    /// Arbitrary bytes.
    FM_BYTES = 4,
}
pub use fm_kind::*;

impl fm_kind {
    pub fn from_raw(raw: u32) -> Option<fm_kind> {
        match raw {
            1 => Some(FM_INT),
            2 => Some(FM_FLOAT),
            3 => Some(FM_STR),
            4 => Some(FM_BYTES),
            _ => None,
        }
    }
    pub fn is_blob(self) -> bool {
        matches!(self, FM_STR | FM_BYTES)
    }
    pub fn name(self) -> &'static str {
        match self {
            FM_INT => "INT",
            FM_FLOAT => "FLOAT",
            FM_STR => "STR",
            FM_BYTES => "BYTES",
        }
    }
}

/// A probe key: INT keys are words, STR/BYTES keys are byte strings.
#[derive(Clone, Copy, Debug)]
pub enum KeyRef<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

/// A value handed in by a caller.
#[derive(Clone, Copy, Debug)]
pub enum ValIn<'a> {
    Int(i64),
    Float(f64),
    Bytes(&'a [u8]),
}

/// A key owned by a request or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedKey {
    None,
    Int(u64),
    Bytes(Vec<u8>),
}

impl OwnedKey {
    /// An owned copy of `key` (None for no key), or `FM_OUT_OF_MEMORY`.
    pub fn try_from_ref(key: Option<KeyRef<'_>>) -> Result<OwnedKey> {
        Ok(match key {
            None => OwnedKey::None,
            Some(KeyRef::Int(k)) => OwnedKey::Int(k),
            Some(KeyRef::Bytes(b)) => OwnedKey::Bytes(crate::alloc::try_copy(b)?),
        })
    }

    /// `clone`, or `FM_OUT_OF_MEMORY`.
    pub fn try_clone(&self) -> Result<OwnedKey> {
        OwnedKey::try_from_ref(self.as_ref())
    }

    pub fn as_ref(&self) -> Option<KeyRef<'_>> {
        match self {
            OwnedKey::None => None,
            OwnedKey::Int(k) => Some(KeyRef::Int(*k)),
            OwnedKey::Bytes(b) => Some(KeyRef::Bytes(b)),
        }
    }
}

/// A value owned by a request, a result or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedVal {
    None,
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
}

impl OwnedVal {
    pub fn as_ref(&self) -> Option<ValIn<'_>> {
        match self {
            OwnedVal::None => None,
            OwnedVal::Int(v) => Some(ValIn::Int(*v)),
            OwnedVal::Float(v) => Some(ValIn::Float(*v)),
            OwnedVal::Bytes(b) => Some(ValIn::Bytes(b)),
        }
    }
    /// The value a word of a map with values of `kind` stands for, or
    /// `FM_OUT_OF_MEMORY` when its bytes cannot be copied.
    ///
    /// # Safety
    /// A blob word must be alive for the call.
    pub unsafe fn from_word(kind: fm_kind, word: u64) -> Result<OwnedVal> {
        Ok(match kind {
            FM_INT => OwnedVal::Int(word as i64),
            FM_FLOAT => OwnedVal::Float(f64::from_bits(word)),
            _ => OwnedVal::Bytes(crate::alloc::try_copy(crate::blob::bytes(
                word as *const crate::blob::Blob,
            ))?),
        })
    }

    /// `clone`, or `FM_OUT_OF_MEMORY`.
    pub fn try_clone(&self) -> Result<OwnedVal> {
        Ok(match self {
            OwnedVal::Bytes(b) => OwnedVal::Bytes(crate::alloc::try_copy(b)?),
            other => other.clone(),
        })
    }
}
