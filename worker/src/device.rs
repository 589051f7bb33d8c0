//! `--device auto|cpu|cuda:N` and `--threads N`.

use tch::Device;

/// Parses a device flag: `auto` uses CUDA when libtorch sees a GPU.
///
/// # Errors
/// Fails on an unknown name, or a CUDA device that is not there.
pub fn parse_device(name: &str) -> anyhow::Result<Device> {
    match name {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        other => {
            let index = other
                .strip_prefix("cuda:")
                .or_else(|| (other == "cuda").then_some("0"))
                .and_then(|i| i.parse::<usize>().ok())
                .ok_or_else(|| anyhow::anyhow!("device {other:?} is not auto, cpu or cuda:N"))?;
            anyhow::ensure!(
                index < tch::Cuda::device_count() as usize,
                "device {other} asked for, but libtorch sees {} CUDA device(s)",
                tch::Cuda::device_count()
            );
            Ok(Device::Cuda(index))
        }
    }
}

/// Sets libtorch's intra-op threads (0 keeps its default).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}
