//! The import driver: decode, check support, resolve input shapes, then lower every node in
//! dependency order, folding what is known at compile time.

use crate::attrs::Attrs;
use crate::error::UnsupportedNode;
use crate::ops::{self, Ctx, Input, Lowered, Src};
use crate::proto::{GraphProto, ModelProto, TypeProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto};
use crate::tensor::{ExternalData, dtype_from_onnx, tensor_from_proto};
use crate::{ImportError, ImportOptions, Model};
use bytes::Bytes;
use hetc_ir::{Graph, GraphOutput, Node, NodeId, Tensor, TensorType, ValueRef};
use prost::Message;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Oldest and newest versions accepted. Opset 7 is where numpy broadcasting arrived; the
/// newest are those of the ONNX 1.23 conformance suite.
pub const MIN_OPSET: i64 = 7;
pub const MAX_OPSET: i64 = 28;
pub const MIN_IR_VERSION: i64 = 3;
pub const MAX_IR_VERSION: i64 = 14;

/// Largest tensor hetc accepts anywhere in a graph (1 TiB). Larger shapes come from corrupt
/// or hostile files, and would overflow size arithmetic further on.
pub const MAX_TENSOR_BYTES: u64 = 1 << 40;

/// Most bytes of constants that lowering may create in one import (folded values,
/// `ConstantOfShape` fills, Dropout masks). Weights are slices of the model's buffer and do
/// not count. Each op's folding is capped, but a small file can hold thousands of ops.
pub const MAX_CREATED_BYTES: u64 = 1 << 29;

pub(crate) fn check_size(ty: &TensorType) -> Result<(), String> {
    // Empty axes count as 1, so that an empty tensor's other dimensions are bounded too:
    // shape arithmetic (Concat's sum, Flatten's products) must not overflow on them.
    let dims: Vec<usize> = ty.shape.iter().map(|&d| d.max(1)).collect();
    let elements = hetc_ir::checked_numel(&dims).map(|n| n as u64);
    match elements.and_then(|n| n.checked_mul(ty.dtype.size() as u64)) {
        Some(b) if b <= MAX_TENSOR_BYTES => Ok(()),
        _ => Err(format!("tensor of shape {:?} is larger than hetc's 1 TiB limit", ty.shape)),
    }
}

/// A value known to the importer: computed by the graph or known at compile time.
#[derive(Clone)]
enum Value {
    Dynamic(ValueRef),
    Const(Tensor),
}

pub fn import_bytes(data: Bytes, base_dir: &Path, options: &ImportOptions) -> Result<Model, ImportError> {
    if data.is_empty() {
        return Err(ImportError::Decode("the file is empty".into()));
    }
    let model = ModelProto::decode(data).map_err(|e| ImportError::Decode(e.to_string().replace('\n', " ")))?;
    let ir_version = model.ir_version.unwrap_or(0);
    if !(MIN_IR_VERSION..=MAX_IR_VERSION).contains(&ir_version) {
        return Err(ImportError::Model(format!(
            "IR version {ir_version} is not supported (hetc reads {MIN_IR_VERSION} to {MAX_IR_VERSION})"
        )));
    }
    let graph = model.graph.as_ref().ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    crate::printable::check_identifiers(graph)?;
    // Before the opset: a model made only of other domains' ops (ai.onnx.ml, training) imports
    // no default opset, and its unsupported ops are the useful thing to report.
    check_support(graph)?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| ImportError::Model("the model imports no version of the default ONNX opset".into()))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(ImportError::Model(format!(
            "opset {opset} is not supported (hetc reads opsets {MIN_OPSET} to {MAX_OPSET})"
        )));
    }
    let mut importer = Importer {
        graph: Graph::new(graph.name.clone().unwrap_or_default()),
        env: HashMap::new(),
        materialized: HashMap::new(),
        external: ExternalData::new(base_dir),
        opset,
        created_bytes: 0,
    };
    importer.run(graph, options)?;
    Ok(Model {
        graph: importer.graph,
        opset,
        ir_version,
        producer: format!("{} {}", model.producer_name.unwrap_or_default(), model.producer_version.unwrap_or_default())
            .trim()
            .to_string(),
    })
}

/// Reports every node whose op or domain hetc does not implement, all at once.
fn check_support(graph: &GraphProto) -> Result<(), ImportError> {
    let unsupported: Vec<UnsupportedNode> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let default_domain = matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"));
            !default_domain || ops::converter(n.op_type.as_deref().unwrap_or("")).is_none()
        })
        .map(|(i, n)| UnsupportedNode {
            domain: n.domain.clone().unwrap_or_default(),
            op_type: n.op_type.clone().unwrap_or_default(),
            node: node_name(n, i),
        })
        .collect();
    if unsupported.is_empty() { Ok(()) } else { Err(ImportError::UnsupportedOps(unsupported)) }
}

fn node_name(n: &crate::proto::NodeProto, index: usize) -> String {
    match n.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => match n.output.first() {
            Some(o) if !o.is_empty() => format!("{}:{o}", n.op_type.as_deref().unwrap_or("?")),
            _ => format!("{}#{index}", n.op_type.as_deref().unwrap_or("?")),
        },
    }
}

/// Static type of a declared value, or `None` if it has no complete static shape.
fn declared_type(info: &ValueInfoProto) -> Option<TensorType> {
    let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), .. }) = &info.r#type else { return None };
    let dtype = dtype_from_onnx(t.elem_type?).ok()?;
    let dims = t.shape.as_ref()?.dim.iter().map(|d| match d.value {
        Some(dimension::Value::DimValue(v)) if v >= 0 => Some(v as usize),
        _ => None,
    });
    Some(TensorType::new(dtype, dims.collect::<Option<Vec<_>>>()?))
}

/// Type of a graph input, with `--input-shape` overrides applied.
fn input_type(info: &ValueInfoProto, options: &ImportOptions) -> Result<TensorType, ImportError> {
    let name = info.name.clone().unwrap_or_default();
    let model_err = |m: String| ImportError::Model(m);
    let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), .. }) = &info.r#type else {
        return Err(model_err(format!("input `{name}` is not a tensor")));
    };
    let dtype = dtype_from_onnx(t.elem_type.unwrap_or(0)).map_err(|e| model_err(format!("input `{name}`: {e}")))?;
    let dims = t.shape.as_ref().map(|s| s.dim.as_slice());
    if let Some(shape) = options.input_shapes.get(&name) {
        if let Some(dims) = dims {
            if dims.len() != shape.len() {
                return Err(model_err(format!(
                    "--input-shape gives `{name}` {} dimensions, the model declares {}",
                    shape.len(),
                    dims.len()
                )));
            }
            for (axis, (d, &s)) in dims.iter().zip(shape).enumerate() {
                if let Some(dimension::Value::DimValue(v)) = d.value
                    && v != s as i64
                {
                    return Err(model_err(format!(
                        "--input-shape gives `{name}` size {s} at axis {axis}, the model fixes it to {v}"
                    )));
                }
            }
        }
        return Ok(TensorType::new(dtype, shape.clone()));
    }
    let Some(dims) = dims else {
        return Err(model_err(format!("input `{name}` has no shape; give one with --input-shape {name}=...")));
    };
    let mut shape = Vec::with_capacity(dims.len());
    for (axis, d) in dims.iter().enumerate() {
        match &d.value {
            Some(dimension::Value::DimValue(v)) if *v >= 0 => shape.push(*v as usize),
            other => {
                let dim = match other {
                    Some(dimension::Value::DimParam(p)) if !p.is_empty() => p.clone(),
                    _ => "?".to_string(),
                };
                let example: Vec<String> = dims
                    .iter()
                    .map(|d| match d.value {
                        Some(dimension::Value::DimValue(v)) if v >= 0 => v.to_string(),
                        _ => "1".to_string(),
                    })
                    .collect();
                return Err(ImportError::SymbolicDim { input: name, dim, axis, example: example.join("x") });
            }
        }
    }
    Ok(TensorType::new(dtype, shape))
}

struct Importer {
    graph: Graph,
    env: HashMap<String, Value>,
    /// Constant values already turned into graph nodes, by value name: a weight read by
    /// several nodes is one node.
    materialized: HashMap<String, NodeId>,
    external: ExternalData,
    opset: i64,
    /// Bytes of the constants lowering has created so far, against [`MAX_CREATED_BYTES`].
    created_bytes: u64,
}

impl Importer {
    fn run(&mut self, g: &GraphProto, options: &ImportOptions) -> Result<(), ImportError> {
        if !g.sparse_initializer.is_empty() {
            return Err(ImportError::Model("sparse initializers are not supported".into()));
        }
        for init in &g.initializer {
            let name = init.name.clone().unwrap_or_default();
            let t = tensor_from_proto(init, &mut self.external)?;
            self.define(&name, Value::Const(t), "initializer")?;
        }
        // Old exporters (IR < 4) also list initializers as inputs; those are not real inputs.
        let real_inputs: Vec<&ValueInfoProto> =
            g.input.iter().filter(|i| !self.env.contains_key(i.name.as_deref().unwrap_or(""))).collect();
        for name in options.input_shapes.keys() {
            if !real_inputs.iter().any(|i| i.name.as_deref() == Some(name)) {
                let names: Vec<&str> = real_inputs.iter().map(|i| i.name.as_deref().unwrap_or("")).collect();
                return Err(ImportError::UnknownInputShape(name.clone(), names.join(", ")));
            }
        }
        for info in real_inputs {
            let ty = input_type(info, options)?;
            check_size(&ty)
                .map_err(|e| ImportError::Model(format!("input `{}`: {e}", info.name.as_deref().unwrap_or(""))))?;
            let name = info.name.clone().unwrap_or_default();
            let id = self.graph.add_input(name.clone(), ty);
            self.define(&name, Value::Dynamic(ValueRef { node: id, slot: 0 }), "input")?;
        }
        for index in node_order(g, &self.env)? {
            self.lower_node(g, index)?;
        }
        self.bind_outputs(g)?;
        self.check_value_info(g)?;
        self.graph.remove_dead_nodes();
        self.graph.validate()?;
        Ok(())
    }

    fn define(&mut self, name: &str, value: Value, what: &str) -> Result<(), ImportError> {
        if name.is_empty() {
            return Err(ImportError::Model(format!("an {what} has an empty name")));
        }
        if self.env.insert(name.to_string(), value).is_some() {
            return Err(ImportError::Model(format!("value `{name}` is defined twice (the {what} redefines it)")));
        }
        Ok(())
    }

    fn value_type(&self, v: &Value) -> TensorType {
        match v {
            Value::Dynamic(r) => self.graph.value_type(*r).clone(),
            Value::Const(t) => t.ty().clone(),
        }
    }

    fn lower_node(&mut self, g: &GraphProto, index: usize) -> Result<(), ImportError> {
        let n = &g.node[index];
        let name = node_name(n, index);
        let op_type = n.op_type.clone().unwrap_or_default();
        let fail = |reason: String| ImportError::node(&name, &op_type, reason);
        let mut values = Vec::with_capacity(n.input.len());
        for input in &n.input {
            values.push(if input.is_empty() { None } else { Some(self.env[input].clone()) });
        }
        let inputs = values
            .iter()
            .map(|v| {
                v.as_ref().map(|v| Input {
                    ty: self.value_type(v),
                    value: if let Value::Const(t) = v { Some(t.clone()) } else { None },
                })
            })
            .collect();
        let converter = ops::converter(&op_type).expect("support was checked before lowering");
        let mut ctx = Ctx {
            op_type: &op_type,
            opset: self.opset,
            attrs: Attrs::new(&n.attribute),
            inputs,
            num_outputs: n.output.len(),
            external: &mut self.external,
        };
        let lowered = converter(&mut ctx).map_err(fail)?;
        match &lowered {
            // Constant's values are read from the model, so bounded by its size.
            Lowered::Values(ts) if op_type != "Constant" => self.count_created(ts).map_err(fail)?,
            Lowered::AliasWith(_, ts) => self.count_created(ts).map_err(fail)?,
            _ => {}
        }
        let outputs: Vec<Value> = match lowered {
            Lowered::Alias(i) => {
                vec![values.get(i).cloned().flatten().ok_or_else(|| fail(format!("input {i} is missing")))?]
            }
            Lowered::AliasWith(i, rest) => {
                let first = values.get(i).cloned().flatten().ok_or_else(|| fail(format!("input {i} is missing")))?;
                std::iter::once(first).chain(rest.into_iter().map(Value::Const)).collect()
            }
            Lowered::Values(ts) => ts.into_iter().map(Value::Const).collect(),
            Lowered::Steps(steps) => self.emit_steps(&name, n, &values, steps).map_err(fail)?,
        };
        for (slot, out_name) in n.output.iter().enumerate() {
            if out_name.is_empty() {
                continue;
            }
            match outputs.get(slot) {
                Some(v) => self.define(out_name, v.clone(), "node output")?,
                // Optional outputs hetc does not compute (Dropout's mask, BatchNormalization's
                // running statistics) are left undefined; a use of one is reported there.
                None => continue,
            }
        }
        Ok(())
    }

    /// Checks constants that lowering created: each against [`check_size`], all of them
    /// together against [`MAX_CREATED_BYTES`].
    fn count_created(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        tensors.iter().try_for_each(|t| check_size(t.ty()))?;
        self.created_bytes += tensors.iter().map(|t| t.ty().byte_size()).sum::<u64>();
        if self.created_bytes > MAX_CREATED_BYTES {
            return Err(format!(
                "constant folding has made more than hetc's limit of {} MiB of values",
                MAX_CREATED_BYTES >> 20
            ));
        }
        Ok(())
    }

    /// Adds the IR ops of a lowering, folding each whose inputs are all constant.
    fn emit_steps(
        &mut self,
        name: &str,
        n: &crate::proto::NodeProto,
        inputs: &[Option<Value>],
        steps: Vec<ops::Step>,
    ) -> Result<Vec<Value>, String> {
        let mut results: Vec<Vec<Value>> = Vec::with_capacity(steps.len());
        let count = steps.len();
        for (k, step) in steps.into_iter().enumerate() {
            let mut args: Vec<Option<(Value, Option<String>)>> = Vec::with_capacity(step.inputs.len());
            for src in &step.inputs {
                args.push(match src {
                    None => None,
                    Some(Src::In(i)) => {
                        let v = inputs.get(*i).cloned().flatten().ok_or_else(|| format!("input {i} is required"))?;
                        Some((v, n.input.get(*i).cloned()))
                    }
                    Some(Src::Step(j)) => Some((results[*j][0].clone(), None)),
                    Some(Src::Const(t)) => Some((Value::Const(t.clone()), None)),
                });
            }
            let consts: Option<Vec<Option<&Tensor>>> = args
                .iter()
                .map(|a| match a {
                    None => Some(None),
                    Some((Value::Const(t), _)) => Some(Some(t)),
                    Some(_) => None,
                })
                .collect();
            if let Some(consts) = consts.filter(|c| c.iter().any(Option::is_some))
                && let Some(folded) = step.op.eval(&consts)
            {
                let folded = folded.map_err(|e| e.to_string())?;
                self.count_created(&folded)?;
                results.push(folded.into_iter().map(Value::Const).collect());
                continue;
            }
            let mut refs = Vec::with_capacity(args.len());
            for a in &args {
                refs.push(match a {
                    None => None,
                    Some((Value::Dynamic(r), _)) => Some(*r),
                    Some((Value::Const(t), source)) => Some(self.materialize(source.as_deref(), name, t)),
                });
            }
            let types: Vec<Option<&TensorType>> = refs.iter().map(|r| r.map(|r| self.graph.value_type(r))).collect();
            let outputs = step.op.infer(&types).map_err(|e| e.to_string())?;
            outputs.iter().try_for_each(check_size)?;
            let output_names: Vec<String> = if k + 1 == count {
                (0..outputs.len()).map(|i| n.output.get(i).cloned().unwrap_or_default()).collect()
            } else {
                vec![format!("{name}/{k}"); outputs.len()]
            };
            let id = self.graph.add_node(Node {
                name: if count == 1 { name.to_string() } else { format!("{name}/{k}") },
                op: step.op,
                num_inputs: refs.len(),
                outputs,
                output_names,
            });
            for (slot, r) in refs.into_iter().enumerate() {
                if let Some(r) = r {
                    self.graph.connect(r, id, slot);
                }
            }
            let n_out = self.graph.node(id).outputs.len();
            results.push((0..n_out).map(|slot| Value::Dynamic(ValueRef { node: id, slot })).collect());
        }
        Ok(results.pop().unwrap_or_default())
    }

    /// The graph node holding a constant, created on first use. Named values (initializers,
    /// folded outputs) are shared; anonymous ones made by converters get their own node.
    fn materialize(&mut self, source: Option<&str>, user: &str, t: &Tensor) -> ValueRef {
        let node = match source {
            Some(s) if !s.is_empty() => match self.materialized.get(s) {
                Some(&id) => id,
                None => {
                    let id = self.graph.add_constant(s, t.clone());
                    self.materialized.insert(s.to_string(), id);
                    id
                }
            },
            _ => self.graph.add_constant(format!("{user}/const"), t.clone()),
        };
        ValueRef { node, slot: 0 }
    }

    fn bind_outputs(&mut self, g: &GraphProto) -> Result<(), ImportError> {
        if g.output.is_empty() {
            return Err(ImportError::Model("the graph has no outputs".into()));
        }
        for out in &g.output {
            let name = out.name.clone().unwrap_or_default();
            let value = self
                .env
                .get(&name)
                .cloned()
                .ok_or_else(|| ImportError::Model(format!("graph output `{name}` is not computed by any node")))?;
            let v = match value {
                Value::Dynamic(r) => r,
                Value::Const(t) => self.materialize(Some(&name), &name, &t),
            };
            if let Some(declared) = declared_type(out) {
                let actual = self.graph.value_type(v);
                if declared.shape != actual.shape || declared.dtype != actual.dtype {
                    return Err(ImportError::InconsistentType {
                        what: "graph output",
                        name,
                        declared,
                        actual: actual.clone(),
                    });
                }
            }
            self.graph.outputs.push(GraphOutput { name, value: v });
        }
        Ok(())
    }

    /// Cross-checks shapes the model declares for intermediate values against inference.
    fn check_value_info(&self, g: &GraphProto) -> Result<(), ImportError> {
        for info in &g.value_info {
            let name = info.name.as_deref().unwrap_or("");
            let (Some(declared), Some(v)) = (declared_type(info), self.env.get(name)) else { continue };
            let actual = self.value_type(v);
            if declared.shape != actual.shape || declared.dtype != actual.dtype {
                return Err(ImportError::InconsistentType { what: "value", name: name.to_string(), declared, actual });
            }
        }
        Ok(())
    }
}

/// Node indices in dependency order (ONNX requires sorted nodes, but not every exporter
/// obeys). Reports reads of undefined values and cycles.
fn node_order(g: &GraphProto, defined: &HashMap<String, Value>) -> Result<Vec<usize>, ImportError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if defined.contains_key(o.as_str()) || producer.insert(o.as_str(), i).is_some() {
                return Err(ImportError::Model(format!("value `{o}` is defined twice")));
            }
        }
    }
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); g.node.len()];
    for (i, n) in g.node.iter().enumerate() {
        for input in n.input.iter().filter(|s| !s.is_empty()) {
            match producer.get(input.as_str()) {
                Some(&p) => {
                    deps[i].insert(p);
                }
                None if defined.contains_key(input.as_str()) => {}
                None => {
                    return Err(ImportError::Model(format!(
                        "node `{}` reads `{input}`, which no node, input or initializer defines",
                        node_name(n, i)
                    )));
                }
            }
        }
    }
    // Kahn's algorithm, smallest index first: sorted models keep their order.
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    let mut pending: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    for (i, d) in deps.iter().enumerate() {
        for &p in d {
            users[p].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..g.node.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() != g.node.len() {
        let stuck = (0..g.node.len()).find(|&i| pending[i] > 0).expect("a node on the cycle");
        return Err(ImportError::Graph(hetc_ir::GraphError::Cycle(node_name(&g.node[stuck], stuck))));
    }
    Ok(order)
}
