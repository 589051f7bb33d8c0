//! What `worker --version` prints: the crate version, the libtorch it was
//! linked against, and whether CUDA is usable on this machine.

use std::fmt;

/// Crate version of the worker.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Version of the libtorch the worker was built against (read at build time).
pub const LIBTORCH_VERSION: &str = env!("TESSERA_LIBTORCH_VERSION");
/// Directory of that libtorch, also baked in as the binary's rpath.
pub const LIBTORCH_LIB: &str = env!("TESSERA_LIBTORCH_LIB");

/// A snapshot of the runtime environment, probed through libtorch.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// Whether libtorch can use a CUDA device.
    pub cuda_available: bool,
    /// Number of CUDA devices libtorch sees.
    pub cuda_devices: usize,
    /// Whether cuDNN is usable.
    pub cudnn_available: bool,
}

impl BuildInfo {
    /// Probes libtorch for CUDA.
    pub fn probe() -> Self {
        let cuda_available = tch::Cuda::is_available();
        Self {
            cuda_available,
            cuda_devices: if cuda_available { tch::Cuda::device_count().max(0) as usize } else { 0 },
            cudnn_available: cuda_available && tch::Cuda::cudnn_is_available(),
        }
    }
}

impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "worker {VERSION}")?;
        writeln!(f, "libtorch {LIBTORCH_VERSION} ({LIBTORCH_LIB})")?;
        if self.cuda_available {
            write!(
                f,
                "cuda: available ({} device(s), cudnn {})",
                self.cuda_devices,
                if self.cudnn_available { "yes" } else { "no" }
            )
        } else {
            write!(f, "cuda: not available (cpu only)")
        }
    }
}
