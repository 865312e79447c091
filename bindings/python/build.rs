//! Links the extension module against the shared core instead of
//! containing it (see ../../docs/architecture.md, "One registry per process").
//!
//! - `-lferrymap` (dynamic) from `$FERRYMAP_LIB_DIR`, by default the core's
//!   `target/release` at the repository root (`cargo build --release` there
//!   first). The module then records `NEEDED libferrymap.so`, the core's
//!   soname, so a core already loaded in the process (by C, Java, Go) is
//!   joined instead of a second one loaded.
//! - RUNPATH `$ORIGIN`: otherwise the copy shipped next to the module, in the
//!   package directory, is loaded.
//! - The library is copied to `ferrymap/libferrymap.so` so that maturin
//!   packs it beside the module (pyproject.toml: auditwheel "warn", never
//!   "repair", which would rename it and break the sharing).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-env-changed=FERRYMAP_LIB_DIR");
    let lib_dir = match env::var_os("FERRYMAP_LIB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest.join("../../target/release"),
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
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=dylib=ferrymap");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--enable-new-dtags");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN");

    // Ship the very file we linked against next to the module.
    let shipped = manifest.join("ferrymap").join("libferrymap.so");
    let same = fs::read(&lib)
        .ok()
        .zip(fs::read(&shipped).ok())
        .is_some_and(|(a, b)| a == b);
    if !same {
        // Replace rather than overwrite in place: a process may have the old copy mapped.
        let tmp = shipped.with_extension("so.tmp");
        fs::copy(&lib, &tmp).expect("copy libferrymap.so into the package");
        fs::rename(&tmp, &shipped).expect("move libferrymap.so into place");
    }
}
