//! What the runtime knows about GPUs, in every build (the `gpu` feature adds the backend).

/// A GPU adapter as the runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterDesc {
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (software, such as lavapipe), ...
    pub device_type: String,
    pub driver: String,
    /// The largest tensor one kernel binding can address (wgpu's
    /// `max_storage_buffer_binding_size`): a larger tensor cannot be a GPU kernel's operand.
    pub max_binding_bytes: u64,
}

impl AdapterDesc {
    /// `name (backend, type)`.
    pub fn label(&self) -> String {
        format!("{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

/// What a session does with GPU steps when no GPU can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Refuse the plan with an error that says why.
    #[default]
    None,
    /// Run every GPU step's kernel on the CPU instead (transfers become copies).
    Cpu,
}

/// Whether this build has the GPU backend.
pub const GPU_BUILD: bool = cfg!(feature = "gpu");

/// The adapters of this machine (none in a build without the `gpu` feature).
pub fn adapters() -> Vec<AdapterDesc> {
    #[cfg(feature = "gpu")]
    {
        crate::gpu::adapter::adapters()
    }
    #[cfg(not(feature = "gpu"))]
    {
        Vec::new()
    }
}
