//! The instruction-set class of this machine: results of floating-point kernels differ
//! between CPUs with and without AVX2+FMA (the matrix kernels pick fused multiply-adds at
//! run time), so a record names its class and steps are only judged within one class.

/// The class of this CPU, e.g. `x86_64+avx2+fma`, `x86_64+avx512f`, `x86_64-base`,
/// `aarch64+neon`.
pub fn cpu_class() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // gemm uses AVX-512 kernels only when built with its nightly feature; we
            // still separate the class so that a future build cannot mix them silently.
            return "x86_64+avx512f+avx2+fma".into();
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "x86_64+avx2+fma".into();
        }
        "x86_64-base".into()
    }
    #[cfg(target_arch = "aarch64")]
    {
        "aarch64+neon".into()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        format!("{}-base", std::env::consts::ARCH)
    }
}

/// The class a run on `device` is recorded under: the CPU class, or for CUDA `cuda` plus
/// the CPU class (the GPU model, driver and CUDA version must match too; see the README).
pub fn class_for(device: &str) -> String {
    if device == "cuda" {
        format!("cuda/{}", cpu_class())
    } else {
        cpu_class()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn class_is_named_for_this_arch() {
        let c = super::cpu_class();
        assert!(c.starts_with(std::env::consts::ARCH), "{c}");
    }
}
