//! `fm_import` on arbitrary bytes, judged by an independent decoder of the
//! export format (`ferrymap_fuzz::decode_export`).
//!
//! Input layout: the first byte is a mode, the rest the data. Mode bit 0
//! set: the last 4 bytes are replaced by the CRC-32 of the rest, so that
//! mutations reach the parser behind the checksum instead of stopping at it.
//! Mode bit 1 set: the data is passed from a buffer of exactly its length
//! (no slack for an over-read to land in). Seeds (fuzz/corpus/import) are
//! real exports of every schema behind mode byte 0 or 1.
//!
//! What must hold: accepted input gives a map holding exactly the entries
//! the decoder read, whose own export decodes to the same and imports
//! again; refused input gives FM_CORRUPT_DATA or FM_UNSUPPORTED_VERSION
//! (as the decoder says), a message, and no handle. The live-handle census
//! ends where it started.

#![no_main]

use ferrymap_fuzz::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut data = rest.to_vec();
    if mode & 1 != 0 && data.len() >= 4 {
        let n = data.len() - 4;
        let crc = crc32fast::hash(&data[..n]);
        data[n..].copy_from_slice(&crc.to_le_bytes());
    }
    if mode & 2 != 0 {
        data.shrink_to_fit();
    }
    let start = census();
    let want = decode_export(&data);
    let mut h: fm_handle = 0;
    let ptr = if data.is_empty() && mode & 4 != 0 {
        std::ptr::null()
    } else {
        data.as_ptr()
    };
    let s = unsafe { fm_import(ptr, data.len(), &mut h) };
    match want {
        Err(why) => {
            let status = match why {
                Refused::Version => FM_UNSUPPORTED_VERSION,
                Refused::Corrupt(_) => FM_CORRUPT_DATA,
            };
            check_status(s, status, &format!("import of data refused for {why:?}"));
            assert_eq!(h, 0, "a handle was written for refused data");
            let msg = unsafe { std::ffi::CStr::from_ptr(fm_last_error()) };
            assert!(!msg.to_bytes().is_empty(), "refused import left no message");
        }
        Ok(d) => {
            check_status(s, FM_OK, "import of valid data");
            let (mut kk, mut vk) = (0u32, 0u32);
            check_status(
                unsafe { fm_map_schema(h, &mut kk, &mut vk) },
                FM_OK,
                "schema",
            );
            assert_eq!((kk, vk), (d.key_kind, d.val_kind), "imported kinds");
            let want = d.model();
            let mut len = usize::MAX;
            check_status(unsafe { fm_map_len(h, &mut len) }, FM_OK, "len");
            assert_eq!(len, want.len(), "imported length");
            check_same(&read_map(h, kk, vk, "imported map"), &want, "imported map");
            // Re-export: the same contents, which import again to the same.
            let again = export_checked(h, &want, "re-export");
            let mut h2 = 0;
            check_status(
                unsafe { fm_import(again.as_ptr(), again.len(), &mut h2) },
                FM_OK,
                "re-import",
            );
            check_same(
                &read_map(h2, kk, vk, "re-imported map"),
                &want,
                "re-imported map",
            );
            // A re-export of an unchanged map is byte for byte the first.
            assert_eq!(
                export_checked(h, &want, "second export"),
                again,
                "export not stable"
            );
            check_status(fm_map_free(h2), FM_OK, "free");
            check_status(fm_map_free(h), FM_OK, "free");
        }
    }
    assert_eq!(
        census(),
        start,
        "live-handle census not back to its start value"
    );
});
