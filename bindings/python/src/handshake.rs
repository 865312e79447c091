//! The import-time version handshake: the core this module reaches (the one
//! another language loaded first, or the copy shipped in the package) must
//! have the major version the module was built against.

use pyo3::exceptions::PyImportError;
use pyo3::PyResult;

use crate::capi;

/// The core version the module was built against: build.rs asks the very
/// library it links (`fm_version()`), or takes `$FERRYMAP_CORE_VERSION`.
pub const BUILT_AGAINST: &str = env!("FERRYMAP_BUILT_AGAINST");

/// Ok when the loaded core's major version equals [`BUILT_AGAINST`]'s;
/// otherwise an ImportError that names both versions and the library file.
/// Called once, from the module's init, with the GIL held.
pub fn check() -> PyResult<()> {
    let v = capi::version();
    let (major, minor, patch) = (v >> 16, (v >> 8) & 0xff, v & 0xff);
    let built_major = BUILT_AGAINST
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if built_major == Some(major) {
        return Ok(());
    }
    let want = BUILT_AGAINST.split('.').next().unwrap_or(BUILT_AGAINST);
    let path = capi::library_path();
    Err(PyImportError::new_err(format!(
        "ferrymap: the core library {path} is version {major}.{minor}.{patch}, but this module \
         was built against core {BUILT_AGAINST}; a different major version is not compatible. \
         Install the ferrymap package built for that core, or make sure the libferrymap \
         loaded first in this process (by C, Java or Go) is a {want}.x release"
    )))
}
