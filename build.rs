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
//! - The JNI layer's table for `RegisterNatives` is generated from the
//!   `native` declarations of `bindings/java/.../Native.java` into
//!   `$OUT_DIR/jni_natives.rs`: a Java method without its Rust function
//!   fails the build, and a Rust function without its Java method is dead
//!   code, which the JNI layer denies.
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
    println!("cargo:rerun-if-changed={JAVA_NATIVES}");

    let crate_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    write_jni_natives(
        &crate_dir.join(JAVA_NATIVES),
        &out_dir.join("jni_natives.rs"),
    );
    let out = out_dir.join("ferrymap.h");
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

/// The Java class whose `native` methods the JNI layer implements.
const JAVA_NATIVES: &str = "bindings/java/src/main/java/dev/ferrymap/Native.java";

/// Writes the `RegisterNatives` table for every `static native` method of
/// `java`: its name, its JNI signature, and the Rust function
/// `Java_dev_ferrymap_Native_<name>` that implements it.
fn write_jni_natives(java: &std::path::Path, out: &std::path::Path) {
    let source = std::fs::read_to_string(java)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", java.display()));
    // Declarations may span lines; comments hold no `static native`.
    let flat = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut entries = Vec::new();
    for decl in flat.split("static native ").skip(1) {
        let decl = decl.split(';').next().expect("a declaration ends with ;");
        let (head, params) = decl
            .split_once('(')
            .unwrap_or_else(|| panic!("no parameter list in `{decl}`"));
        let params = params.trim_end_matches(')');
        let (ret, name) = head
            .trim()
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no return type in `{decl}`"));
        let mut sig = String::from("(");
        for param in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (ty, _) = param
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no parameter type in `{param}`"));
            sig.push_str(&jni_type(ty));
        }
        sig.push(')');
        sig.push_str(&jni_type(ret));
        entries.push(format!(
            "    (c\"{name}\", c\"{sig}\", Java_dev_ferrymap_Native_{name} as *mut c_void),\n"
        ));
    }
    assert!(
        !entries.is_empty(),
        "no native methods in {}",
        java.display()
    );
    let text = format!(
        "// Generated by build.rs from {JAVA_NATIVES}; do not edit.\n\
         pub(super) const NATIVE_COUNT: usize = {};\n\
         /// (name, JNI signature, implementation) of every native method.\n\
         pub(super) fn table() -> [(&'static CStr, &'static CStr, *mut c_void); NATIVE_COUNT] {{\n\
         [\n{}]\n}}\n",
        entries.len(),
        entries.concat()
    );
    std::fs::write(out, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

/// The JNI descriptor of a Java type as `Native.java` spells it.
fn jni_type(ty: &str) -> String {
    if let Some(inner) = ty.strip_suffix("[]") {
        return format!("[{}", jni_type(inner));
    }
    match ty {
        "void" => "V",
        "boolean" => "Z",
        "byte" => "B",
        "char" => "C",
        "short" => "S",
        "int" => "I",
        "long" => "J",
        "float" => "F",
        "double" => "D",
        "Object" => "Ljava/lang/Object;",
        "String" => "Ljava/lang/String;",
        "ByteBuffer" => "Ljava/nio/ByteBuffer;",
        other => panic!("{JAVA_NATIVES}: add the JNI descriptor of type `{other}` to build.rs"),
    }
    .to_string()
}
