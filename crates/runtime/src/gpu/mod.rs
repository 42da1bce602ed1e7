//! GPU execution through wgpu (the `gpu` feature).
//!
//! A session's GPU state mirrors the plan's memory plan: one storage buffer is the GPU
//! activation arena (`gpu_arena_bytes`), each weight a GPU step reads is uploaded once into a
//! buffer of its own when the session starts, and each plan shader becomes one compute
//! pipeline (the pipeline cache). Every dispatch's bind group is made up front: at run time a
//! GPU step only records its dispatches. `Upload` and `Download` steps are explicit copies
//! between the CPU arena and the GPU arena; work is submitted when the CPU needs a result
//! (a download) or before an upload overwrites GPU memory, and at the end of a run.
//!
//! Everything in the plan is checked against the adapter's limits before anything is
//! created, and shader and pipeline creation runs inside a validation error scope, so an
//! untrusted plan yields an error, never a panic. WGSL storage accesses are bounds-checked by
//! wgpu (naga's default policies), so a hostile shader cannot reach outside its bindings.

pub(crate) mod adapter;
mod limits;

use crate::RuntimeError;
use crate::cpu::prepare::Region;
use hetc_plan::{Device, Kernel, PlanMeta, Storage, TensorId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How a step runs on the GPU.
enum GpuStep {
    Compute(Vec<(usize, wgpu::BindGroup, [u32; 3])>),
    /// CPU arena region (f32 elements) to GPU arena byte offset.
    Upload {
        src: Region,
        dst: u64,
    },
    /// GPU arena byte offset to CPU arena region.
    Download {
        src: u64,
        dst: Region,
    },
}

struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
    capacity: u32,
}

/// The GPU side of a session.
pub(crate) struct GpuExec {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: crate::AdapterDesc,
    arena: wgpu::Buffer,
    readback: Option<wgpu::Buffer>,
    pipelines: Vec<wgpu::ComputePipeline>,
    steps: Vec<Option<GpuStep>>,
    encoder: Option<wgpu::CommandEncoder>,
    timestamps: Option<Timestamps>,
    /// Step index of each timestamp pair written in this run.
    stamped: Vec<usize>,
    errors: Arc<Mutex<Vec<String>>>,
    weight_bytes: u64,
}

fn gpu_err(what: impl Into<String>) -> RuntimeError {
    RuntimeError::Gpu(what.into())
}

impl GpuExec {
    /// Selects the adapter, checks the plan against its limits, uploads the weights GPU steps
    /// read and creates the pipelines and bind groups. `regions` are the prepared CPU regions
    /// of each step's inputs and outputs (for transfers).
    pub fn new(
        meta: &PlanMeta,
        weights: &[u8],
        requested: Option<&str>,
        regions: &[(Vec<Region>, Vec<Region>)],
    ) -> Result<GpuExec, RuntimeError> {
        let instance = adapter::instance();
        let adapter = adapter::select(instance, requested)?;
        let desc = adapter::describe(&adapter);
        let limits = adapter.limits();
        limits::check(meta, &limits).map_err(|e| RuntimeError::GpuLimits { adapter: desc.label(), reason: e })?;
        let timestamps_ok = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let features = if timestamps_ok { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("hetc"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| gpu_err(format!("cannot open {}: {e}", desc.label())))?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string().lines().next().unwrap_or("GPU error").to_string());
            }
        }));
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("hetc gpu arena"),
            size: meta.gpu_arena_bytes.max(4).div_ceil(4) * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        // Weights: one buffer each, uploaded once.
        let mut weight_buffers: HashMap<u64, (wgpu::Buffer, u64)> = HashMap::new();
        let mut weight_bytes = 0;
        for step in &meta.steps {
            let Some(work) = &step.gpu else { continue };
            for d in &work.dispatches {
                for &b in &d.bindings {
                    let t = &meta.tensors[b as usize];
                    if let Storage::Weight { offset } = t.storage {
                        let size = t.byte_size().unwrap_or(0);
                        if weight_buffers.contains_key(&offset) && weight_buffers[&offset].1 >= size {
                            continue;
                        }
                        let bytes = &weights[offset as usize..(offset + size) as usize];
                        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                            label: Some(&t.name),
                            size,
                            usage: wgpu::BufferUsages::STORAGE,
                            mapped_at_creation: true,
                        });
                        buffer
                            .slice(..)
                            .get_mapped_range_mut()
                            .map_err(|e| gpu_err(format!("cannot fill weight `{}`: {e}", t.name)))?
                            .copy_from_slice(bytes);
                        buffer.unmap();
                        weight_bytes += size;
                        weight_buffers.insert(offset, (buffer, size));
                    }
                }
            }
        }

        // Pipelines: one per shader, with an explicit layout of read-write storage bindings.
        let counts = limits::binding_counts(meta).map_err(gpu_err)?;
        let mut pipelines = Vec::with_capacity(meta.shaders.len());
        let mut layouts = Vec::with_capacity(meta.shaders.len());
        for (s, sh) in meta.shaders.iter().enumerate() {
            let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..counts[s])
                .map(|i| wgpu::BindGroupLayoutEntry {
                    binding: i as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                })
                .collect();
            let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&sh.name),
                entries: &entries,
            });
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&sh.name),
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&sh.name),
                source: wgpu::ShaderSource::Wgsl(std::borrow::Cow::Borrowed(&sh.wgsl)),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&sh.name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(&sh.entry_point),
                compilation_options: Default::default(),
                cache: None,
            });
            pipelines.push(pipeline);
            layouts.push(bgl);
        }

        // Steps: bind groups for compute steps, offsets for transfers.
        let gpu_offset = |id: TensorId| match meta.tensors[id as usize].storage {
            Storage::GpuArena { offset } => offset,
            _ => unreachable!("validated: transfers touch the GPU arena on their GPU side"),
        };
        let mut steps = Vec::with_capacity(meta.steps.len());
        let mut max_download = 0u64;
        for (i, step) in meta.steps.iter().enumerate() {
            if step.device != Device::Gpu {
                steps.push(None);
                continue;
            }
            let s = match (&step.kernel, &step.gpu) {
                (Kernel::Upload, _) => GpuStep::Upload { src: regions[i].0[0], dst: gpu_offset(step.outputs[0]) },
                (Kernel::Download, _) => {
                    let dst = regions[i].1[0];
                    max_download = max_download.max(dst.len as u64 * 4);
                    GpuStep::Download { src: gpu_offset(step.inputs[0]), dst }
                }
                (_, Some(work)) => {
                    let mut list = Vec::with_capacity(work.dispatches.len());
                    for d in &work.dispatches {
                        let entries: Vec<wgpu::BindGroupEntry> = d
                            .bindings
                            .iter()
                            .enumerate()
                            .map(|(k, &b)| {
                                let t = &meta.tensors[b as usize];
                                let size = std::num::NonZeroU64::new(t.byte_size().unwrap_or(0));
                                let (buffer, offset) = match t.storage {
                                    Storage::Weight { offset } => (&weight_buffers[&offset].0, 0),
                                    Storage::GpuArena { offset } => (&arena, offset),
                                    Storage::Arena { .. } => unreachable!("validated: GPU steps read GPU memory"),
                                };
                                wgpu::BindGroupEntry {
                                    binding: k as u32,
                                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                        buffer,
                                        offset,
                                        size,
                                    }),
                                }
                            })
                            .collect();
                        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                            label: Some(&step.name),
                            layout: &layouts[d.shader as usize],
                            entries: &entries,
                        });
                        list.push((d.shader as usize, group, d.workgroups));
                    }
                    GpuStep::Compute(list)
                }
                (_, None) => return Err(gpu_err(format!("step {i} runs on the GPU without dispatches"))),
            };
            steps.push(Some(s));
        }
        let readback = (max_download > 0).then(|| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("hetc readback"),
                size: max_download,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let timestamps = timestamps_ok.then(|| {
            let capacity = (2 * meta.steps.len()).clamp(2, 8192) as u32;
            Timestamps {
                set: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("hetc step times"),
                    ty: wgpu::QueryType::Timestamp,
                    count: capacity,
                }),
                resolve: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("hetc timestamps"),
                    size: capacity as u64 * 8,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                read: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("hetc timestamps readback"),
                    size: capacity as u64 * 8,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                period: queue.get_timestamp_period() as f64,
                capacity,
            }
        });
        if let Some(e) = pollster::block_on(oom.pop()) {
            return Err(RuntimeError::Memory(format!("GPU memory on {}: {}", desc.label(), first_line(&e))));
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(gpu_err(format!("the plan's GPU objects are invalid on {}: {}", desc.label(), first_line(&e))));
        }
        Ok(GpuExec {
            device,
            queue,
            adapter: desc,
            arena,
            readback,
            pipelines,
            steps,
            encoder: None,
            timestamps,
            stamped: Vec::new(),
            errors,
            weight_bytes,
        })
    }

    pub fn adapter(&self) -> &crate::AdapterDesc {
        &self.adapter
    }

    pub fn has_timestamps(&self) -> bool {
        self.timestamps.is_some()
    }

    /// Bytes of GPU memory held: arena and weights.
    pub fn memory_bytes(&self) -> u64 {
        self.arena.size() + self.weight_bytes
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        let device = &self.device;
        self.encoder.get_or_insert_with(|| device.create_command_encoder(&Default::default()))
    }

    fn submit(&mut self) {
        if let Some(e) = self.encoder.take() {
            self.queue.submit([e.finish()]);
        }
    }

    fn wait(&self) -> Result<(), RuntimeError> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map(|_| ())
            .map_err(|e| gpu_err(format!("waiting for the GPU: {e}")))
    }

    /// Submits what is recorded without waiting: the GPU works on it while the CPU runs the
    /// steps that follow (co-execution). Cheap when nothing is recorded.
    pub fn flush(&mut self) {
        self.submit();
    }

    /// Starts a run: forgets the previous run's timestamps.
    pub fn begin(&mut self) {
        self.stamped.clear();
    }

    /// Runs step `i`. `stamp`: record GPU timestamps around a compute step (when the adapter
    /// has them); `sync`: wait for the step to finish (per-step wall times without them).
    pub fn step(&mut self, i: usize, arena: &mut [f32], stamp: bool, sync: bool) -> Result<(), RuntimeError> {
        let Some(kind) = self.steps[i].take() else { return Err(gpu_err(format!("step {i} is not a GPU step"))) };
        let result = self.step_inner(i, &kind, arena, stamp, sync);
        self.steps[i] = Some(kind);
        result
    }

    fn step_inner(
        &mut self,
        i: usize,
        kind: &GpuStep,
        arena: &mut [f32],
        stamp: bool,
        sync: bool,
    ) -> Result<(), RuntimeError> {
        match kind {
            GpuStep::Compute(list) => {
                let slot = match &self.timestamps {
                    Some(t) if stamp && ((self.stamped.len() as u32 + 1) * 2) <= t.capacity => {
                        self.stamped.push(i);
                        Some(self.stamped.len() as u32 - 1)
                    }
                    _ => None,
                };
                let GpuExec { device, encoder, pipelines, timestamps, .. } = self;
                let encoder = encoder.get_or_insert_with(|| device.create_command_encoder(&Default::default()));
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: match (timestamps.as_ref(), slot) {
                        (Some(t), Some(s)) => Some(wgpu::ComputePassTimestampWrites {
                            query_set: &t.set,
                            beginning_of_pass_write_index: Some(2 * s),
                            end_of_pass_write_index: Some(2 * s + 1),
                        }),
                        _ => None,
                    },
                });
                for (p, group, wg) in list {
                    pass.set_pipeline(&pipelines[*p]);
                    pass.set_bind_group(0, group, &[]);
                    pass.dispatch_workgroups(wg[0], wg[1], wg[2]);
                }
                drop(pass);
                if sync {
                    self.submit();
                    self.wait()?;
                }
            }
            GpuStep::Upload { src, dst } => {
                // Commands recorded so far may still read the bytes this write replaces.
                self.submit();
                let data: &[u8] = bytemuck::cast_slice(&arena[src.offset..src.offset + src.len]);
                self.queue.write_buffer(&self.arena, *dst, data);
                if sync {
                    self.queue.submit(std::iter::empty::<wgpu::CommandBuffer>());
                    self.wait()?;
                }
            }
            GpuStep::Download { src, dst } => {
                let bytes = dst.len as u64 * 4;
                let readback = self.readback.clone().ok_or_else(|| gpu_err("no readback buffer"))?;
                let arena_buf = self.arena.clone();
                self.encoder().copy_buffer_to_buffer(&arena_buf, *src, &readback, 0, bytes);
                self.submit();
                let slice = readback.slice(..bytes);
                let done: Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>> = Arc::default();
                let flag = done.clone();
                slice.map_async(wgpu::MapMode::Read, move |r| {
                    if let Ok(mut f) = flag.lock() {
                        *f = Some(r);
                    }
                });
                self.wait()?;
                match done.lock().ok().and_then(|mut f| f.take()) {
                    Some(Ok(())) => {}
                    other => return Err(gpu_err(format!("cannot read GPU memory back: {other:?}"))),
                }
                {
                    let view = slice.get_mapped_range().map_err(|e| gpu_err(format!("cannot read GPU memory: {e}")))?;
                    let out: &mut [u8] = bytemuck::cast_slice_mut(&mut arena[dst.offset..dst.offset + dst.len]);
                    out.copy_from_slice(&view);
                }
                readback.unmap();
            }
        }
        self.check_errors()
    }

    fn check_errors(&self) -> Result<(), RuntimeError> {
        let mut e = self.errors.lock().map_err(|_| gpu_err("GPU error log poisoned"))?;
        if e.is_empty() { Ok(()) } else { Err(gpu_err(std::mem::take(&mut *e).join("; "))) }
    }

    /// Ends a run: submits what is recorded and waits for it. Returns the GPU time of each
    /// timestamped step, in seconds, by step index.
    pub fn finish(&mut self) -> Result<Vec<(usize, f64)>, RuntimeError> {
        let stamped = std::mem::take(&mut self.stamped);
        let mut times = Vec::new();
        if let (Some(t), false) = (&self.timestamps, stamped.is_empty()) {
            let n = 2 * stamped.len() as u32;
            let (set, resolve, read, period) = (t.set.clone(), t.resolve.clone(), t.read.clone(), t.period);
            let encoder = self.encoder();
            encoder.resolve_query_set(&set, 0..n, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, n as u64 * 8);
            self.submit();
            let slice = read.slice(..n as u64 * 8);
            slice.map_async(wgpu::MapMode::Read, |_| {});
            self.wait()?;
            {
                let view = slice.get_mapped_range().map_err(|e| gpu_err(format!("cannot read timestamps: {e}")))?;
                let ticks: Vec<u64> =
                    view.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
                for (k, &step) in stamped.iter().enumerate() {
                    let dt = ticks[2 * k + 1].saturating_sub(ticks[2 * k]) as f64 * period * 1e-9;
                    times.push((step, dt));
                }
            }
            read.unmap();
        } else {
            self.submit();
            self.wait()?;
        }
        self.check_errors()?;
        Ok(times)
    }
}

fn first_line(e: &wgpu::Error) -> String {
    let s = e.to_string();
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = lines.next().unwrap_or("GPU error").to_string();
    // wgpu puts the useful cause (e.g. the WGSL parse error) on later lines.
    match lines.next() {
        Some(detail) => format!("{head} {detail}"),
        None => head,
    }
}
