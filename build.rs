//! Gives the shared library its soname and generates the C header.
//!
//! - soname `libferrymap.so.0` (`.so.<major version>`): a module or program
//!   linked against the library then joins a copy already loaded in the
//!   process instead of loading a second one (docs/architecture.md, "One
//!   registry per process"), and a future 1.x can be installed beside 0.x.
//!   The file a linked program finds at run time is named by the soname, so
//!   in-tree builds need `target/release/libferrymap.so.0` next to
//!   `libferrymap.so` (`scripts/build-core` makes that link; `scripts/install`
//!   lays out the installed tree).
//! - `-z nodelete`: dlclose never unmaps the library, so thread-local
//!   destructors and handles held by other languages never point into
//!   unmapped code.
//! - `-Bsymbolic`: the library's calls to its own exported functions bind
//!   to itself. Without it, when another copy of the library is loaded
//!   globally first, this copy's internal calls (an export calling another
//!   export) would land in that copy and misread handles across registries.
//! - The header is written to `$OUT_DIR/ferrymap.h`; the committed copy at
//!   `bindings/c/ferrymap.h` is compared with it by a test
//!   (`scripts/update-header` refreshes it).

use std::env;
use std::path::PathBuf;

fn main() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libferrymap.so.{major}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let crate_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("ferrymap.h");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    let v = |k: &str| env::var(k).expect("cargo sets the version");
    config.after_includes = Some(format!(
        "\n/* Version of the header; fm_version() gives the library's, as FM_VERSION does. */\n\
         #define FM_VERSION_MAJOR {}\n#define FM_VERSION_MINOR {}\n#define FM_VERSION_PATCH {}\n\
         #define FM_VERSION ((FM_VERSION_MAJOR << 16) | (FM_VERSION_MINOR << 8) | FM_VERSION_PATCH)\n\
         #define FM_VERSION_STRING \"{}\"\n",
        v("CARGO_PKG_VERSION_MAJOR"),
        v("CARGO_PKG_VERSION_MINOR"),
        v("CARGO_PKG_VERSION_PATCH"),
        v("CARGO_PKG_VERSION"),
    ));
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&out);
}
