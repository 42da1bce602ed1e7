//! A session: one plan prepared for execution with its own arena and worker threads.

use crate::cpu::arena::Arena;
use crate::cpu::exec;
use crate::cpu::prepare::{Prepared, Region, prepare, region};
use crate::{AdapterDesc, Fallback, Plan, RuntimeError, Tensor};
use hetc_plan::{Device, Kernel};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// The GPU adapter for plans with GPU steps: a case-insensitive substring of its name.
    /// `HETC_ADAPTER` in the environment overrides it. `None`: the first discrete GPU, else
    /// the best other adapter.
    pub adapter: Option<String>,
    /// What to do with GPU steps when no adapter can be used.
    pub fallback: Fallback,
}

/// Time of one step, from [`Session::run_profiled`].
#[derive(Debug, Clone)]
pub struct StepTiming {
    pub name: String,
    pub kernel: &'static str,
    /// Where the step ran: `cpu`, `gpu`, or `cpu-fallback` for a GPU step run on the CPU.
    pub device: &'static str,
    pub seconds: f64,
    /// How it was timed: `wall` (CPU clock; for GPU steps around a submit-and-wait) or
    /// `gpu-timestamp` (timestamp queries around the step's compute pass).
    pub timer: &'static str,
}

/// Where a session runs the plan's GPU steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuMode {
    /// The plan has no GPU step.
    None,
    /// On this adapter.
    Adapter(AdapterDesc),
    /// On the CPU, because of this (no adapter, or a build without the GPU backend).
    CpuFallback(String),
}

/// Named output tensors, in plan order.
pub type Outputs = Vec<(String, Tensor)>;

struct Binding {
    name: String,
    region: Region,
    shape: Vec<usize>,
}

pub struct Session<'p> {
    weights: &'p [f32],
    steps: Vec<Prepared>,
    /// Whether the GPU runs each step (false in CPU fallback).
    on_gpu: Vec<bool>,
    /// Whether each step is a GPU step of the plan (whoever runs it).
    gpu_step: Vec<bool>,
    mode: GpuMode,
    #[cfg(feature = "gpu")]
    gpu: Option<crate::gpu::GpuExec>,
    /// Threads of each CPU step ([`exec::step_threads`]).
    step_threads: Vec<usize>,
    names: Vec<(String, &'static str)>,
    inputs: Vec<Binding>,
    outputs: Vec<Binding>,
    arena: Arena,
    scratch: Vec<f32>,
    pool: rayon::ThreadPool,
    threads: usize,
}

impl<'p> Session<'p> {
    /// Prepares `plan`: checks every step's shapes and memory, allocates the arena and starts
    /// the worker threads.
    pub fn new(plan: &'p Plan<'_>, options: SessionOptions) -> Result<Session<'p>, RuntimeError> {
        let meta = plan.meta();
        let w = plan.weights();
        // Weight offsets are multiples of 4 (validated), so whole f32s cover every tensor.
        let weights: &[f32] = bytemuck::try_cast_slice(&w[..w.len() / 4 * 4])
            .map_err(|e| hetc_plan::PlanError::Invalid(format!("weight section is not aligned for f32: {e}")))?;
        let mut steps = Vec::with_capacity(meta.steps.len());
        let mut names = Vec::with_capacity(meta.steps.len());
        // GPU-arena tensors sit after the CPU arena in fallback (see `prepare::region`).
        let gpu_base = (meta.arena_bytes as usize).div_ceil(4);
        for (i, step) in meta.steps.iter().enumerate() {
            let prepared = prepare(meta, step, gpu_base).map_err(|reason| RuntimeError::Step {
                step: i,
                name: step.name.clone(),
                kernel: step.kernel.name(),
                reason,
            })?;
            steps.push(prepared);
            names.push((step.name.clone(), step.kernel.name()));
        }
        let bind = |list: &[hetc_plan::Binding]| -> Result<Vec<Binding>, RuntimeError> {
            list.iter()
                .map(|b| {
                    let t = &meta.tensors[b.tensor as usize];
                    let region = region(t, gpu_base)
                        .map_err(|e| hetc_plan::PlanError::Invalid(format!("binding `{}`: {e}", b.name)))?;
                    Ok(Binding { name: b.name.clone(), region, shape: t.shape.iter().map(|&d| d as usize).collect() })
                })
                .collect()
        };
        let inputs = bind(&meta.inputs)?;
        let outputs = bind(&meta.outputs)?;
        let threads = if options.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            options.threads
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| RuntimeError::Threads { threads, reason: e.to_string() })?;
        let gpu_step: Vec<bool> = meta.steps.iter().map(|s| s.device == Device::Gpu).collect();
        let n_gpu = gpu_step.iter().filter(|&&g| g).count();
        #[cfg(feature = "gpu")]
        let mut gpu = None;
        let mode = if n_gpu == 0 {
            GpuMode::None
        } else {
            #[cfg(feature = "gpu")]
            let opened = {
                let regions: Vec<_> = steps.iter().map(|p: &Prepared| (p.inputs.clone(), p.outputs.clone())).collect();
                crate::gpu::GpuExec::new(meta, w, options.adapter.as_deref(), &regions)
            };
            #[cfg(not(feature = "gpu"))]
            let opened: Result<std::convert::Infallible, RuntimeError> = Err(RuntimeError::NoAdapter(
                "this build of hetc has no GPU backend (the runtime's `gpu` feature)".into(),
            ));
            match (opened, options.fallback) {
                #[cfg(feature = "gpu")]
                (Ok(exec), _) => {
                    let desc = exec.adapter().clone();
                    gpu = Some(exec);
                    GpuMode::Adapter(desc)
                }
                // Only a missing adapter falls back: a plan the adapter cannot run is an error.
                (Err(RuntimeError::NoAdapter(reason)), Fallback::Cpu) => GpuMode::CpuFallback(reason),
                (Err(RuntimeError::NoAdapter(reason)), Fallback::None) => {
                    return Err(RuntimeError::NoGpu { steps: n_gpu, reason });
                }
                (Err(e), _) => return Err(e),
            }
        };
        let on_gpu: Vec<bool> = gpu_step.iter().map(|&g| g && matches!(mode, GpuMode::Adapter(_))).collect();
        // A plan is untrusted: fail cleanly, rather than abort, if its arena cannot be had.
        // In CPU fallback the GPU arena is part of it.
        let arena_len = gpu_base
            + if matches!(mode, GpuMode::CpuFallback(_)) { (meta.gpu_arena_bytes as usize).div_ceil(4) } else { 0 };
        let arena = Arena::new(arena_len).ok_or_else(|| {
            RuntimeError::Memory(format!("cannot allocate the plan's {} byte arena", arena_len as u128 * 4))
        })?;
        // Likewise the kernels' scratch (im2col tiles), which they would otherwise grow with
        // an aborting allocation.
        let step_threads: Vec<usize> = steps.iter().map(|s| exec::step_threads(s, threads)).collect();
        let scratch_len = steps
            .iter()
            .zip(&step_threads)
            .zip(&on_gpu)
            .filter(|(_, g)| !**g)
            .map(|((s, &t), _)| exec::scratch_len(s, t))
            .max()
            .unwrap_or(0);
        let mut scratch = Vec::new();
        scratch.try_reserve_exact(scratch_len).map_err(|_| {
            RuntimeError::Memory(format!("cannot allocate {} bytes of kernel scratch", scratch_len as u128 * 4))
        })?;
        Ok(Session {
            weights,
            steps,
            on_gpu,
            gpu_step,
            mode,
            #[cfg(feature = "gpu")]
            gpu,
            step_threads,
            names,
            inputs,
            outputs,
            arena,
            scratch,
            pool,
            threads,
        })
    }

    /// Where the plan's GPU steps run.
    pub fn gpu_mode(&self) -> &GpuMode {
        &self.mode
    }

    /// Whether per-step GPU times come from timestamp queries.
    pub fn gpu_timestamps(&self) -> bool {
        #[cfg(feature = "gpu")]
        {
            self.gpu.as_ref().is_some_and(|g| g.has_timestamps())
        }
        #[cfg(not(feature = "gpu"))]
        {
            false
        }
    }

    /// Bytes of GPU memory this session holds (arena and weights).
    pub fn gpu_memory_bytes(&self) -> u64 {
        #[cfg(feature = "gpu")]
        {
            self.gpu.as_ref().map_or(0, |g| g.memory_bytes())
        }
        #[cfg(not(feature = "gpu"))]
        {
            0
        }
    }

    /// Names and shapes of the inputs, in plan order.
    pub fn inputs(&self) -> Vec<(&str, &[usize])> {
        self.inputs.iter().map(|b| (b.name.as_str(), b.shape.as_slice())).collect()
    }

    pub fn outputs(&self) -> Vec<(&str, &[usize])> {
        self.outputs.iter().map(|b| (b.name.as_str(), b.shape.as_slice())).collect()
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Bytes of activation memory this session holds (arena and scratch).
    pub fn memory_bytes(&self) -> usize {
        self.arena.bytes() + self.scratch.capacity() * 4
    }

    fn load_inputs(&mut self, inputs: &[(&str, &Tensor)]) -> Result<(), RuntimeError> {
        for (name, _) in inputs {
            if !self.inputs.iter().any(|b| b.name == *name) {
                let known: Vec<&str> = self.inputs.iter().map(|b| b.name.as_str()).collect();
                return Err(RuntimeError::Input(format!("`{name}` is not an input (inputs: {})", known.join(", "))));
            }
        }
        for b in &self.inputs {
            let mut given = inputs.iter().filter(|(n, _)| *n == b.name);
            let (_, t) = given.next().ok_or_else(|| RuntimeError::Input(format!("input `{}` is missing", b.name)))?;
            if given.next().is_some() {
                return Err(RuntimeError::Input(format!("input `{}` is given twice", b.name)));
            }
            if t.shape != b.shape || t.data.len() != b.region.len {
                return Err(RuntimeError::Input(format!(
                    "input `{}` has shape {:?}, the plan was compiled for {:?}",
                    b.name, t.shape, b.shape
                )));
            }
            self.arena[b.region.offset..b.region.offset + b.region.len].copy_from_slice(&t.data);
        }
        Ok(())
    }

    fn collect_outputs(&self) -> Outputs {
        self.outputs
            .iter()
            .map(|b| {
                let data = self.arena[b.region.offset..b.region.offset + b.region.len].to_vec();
                (b.name.clone(), Tensor { shape: b.shape.clone(), data })
            })
            .collect()
    }

    /// Runs the plan on named inputs; returns the named outputs in plan order.
    pub fn run(&mut self, inputs: &[(&str, &Tensor)]) -> Result<Outputs, RuntimeError> {
        self.run_inner(inputs, None)
    }

    /// Like [`Session::run`], also timing every step.
    pub fn run_profiled(&mut self, inputs: &[(&str, &Tensor)]) -> Result<(Outputs, Vec<StepTiming>), RuntimeError> {
        let mut timings = Vec::with_capacity(self.steps.len());
        let out = self.run_inner(inputs, Some(&mut timings))?;
        Ok((out, timings))
    }

    fn run_inner(
        &mut self,
        inputs: &[(&str, &Tensor)],
        mut timings: Option<&mut Vec<StepTiming>>,
    ) -> Result<Outputs, RuntimeError> {
        self.load_inputs(inputs)?;
        #[cfg(feature = "gpu")]
        let timestamps = self.gpu_timestamps();
        let Session { weights, steps, step_threads, names, arena, scratch, pool, on_gpu, gpu_step, .. } = self;
        #[cfg(feature = "gpu")]
        let gpu = &mut self.gpu;
        let profile = timings.is_some();
        #[cfg(feature = "gpu")]
        if let Some(g) = gpu.as_mut() {
            g.begin();
        }
        // Workers kept awake spin between CPU steps; while the GPU (or a software GPU such as
        // lavapipe, which needs the cores) works they would only burn time, so a session that
        // runs steps on the GPU lets them sleep.
        // Otherwise helpers stay awake only if some step is split: a plan of small steps runs
        // on the calling worker alone.
        let spin_threads = if on_gpu.iter().any(|&g| g) { 1 } else { step_threads.iter().copied().max().unwrap_or(1) };
        let result: Result<(), RuntimeError> = pool.install(|| {
            crate::cpu::spin::with_awake_workers(spin_threads, || {
                for (i, step) in steps.iter().enumerate() {
                    let start = profile.then(Instant::now);
                    #[cfg_attr(not(feature = "gpu"), allow(unused_mut))]
                    let mut timer = "wall";
                    if on_gpu[i] {
                        #[cfg(feature = "gpu")]
                        {
                            let g = gpu.as_mut().ok_or_else(|| RuntimeError::Gpu("no GPU session".into()))?;
                            let compute = !matches!(step.kernel, Kernel::Upload | Kernel::Download);
                            let stamp = profile && timestamps && compute;
                            g.step(i, arena, stamp, profile && !stamp)?;
                            if stamp {
                                timer = "gpu-timestamp";
                            }
                        }
                    } else {
                        // GPU work recorded so far runs while the CPU computes this step:
                        // this is what co-executes the GPU and CPU parts of a split op.
                        #[cfg(feature = "gpu")]
                        if let Some(g) = gpu.as_mut() {
                            g.flush();
                        }
                        exec::execute(step, arena, weights, scratch, step_threads[i]);
                    }
                    if let (Some(t), Some(start)) = (timings.as_deref_mut(), start) {
                        let device = match (on_gpu[i], gpu_step[i]) {
                            (true, _) => "gpu",
                            (false, true) => "cpu-fallback",
                            (false, false) => "cpu",
                        };
                        t.push(StepTiming {
                            name: names[i].0.clone(),
                            kernel: names[i].1,
                            device,
                            seconds: start.elapsed().as_secs_f64(),
                            timer,
                        });
                    }
                }
                Ok(())
            })
        });
        result?;
        #[cfg(feature = "gpu")]
        if let Some(g) = gpu.as_mut() {
            let stamps = g.finish()?;
            if let Some(t) = timings {
                for (step, seconds) in stamps {
                    if let Some(entry) = t.get_mut(step) {
                        entry.seconds = seconds;
                    }
                }
            }
        }
        let _ = Kernel::Copy;
        Ok(self.collect_outputs())
    }
}
