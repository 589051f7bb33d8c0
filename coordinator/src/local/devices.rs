//! Which device each worker of `coordinator local` gets. With `--device
//! auto` on a machine with n GPUs, worker i gets `cuda:(i mod n)`, so the
//! workers spread over the GPUs instead of all landing on `cuda:0`; with no
//! GPU, `auto` stays `auto` (the worker then picks the CPU). An explicit
//! `cpu` or `cuda:N` goes to every worker as given.

/// The device flag of worker `index` for the `local` flag `device` on a
/// machine with `gpus` GPUs.
pub fn worker_device(device: &str, index: u32, gpus: u32) -> String {
    if device == "auto" && gpus > 0 {
        format!("cuda:{}", index % gpus)
    } else {
        device.to_owned()
    }
}

/// The GPUs this process may use: the entries of `CUDA_VISIBLE_DEVICES` when
/// it is set (empty or `-1`: none), else the GPUs the NVIDIA driver lists
/// under `/proc/driver/nvidia/gpus`.
pub fn visible_gpus() -> u32 {
    match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(list) => count_visible(&list),
        Err(_) => std::fs::read_dir("/proc/driver/nvidia/gpus").map_or(0, |dir| dir.flatten().count() as u32),
    }
}

/// The number of devices a `CUDA_VISIBLE_DEVICES` value names; CUDA stops
/// at the first invalid entry, and `-1` hides every device.
fn count_visible(list: &str) -> u32 {
    list.split(',').map(str::trim).take_while(|e| !e.is_empty() && !e.starts_with('-')).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_spreads_the_workers_over_the_gpus() {
        let on =
            |gpus, workers: u32| (0..workers).map(|i| worker_device("auto", i, gpus)).collect::<Vec<_>>();
        assert_eq!(on(2, 4), ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]);
        assert_eq!(on(4, 3), ["cuda:0", "cuda:1", "cuda:2"]);
        assert_eq!(on(0, 2), ["auto", "auto"], "no GPU: the workers choose (the CPU)");
        assert_eq!(worker_device("cpu", 1, 8), "cpu");
        assert_eq!(worker_device("cuda:3", 0, 8), "cuda:3");
    }

    #[test]
    fn cuda_visible_devices_is_counted_like_cuda_does() {
        assert_eq!(count_visible("0,1,2"), 3);
        assert_eq!(count_visible("GPU-5f2a,GPU-77c1"), 2);
        assert_eq!(count_visible(""), 0);
        assert_eq!(count_visible("-1"), 0);
        assert_eq!(count_visible("0,-1,2"), 1, "CUDA ignores everything after an invalid entry");
    }
}
