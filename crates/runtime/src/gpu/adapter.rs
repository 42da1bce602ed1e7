//! Adapter enumeration and selection.
//!
//! The adapter is chosen by name: `HETC_ADAPTER` (a case-insensitive substring of the adapter
//! name, like wgpu's `WGPU_ADAPTER_NAME`) overrides the session option, which overrides the
//! default (the first discrete GPU, then integrated, virtual, software). A name that matches
//! nothing, or a machine with no adapter, is an error that lists what exists.

use crate::RuntimeError;
use crate::device::AdapterDesc;

/// The environment variable that overrides the adapter option.
pub const ADAPTER_ENV: &str = "HETC_ADAPTER";

/// The process's wgpu instance, made once: creating one loads the drivers, which costs tens of
/// milliseconds per session otherwise.
pub(crate) fn instance() -> &'static wgpu::Instance {
    static INSTANCE: std::sync::OnceLock<wgpu::Instance> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(|| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = wgpu::Backends::PRIMARY;
        wgpu::Instance::new(desc)
    })
}

pub(crate) fn describe(a: &wgpu::Adapter) -> AdapterDesc {
    let info = a.get_info();
    AdapterDesc {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        max_binding_bytes: a.limits().max_storage_buffer_binding_size,
    }
}

pub(crate) fn enumerate(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
}

/// Every adapter wgpu finds on this machine.
pub fn adapters() -> Vec<AdapterDesc> {
    enumerate(instance()).iter().map(describe).collect()
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// The adapter to use, given the session's option.
pub(crate) fn select(instance: &wgpu::Instance, requested: Option<&str>) -> Result<wgpu::Adapter, RuntimeError> {
    let env = std::env::var(ADAPTER_ENV).ok().filter(|s| !s.trim().is_empty());
    let (want, source) = match (&env, requested) {
        (Some(e), _) => (Some(e.trim().to_string()), ADAPTER_ENV),
        (None, Some(r)) => (Some(r.to_string()), "--device"),
        (None, None) => (None, ""),
    };
    let mut all = enumerate(instance);
    if all.is_empty() {
        return Err(RuntimeError::NoAdapter(
            "no GPU adapter found (no Vulkan, Metal or DX12 driver; on Linux install mesa-vulkan-drivers for lavapipe)"
                .into(),
        ));
    }
    all.sort_by_key(|a| rank(a.get_info().device_type));
    let listing = || all.iter().map(|a| format!("`{}`", describe(a).label())).collect::<Vec<_>>().join(", ");
    match want {
        None => Ok(all.remove(0)),
        Some(w) => {
            let lw = w.to_lowercase();
            match all.iter().position(|a| a.get_info().name.to_lowercase().contains(&lw)) {
                Some(i) => Ok(all.remove(i)),
                None => Err(RuntimeError::NoAdapter(format!(
                    "no GPU adapter matches `{w}` (from {source}); adapters: {}",
                    listing()
                ))),
            }
        }
    }
}
