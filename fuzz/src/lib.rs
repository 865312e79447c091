//! What the fuzz targets share: the model's key and value types, the pools
//! that inputs pick keys and values from, an independent decoder of the
//! export format, and readers that pull a map's whole contents through the
//! C ABI (`ferrymap::ffi`), the same functions a C caller reaches.
//!
//! A disagreement between the library and the model panics: libFuzzer
//! reports it as a crash and keeps the input.

use std::collections::HashMap;

pub use ferrymap::ffi::batch::*;
pub use ferrymap::ffi::bridge::*;
pub use ferrymap::ffi::info::*;
pub use ferrymap::ffi::iter::*;
pub use ferrymap::ffi::lifecycle::*;
pub use ferrymap::ffi::ops::*;
pub use ferrymap::ffi::{fm_buf, fm_handle};
pub use ferrymap::status::fm_status::{self, *};

/// Key kinds a map may have and value kinds, as `fm_kind` numbers.
pub const INT: u32 = 1;
pub const FLOAT: u32 = 2;
pub const STR: u32 = 3;
pub const BYTES: u32 = 4;

/// A key as the model holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Int(i64),
    Bytes(Vec<u8>),
}

/// A value as the model holds it (a FLOAT by its bits: NaN payloads too).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    Int(i64),
    Float(u64),
    Bytes(Vec<u8>),
}

pub type Model = HashMap<Key, Val>;

/// Integer keys and values that sit on edges.
pub const EDGE_INTS: [i64; 10] = [
    0,
    1,
    -1,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
    i64::MAX - 1,
    1 << 32,
    -(1 << 32),
    0x5555_5555_5555_5555,
];

/// Byte strings that sit on edges: empty, NUL inside, multi-byte UTF-8, and
/// invalid UTF-8 of several shapes (a STR map must refuse those).
pub const EDGE_BYTES: [&[u8]; 12] = [
    b"",
    b"\0",
    b"a\0b",
    "ключ".as_bytes(),
    "日本語のキー".as_bytes(),
    "\u{1F980}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"ok\xf0\x9f\xa6",
    b"\xc0\x80",
    b"                                                                    long",
];

/// Doubles that sit on edges (as bits).
pub const EDGE_FLOATS: [u64; 8] = [
    0,                     // 0.0
    0x8000_0000_0000_0000, // -0.0
    0x3ff0_0000_0000_0000, // 1.0
    0x7ff0_0000_0000_0000, // inf
    0xfff0_0000_0000_0000, // -inf
    0x7ff8_0000_0000_0000, // NaN
    0x7ff0_0000_0000_0001, // signalling NaN
    0x0000_0000_0000_0001, // smallest subnormal
];

/// Picks an INT key: small numbers collide often, edges and raw values reach the rest.
pub fn int_of(sel: u8, raw: i64) -> i64 {
    match sel % 4 {
        0 | 1 => (sel / 4) as i64 % 12,
        2 => EDGE_INTS[(sel / 4) as usize % EDGE_INTS.len()],
        _ => raw,
    }
}

/// Picks a STR/BYTES key or value the same way.
pub fn bytes_of(sel: u8, raw: &[u8]) -> Vec<u8> {
    match sel % 4 {
        0 | 1 => format!("k{}", (sel / 4) % 12).into_bytes(),
        2 => EDGE_BYTES[(sel / 4) as usize % EDGE_BYTES.len()].to_vec(),
        _ => raw.iter().copied().take(300).collect(),
    }
}

/// Picks a FLOAT value (bits).
pub fn float_of(sel: u8, raw: i64) -> u64 {
    match sel % 4 {
        0 | 1 => ((sel / 4) as f64 * 0.5).to_bits(),
        2 => EDGE_FLOATS[(sel / 4) as usize % EDGE_FLOATS.len()],
        _ => raw as u64,
    }
}

pub fn is_blob(kind: u32) -> bool {
    kind == STR || kind == BYTES
}

/// Whether `b` may be stored under `kind` (STR must be UTF-8).
pub fn storable(kind: u32, b: &[u8]) -> bool {
    kind != STR || std::str::from_utf8(b).is_ok()
}

/// Panics with the context when the library and the model disagree.
#[track_caller]
pub fn check_status(got: fm_status, want: fm_status, what: &str) {
    if got != want {
        let msg = unsafe { std::ffi::CStr::from_ptr(fm_last_error()) };
        panic!("{what}: got {got:?}, want {want:?} (last error: {msg:?})");
    }
}

/// As `check_status` with several acceptable outcomes.
#[track_caller]
pub fn check_status_in(got: fm_status, want: &[fm_status], what: &str) {
    if !want.contains(&got) {
        let msg = unsafe { std::ffi::CStr::from_ptr(fm_last_error()) };
        panic!("{what}: got {got:?}, want one of {want:?} (last error: {msg:?})");
    }
}

/// The bytes a library pointer names (`ptr` may be NULL with `len` 0).
///
/// # Safety
/// `ptr` valid for `len` bytes, as the header promises for the pointer's lifetime.
pub unsafe fn bytes_at(ptr: *const u8, len: usize) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    assert!(!ptr.is_null(), "NULL pointer with length {len}");
    std::slice::from_raw_parts(ptr, len).to_vec()
}

/// The key and value an entry carries for a map of the given kinds.
///
/// # Safety
/// The entry's pointers valid for their lengths.
pub unsafe fn entry_kv(kk: u32, vk: u32, e: &fm_entry) -> (Key, Val) {
    let key = if kk == INT {
        Key::Int(e.key_int)
    } else {
        Key::Bytes(bytes_at(e.key_ptr, e.key_len))
    };
    let val = match vk {
        INT => Val::Int(e.value_int),
        FLOAT => Val::Float(e.value_float.to_bits()),
        _ => Val::Bytes(bytes_at(e.value_ptr, e.value_len)),
    };
    (key, val)
}

/// Compares two contents, naming the first difference.
#[track_caller]
pub fn check_same(got: &Model, want: &Model, what: &str) {
    if got == want {
        return;
    }
    for (k, v) in want {
        match got.get(k) {
            None => panic!("{what}: key {k:?} missing (want {v:?})"),
            Some(g) if g != v => panic!("{what}: key {k:?} has {g:?}, want {v:?}"),
            _ => {}
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            panic!("{what}: unexpected key {k:?}");
        }
    }
    unreachable!("maps differ but no difference was found");
}

/// Reads a map's whole contents through an iterator, checking the
/// iterator's length and that no key comes twice, then frees it.
pub fn read_map(map: fm_handle, kk: u32, vk: u32, what: &str) -> Model {
    let mut it = 0;
    check_status(unsafe { fm_iter_new(map, &mut it) }, FM_OK, what);
    let mut len = 0usize;
    check_status(unsafe { fm_iter_len(it, &mut len) }, FM_OK, what);
    let mut out = Model::new();
    loop {
        let mut e = fm_entry::default();
        match unsafe { fm_iter_next(it, &mut e) } {
            FM_OK => {
                let (k, v) = unsafe { entry_kv(kk, vk, &e) };
                if out.insert(k.clone(), v).is_some() {
                    panic!("{what}: iterator gave key {k:?} twice");
                }
            }
            FM_END => break,
            s => panic!("{what}: fm_iter_next returned {s:?}"),
        }
    }
    assert_eq!(out.len(), len, "{what}: iterator length");
    check_status(fm_iter_free(it), FM_OK, what);
    out
}

/// Why the reference decoder refused an export.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Corrupt(&'static str),
    Version,
}

/// A decoded export: kinds and entries in file order.
#[derive(Debug)]
pub struct Decoded {
    pub key_kind: u32,
    pub val_kind: u32,
    pub entries: Vec<(Key, Val)>,
}

impl Decoded {
    pub fn model(&self) -> Model {
        self.entries.iter().cloned().collect()
    }
}

/// An independent reading of the export format (docs/architecture.md,
/// "Export format"): what import should accept, and what it should build.
pub fn decode_export(data: &[u8]) -> Result<Decoded, Refused> {
    use Refused::*;
    if data.len() < 20 {
        return Err(Corrupt("short"));
    }
    if &data[..4] != b"FMAP" {
        return Err(Corrupt("magic"));
    }
    if u16::from_le_bytes([data[4], data[5]]) != 1 {
        return Err(Version);
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
        return Err(Corrupt("crc"));
    }
    let (kk, vk) = (data[6] as u32, data[7] as u32);
    if !matches!(kk, INT | STR | BYTES) || !(1..=4).contains(&vk) {
        return Err(Corrupt("kind"));
    }
    let count = u64::from_le_bytes(body[8..16].try_into().unwrap());
    let mut pos = 16usize;
    let mut take = |n: usize| -> Result<&[u8], Refused> {
        if body.len() - pos < n {
            return Err(Corrupt("truncated"));
        }
        pos += n;
        Ok(&body[pos - n..pos])
    };
    let left = |taken: &[u8]| body.len() - (taken.as_ptr() as usize - body.as_ptr() as usize);
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..count {
        let key = if kk == INT {
            Key::Int(i64::from_le_bytes(take(8)?.try_into().unwrap()))
        } else {
            let n = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
            let b = take(n)?.to_vec();
            if !storable(kk, &b) {
                return Err(Corrupt("utf8 key"));
            }
            Key::Bytes(b)
        };
        let val = match vk {
            INT => Val::Int(i64::from_le_bytes(take(8)?.try_into().unwrap())),
            FLOAT => Val::Float(u64::from_le_bytes(take(8)?.try_into().unwrap())),
            _ => {
                let n = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
                let b = take(n)?.to_vec();
                if !storable(vk, &b) {
                    return Err(Corrupt("utf8 value"));
                }
                Val::Bytes(b)
            }
        };
        if !seen.insert(key.clone()) {
            return Err(Corrupt("duplicate"));
        }
        entries.push((key, val));
    }
    if left(take(0)?) != 0 {
        return Err(Corrupt("trailing"));
    }
    Ok(Decoded {
        key_kind: kk,
        val_kind: vk,
        entries,
    })
}

/// Encodes entries in the export format (for seeds and for the model's
/// own round trips).
pub fn encode_export(kk: u32, vk: u32, entries: &[(Key, Val)]) -> Vec<u8> {
    let mut out = b"FMAP".to_vec();
    out.extend_from_slice(&1u16.to_le_bytes());
    out.push(kk as u8);
    out.push(vk as u8);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (k, v) in entries {
        match k {
            Key::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
            Key::Bytes(b) => {
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
        match v {
            Val::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
            Val::Float(f) => out.extend_from_slice(&f.to_le_bytes()),
            Val::Bytes(b) => {
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Exports a map and checks that the bytes decode to `want`; returns them.
pub fn export_checked(map: fm_handle, want: &Model, what: &str) -> Vec<u8> {
    let (mut view, mut ptr, mut len) = (0, std::ptr::null(), 0usize);
    check_status(
        unsafe { fm_export(map, &mut view, &mut ptr, &mut len) },
        FM_OK,
        what,
    );
    let bytes = unsafe { bytes_at(ptr, len) };
    let decoded = decode_export(&bytes).unwrap_or_else(|e| panic!("{what}: export refused: {e:?}"));
    check_same(&decoded.model(), want, what);
    assert_eq!(decoded.entries.len(), want.len(), "{what}: export count");
    check_status(fm_view_release(view), FM_OK, what);
    bytes
}

/// Live handles of every kind now.
pub fn census() -> u64 {
    fm_census_total()
}

/// A key or value chooser, compact so that short inputs hold many steps:
/// one byte `sel` picks from the pools (`int_of`, `bytes_of`, `float_of`);
/// only when it says "raw" (sel % 4 == 3) do a raw integer and up to 24
/// raw bytes follow.
#[derive(Debug, Clone, Default)]
pub struct Pick {
    pub sel: u8,
    pub raw: i64,
    pub raw_bytes: Vec<u8>,
}

impl<'a> arbitrary::Arbitrary<'a> for Pick {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let sel = u8::arbitrary(u)?;
        if sel % 4 != 3 {
            return Ok(Pick {
                sel,
                ..Pick::default()
            });
        }
        let raw = i64::arbitrary(u)?;
        let n = (u8::arbitrary(u)? as usize % 25).min(u.len());
        let raw_bytes = u.bytes(n)?.to_vec();
        Ok(Pick {
            sel,
            raw,
            raw_bytes,
        })
    }
}
