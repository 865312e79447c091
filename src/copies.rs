//! Telling copies of the library apart: each copy loaded in a process
//! claims a tag (1 to 1023) that no other copy holds, and puts it in every
//! handle it issues, so that a handle passed to the wrong copy is rejected
//! by its tag alone, every time.
//!
//! The claim needs a place that every copy can read and that the process
//! serialises. On Linux that is the dynamic loader:
//!
//! - Each copy carries an ELF note (`ferrymap`, type [`NOTE_TYPE`]) whose
//!   descriptor holds a magic word and the distance from the descriptor to
//!   the copy's tag cell, a hidden 8-byte variable. The distance is fixed at
//!   link time, so the note needs no relocation; the loader maps it with
//!   the copy's read-only segments.
//! - `dl_iterate_phdr` lists every loaded object, in every link-map
//!   namespace, and holds the loader's lock while it runs. Claiming runs
//!   inside one listing (a second, nested listing collects the tags that
//!   the other copies' cells hold; glibc's lock is recursive), so two copies
//!   claiming at once take turns, and each takes the smallest tag not held.
//! - The library is linked with `-z nodelete`: a copy, once loaded, never
//!   goes, so a tag is never freed and never handed out twice.
//!
//! Where the loader offers no such listing (not Linux), a copy takes the
//! number of a fresh POSIX thread-local key as its tag (keys are
//! process-wide and distinct), and when keys run out, random bits: there
//! two copies share a tag with chance 1/1023 each (the header says so).
//! On Linux the claim fails only when 1023 copies are loaded at once; the
//! next copy then refuses to issue handles (see `registry::insert`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Tags are 1..=MAX_TAG; 0 means none could be claimed.
pub const TAG_BITS: u32 = 10;
const MAX_TAG: u64 = (1 << TAG_BITS) - 1;

/// The note's type: "FMTG" read as a little-endian word.
pub const NOTE_TYPE: u32 = 0x4754_4d46;
/// First word of the note's descriptor: "FMTAG v1".
const NOTE_MAGIC: u64 = 0x3176_2047_4154_4d46;

#[cfg(target_os = "linux")]
mod elf {
    use super::*;
    use std::arch::global_asm;

    // The tag cell (hidden: each copy has its own, and none exports it)
    // and the note that locates it. `.quad cell - .` is resolved by the
    // linker: the note stays position-independent and read-only. "R"
    // (retain) keeps the note through --gc-sections; `own_cell` also
    // reads it.
    global_asm!(
        ".pushsection .bss.ferrymap_tag_cell,\"aw\",@nobits",
        ".p2align 3",
        ".hidden ferrymap_tag_cell",
        ".type ferrymap_tag_cell, @object",
        ".size ferrymap_tag_cell, 8",
        "ferrymap_tag_cell:",
        ".zero 8",
        ".popsection",
        ".pushsection .note.ferrymap,\"aR\",@note",
        ".p2align 2",
        "ferrymap_tag_note:",
        ".long 9",
        ".long 16",
        ".long {note_type}",
        ".asciz \"ferrymap\"",
        ".p2align 2",
        ".quad {magic}",
        ".quad ferrymap_tag_cell - .",
        ".popsection",
        note_type = const NOTE_TYPE,
        magic = const NOTE_MAGIC,
    );

    extern "C" {
        static ferrymap_tag_cell: AtomicU64;
    }

    /// This copy's tag cell.
    pub fn own_cell() -> &'static AtomicU64 {
        // SAFETY: an 8-byte, 8-aligned, zero-initialised variable of this copy.
        unsafe { &*std::ptr::addr_of!(ferrymap_tag_cell) }
    }

    /// Reads the notes of one program header of type PT_NOTE and calls `f`
    /// with the tag cell each ferrymap note names.
    ///
    /// # Safety
    /// `start..start+len` is a mapped note segment of a loaded object.
    unsafe fn notes(start: *const u8, len: usize, f: &mut dyn FnMut(*const AtomicU64)) {
        let word = |at: usize| -> u32 { std::ptr::read_unaligned(start.add(at).cast::<u32>()) };
        let round = |n: usize| n.next_multiple_of(4);
        let mut at = 0usize;
        while at + 12 <= len {
            let (namesz, descsz, kind) = (word(at) as usize, word(at + 4) as usize, word(at + 8));
            let name_at = at + 12;
            let Some(desc_at) = name_at.checked_add(round(namesz)) else {
                return;
            };
            let Some(next) = desc_at.checked_add(round(descsz)) else {
                return;
            };
            if next > len {
                return;
            }
            let name = std::slice::from_raw_parts(start.add(name_at), namesz);
            if kind == NOTE_TYPE && name == b"ferrymap\0" && descsz == 16 {
                let desc = start.add(desc_at);
                let magic = std::ptr::read_unaligned(desc.cast::<u64>());
                if magic == NOTE_MAGIC {
                    let field = desc.add(8);
                    let offset = std::ptr::read_unaligned(field.cast::<i64>());
                    f(field.wrapping_offset(offset as isize).cast());
                }
            }
            at = next;
        }
    }

    /// Calls `f` with the tag cell of every loaded copy (this one included).
    ///
    /// # Safety
    /// Only inside `dl_iterate_phdr`'s callback, for the `info` it passed.
    unsafe fn cells_of(info: &libc::dl_phdr_info, f: &mut dyn FnMut(*const AtomicU64)) {
        if info.dlpi_phdr.is_null() {
            return;
        }
        let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
        for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
            let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
            notes(start as *const u8, ph.p_memsz as usize, f);
        }
    }

    unsafe extern "C" fn collect(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        let held = &mut *data.cast::<[u64; 16]>();
        cells_of(&*info, &mut |cell| {
            if cell != own_cell() as *const AtomicU64 {
                // SAFETY: another copy's tag cell, mapped for good (nodelete).
                let tag = (*cell).load(Ordering::Acquire);
                if tag <= MAX_TAG {
                    held[(tag / 64) as usize] |= 1 << (tag % 64);
                }
            }
        });
        0
    }

    unsafe extern "C" fn claim(
        _info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // Still inside the outer listing, so under the loader's lock: list
        // again to see every copy's tag, then take the smallest free one.
        let mut held = [0u64; 16];
        held[0] = 1; // 0 is not a tag
        libc::dl_iterate_phdr(Some(collect), (&mut held as *mut [u64; 16]).cast());
        let free = (1..=MAX_TAG).find(|&t| held[(t / 64) as usize] & (1 << (t % 64)) == 0);
        let tag = free.unwrap_or(0);
        own_cell().store(tag, Ordering::Release);
        *data.cast::<u64>() = tag;
        1 // stop after the first object
    }

    /// Claims this copy's tag (see the module comment); 0 when 1023 copies
    /// hold every tag.
    pub fn claim_tag() -> u64 {
        let mut tag = 0u64;
        // SAFETY: the callbacks follow dl_iterate_phdr's contract and read
        // only mapped note segments and the tag cells they name.
        unsafe { libc::dl_iterate_phdr(Some(claim), (&mut tag as *mut u64).cast()) };
        tag
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        unsafe extern "C" fn count_own(
            info: *mut libc::dl_phdr_info,
            _size: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            cells_of(&*info, &mut |cell| {
                if cell == own_cell() as *const AtomicU64 {
                    *data.cast::<usize>() += 1;
                }
            });
            0
        }

        /// The loader's listing finds this copy's note, and through it the
        /// cell its claim wrote.
        #[test]
        fn own_note_names_own_cell() {
            let tag = claim_tag();
            assert!((1..=MAX_TAG).contains(&tag));
            assert_eq!(own_cell().load(Ordering::Acquire), tag);
            assert_eq!(
                claim_tag(),
                tag,
                "claiming again takes the same smallest free tag"
            );
            let mut found = 0usize;
            // SAFETY: as in claim_tag.
            unsafe { libc::dl_iterate_phdr(Some(count_own), (&mut found as *mut usize).cast()) };
            assert_eq!(found, 1);
            assert!(!held_tags().contains(&tag), "no other copy holds our tag");
        }
    }

    /// The tags the other loaded copies hold.
    #[cfg(test)]
    fn held_tags() -> Vec<u64> {
        let mut held = [0u64; 16];
        // SAFETY: as in claim_tag; `collect` skips this copy's own cell.
        unsafe { libc::dl_iterate_phdr(Some(collect), (&mut held as *mut [u64; 16]).cast()) };
        (1..=MAX_TAG)
            .filter(|&t| held[(t / 64) as usize] & (1 << (t % 64)) != 0)
            .collect()
    }
}

/// This copy's tag: claimed once, at the registry's first use. 0 means no
/// tag was free (1023 other copies are loaded).
pub fn claim_tag() -> u64 {
    #[cfg(target_os = "linux")]
    {
        elf::claim_tag()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: plain key creation without a destructor; never deleted.
        let rc = unsafe { libc::pthread_key_create(&mut key, None) };
        if rc == 0 && (key as u64) < MAX_TAG {
            key as u64 + 1
        } else {
            crate::hash::random_u64() % MAX_TAG + 1
        }
    }
}
