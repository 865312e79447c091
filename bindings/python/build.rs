//! Links the extension module against the shared core instead of
//! containing it (see ../../docs/architecture.md, "One registry per process"),
//! ships that very core file inside the package, and records the core version
//! the module is built against (the import-time handshake in src/lib.rs).
//!
//! Where the core comes from, first match wins:
//! 1. `$FERRYMAP_LIB_DIR/libferrymap.so`: a core built elsewhere (the
//!    packaging script builds one for an old glibc, `package.sh`).
//! 2. In an sdist: the core's sources under `./core/` (the sdist carries
//!    them), built here with `cargo build --release` into `$OUT_DIR`.
//! 3. In the checkout: the root's `target/release/libferrymap.so`
//!    (`cargo build --release` there first; this script never builds it).
//!
//! Then:
//! - `-lferrymap` (dynamic): the module records `NEEDED <soname>`, the
//!   core's DT_SONAME (`libferrymap.so`, or `libferrymap.so.0` once the
//!   soname is versioned), so a core already loaded in the process (by C,
//!   Java, Go) is joined instead of a second one loaded.
//! - RUNPATH `$ORIGIN`: otherwise the copy shipped next to the module is
//!   loaded. It is copied to `ferrymap/<soname>`: the loader looks a NEEDED
//!   entry up by that file name. maturin packs it (pyproject.toml: auditwheel
//!   "warn", never "repair", which would rename it and break the sharing).
//! - `FERRYMAP_BUILT_AGAINST`: the version (`fm_version()`) of the core
//!   linked, read by calling the library itself; `$FERRYMAP_CORE_VERSION`
//!   gives it instead where the library cannot be loaded on the build
//!   machine (a cross build).

use std::env;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-env-changed=FERRYMAP_LIB_DIR");
    println!("cargo:rerun-if-env-changed=FERRYMAP_CORE_VERSION");
    let in_tree = manifest.join("../../Cargo.toml");
    let vendored = manifest.join("core/Cargo.toml");
    let lib_dir = if let Some(dir) = env::var_os("FERRYMAP_LIB_DIR") {
        PathBuf::from(dir)
    } else if vendored.is_file() {
        build_vendored_core(&vendored)
    } else if in_tree.is_file() {
        manifest.join("../../target/release")
    } else {
        panic!(
            "no ferrymap core: set FERRYMAP_LIB_DIR to the directory holding libferrymap.so, \
             build from the repository checkout, or from the sdist (which carries ./core)"
        );
    };
    let lib = lib_dir.join("libferrymap.so");
    println!("cargo:rerun-if-changed={}", lib.display());
    if !lib.is_file() {
        panic!(
            "{} not found: build the core first (`cargo build --release` at the repository root) \
             or set FERRYMAP_LIB_DIR to the directory holding libferrymap.so",
            lib.display()
        );
    }
    let lib_dir = lib_dir
        .canonicalize()
        .expect("the library directory exists");
    let lib = lib_dir.join("libferrymap.so");
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=dylib=ferrymap");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--enable-new-dtags");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN");

    let bytes = fs::read(&lib).expect("read libferrymap.so");
    let soname = elf_soname(&bytes).unwrap_or_else(|| "libferrymap.so".to_owned());
    assert!(
        soname.starts_with("libferrymap.so") && !soname.contains('/'),
        "{}: unexpected soname {soname:?}",
        lib.display()
    );
    ship(&manifest.join("ferrymap"), &soname, &bytes);

    let version = match env::var("FERRYMAP_CORE_VERSION") {
        Ok(v) => v,
        Err(_) => loaded_version(&lib).unwrap_or_else(|e| {
            panic!(
                "cannot read the version of {}: {e}; set FERRYMAP_CORE_VERSION \
                 to the core's version (for example 0.1.0)",
                lib.display()
            )
        }),
    };
    let valid = version.split('.').count() == 3
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    assert!(valid, "core version {version:?} is not MAJOR.MINOR.PATCH");
    println!("cargo:rustc-env=FERRYMAP_BUILT_AGAINST={version}");
}

/// Puts `bytes` at `dir/soname` unless the file there is identical, and
/// removes any other `libferrymap.so*` left there by an earlier build (a
/// core with another soname), so that the package holds exactly one core.
fn ship(dir: &Path, soname: &str, bytes: &[u8]) {
    for entry in fs::read_dir(dir).expect("list the package directory") {
        let path = entry.expect("list the package directory").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("libferrymap.so") && name != soname {
            fs::remove_file(&path).expect("remove a stale core from the package");
        }
    }
    let shipped = dir.join(soname);
    // Another build (the dev build and package.sh use separate target
    // directories) may put a different core here: run again if it changes.
    println!("cargo:rerun-if-changed={}", shipped.display());
    if fs::read(&shipped).ok().as_deref() != Some(bytes) {
        // Replace rather than overwrite in place: a process may have the old
        // copy mapped. The temporary name does not match the wheel's include.
        let tmp = dir.join(".libferrymap-copy.tmp");
        fs::write(&tmp, bytes).expect("copy the core into the package");
        fs::rename(&tmp, &shipped).expect("move the core into place");
    }
}

/// Builds the core carried by the sdist (`core/`) and returns the directory
/// holding its libferrymap.so. Needs Rust, as the module does.
fn build_vendored_core(manifest: &Path) -> PathBuf {
    let core = manifest.parent().expect("core/ has a parent");
    println!("cargo:rerun-if-changed={}", core.display());
    let target = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("core");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--lib", "--locked", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        // Flags meant for this module's build must not reach the core's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo to build the core");
    assert!(
        status.success(),
        "building the core in {} failed",
        core.display()
    );
    target.join("release")
}

/// DT_SONAME of a little-endian ELF64 shared object, found through the
/// section headers (the dynamic section and the string table it links to).
fn elf_soname(elf: &[u8]) -> Option<String> {
    const SHT_DYNAMIC: u32 = 6;
    const DT_NULL: u64 = 0;
    const DT_SONAME: u64 = 14;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let shentsize = usize::from(u16_at(0x3a)?);
    let shnum = usize::from(u16_at(0x3c)?);
    let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    for i in 0..shnum {
        let sh = section(i)?;
        if u32_at(sh + 4)? != SHT_DYNAMIC {
            continue;
        }
        let (off, size) = (u64_at(sh + 0x18)?, u64_at(sh + 0x20)?);
        let strtab = section(usize::try_from(u32_at(sh + 0x28)?).ok()?)?;
        let str_off = usize::try_from(u64_at(strtab + 0x18)?).ok()?;
        let (off, size) = (usize::try_from(off).ok()?, usize::try_from(size).ok()?);
        for entry in (off..off.checked_add(size)?).step_by(16) {
            match u64_at(entry)? {
                DT_NULL => return None,
                DT_SONAME => {
                    let name = str_off.checked_add(usize::try_from(u64_at(entry + 8)?).ok()?)?;
                    let s = CStr::from_bytes_until_nul(elf.get(name..)?).ok()?;
                    return Some(s.to_str().ok()?.to_owned());
                }
                _ => {}
            }
        }
    }
    None
}

#[link(name = "dl")]
extern "C" {
    fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

/// Loads the library into this build script and asks it: `fm_version()`
/// is the version its callers get at run time, whatever its file is named.
fn loaded_version(lib: &Path) -> Result<String, String> {
    const RTLD_NOW: c_int = 2;
    const RTLD_LOCAL: c_int = 0;
    let path = CString::new(lib.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let err = || {
        // SAFETY: dlerror returns NULL or a NUL-terminated message.
        let e = unsafe { dlerror() };
        if e.is_null() {
            "unknown dlopen error".to_owned()
        } else {
            // SAFETY: non-NULL, NUL-terminated, valid until the next dl call.
            unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
        }
    };
    // SAFETY: a NUL-terminated path; the library is never closed (it is
    // linked -z nodelete anyway), so its functions stay valid.
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
    if handle.is_null() {
        return Err(err());
    }
    // SAFETY: a valid handle and a NUL-terminated symbol name.
    let sym = unsafe { dlsym(handle, c"fm_version".as_ptr()) };
    if sym.is_null() {
        return Err(err());
    }
    // SAFETY: fm_version has this signature in every release (ferrymap.h).
    let fm_version: extern "C" fn() -> u32 = unsafe { std::mem::transmute(sym) };
    let v = fm_version();
    Ok(format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff))
}
