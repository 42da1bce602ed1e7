//! A session: one plan prepared for execution with its own arena and worker threads.

use crate::cpu::arena::Arena;
use crate::cpu::exec;
use crate::cpu::prepare::{Prepared, Region, prepare, region};
use crate::{Plan, RuntimeError, Tensor};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
}

/// Wall time of one step, from [`Session::run_profiled`].
#[derive(Debug, Clone)]
pub struct StepTiming {
    pub name: String,
    pub kernel: &'static str,
    pub seconds: f64,
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
    /// Threads of each step ([`exec::step_threads`]).
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
        for (i, step) in meta.steps.iter().enumerate() {
            let prepared = prepare(meta, step).map_err(|reason| RuntimeError::Step {
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
                    let region =
                        region(t).map_err(|e| hetc_plan::PlanError::Invalid(format!("binding `{}`: {e}", b.name)))?;
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
        // A plan is untrusted: fail cleanly, rather than abort, if its arena cannot be had.
        let arena_len = (meta.arena_bytes as usize).div_ceil(4);
        let arena = Arena::new(arena_len).ok_or_else(|| {
            RuntimeError::Memory(format!("cannot allocate the plan's {} byte arena", meta.arena_bytes))
        })?;
        // Likewise the kernels' scratch (im2col tiles), which they would otherwise grow with
        // an aborting allocation.
        let step_threads: Vec<usize> = steps.iter().map(|s| exec::step_threads(s, threads)).collect();
        let scratch_len = steps.iter().zip(&step_threads).map(|(s, &t)| exec::scratch_len(s, t)).max().unwrap_or(0);
        let mut scratch = Vec::new();
        scratch.try_reserve_exact(scratch_len).map_err(|_| {
            RuntimeError::Memory(format!("cannot allocate {} bytes of kernel scratch", scratch_len as u128 * 4))
        })?;
        Ok(Session { weights, steps, step_threads, names, inputs, outputs, arena, scratch, pool, threads })
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
        let Session { weights, steps, step_threads, names, arena, scratch, pool, .. } = self;
        // Helpers stay awake only if some step is split; a plan of small steps runs on the
        // calling worker alone.
        let awake = step_threads.iter().copied().max().unwrap_or(1);
        pool.install(|| {
            crate::cpu::spin::with_awake_workers(awake, || {
                for (i, step) in steps.iter().enumerate() {
                    let start = timings.is_some().then(Instant::now);
                    exec::execute(step, arena, weights, scratch, step_threads[i]);
                    if let (Some(t), Some(start)) = (timings.as_deref_mut(), start) {
                        t.push(StepTiming {
                            name: names[i].0.clone(),
                            kernel: names[i].1,
                            seconds: start.elapsed().as_secs_f64(),
                        });
                    }
                }
            })
        });
        Ok(self.collect_outputs())
    }
}
