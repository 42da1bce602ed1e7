//! Fused ops seen by declarative support tables.
//!
//! The phones' tables (MACE, Hexagon NN, ...) speak ONNX ops; hetc places ops after its own
//! fusion pass, so a table must judge `FusedConv` and friends too. A fused node is supported
//! when every plain op it stands for is: the vendor runtimes behind these tables fuse the same
//! epilogues themselves, so a processor that runs the convolution and the activation runs the
//! fused kernel. Each constituent is checked with the types it would have had unfused.

use crate::support::{CheckOptions, NodeView};
use hetc_ir::TensorType;
use hetc_ir::ops::{Binary, BinaryKind, ChainInstr, Unary, UnaryKind};
use hetc_ir::{Op, broadcast_shapes};

/// One plain op a fused node stands for, with the types it would see.
struct Constituent {
    name: String,
    op: Op,
    inputs: Vec<Option<TensorType>>,
    const_inputs: Vec<bool>,
    outputs: Vec<TensorType>,
}

impl Constituent {
    fn view(&self) -> NodeView<'_> {
        NodeView {
            name: &self.name,
            op: &self.op,
            inputs: self.inputs.iter().map(Option::as_ref).collect(),
            const_inputs: self.const_inputs.clone(),
            outputs: &self.outputs,
        }
    }
}

fn elementwise(name: &str, op: Op, inputs: Vec<TensorType>, out: &TensorType) -> Constituent {
    let n = inputs.len();
    Constituent {
        name: name.to_string(),
        op,
        inputs: inputs.into_iter().map(Some).collect(),
        const_inputs: vec![false; n],
        outputs: vec![out.clone()],
    }
}

/// The epilogue's residual Add and activation, on the output's type.
fn epilogue(name: &str, out: &TensorType, residual: bool, activation: &Option<UnaryKind>) -> Vec<Constituent> {
    let mut parts = Vec::new();
    if residual {
        let add = Op::Binary(Binary { kind: BinaryKind::Add });
        parts.push(elementwise(name, add, vec![out.clone(), out.clone()], out));
    }
    if let Some(kind) = activation {
        parts.push(elementwise(name, Op::Unary(Unary { kind: *kind }), vec![out.clone()], out));
    }
    parts
}

/// The main op of a fused node with the first `n` inputs.
fn head(node: &NodeView<'_>, op: Op, n: usize) -> Constituent {
    Constituent {
        name: node.name.to_string(),
        op,
        inputs: node.inputs.iter().take(n).map(|t| t.cloned()).collect(),
        const_inputs: node.const_inputs.iter().take(n).copied().collect(),
        outputs: node.outputs.to_vec(),
    }
}

/// The plain ops `node` stands for, or `None` when it is not a fused op.
fn constituents(node: &NodeView<'_>) -> Option<Vec<Constituent>> {
    let out = node.outputs.first()?;
    let parts = match node.op {
        Op::FusedConv(f) => {
            let mut parts = vec![head(node, Op::Conv(f.conv.clone()), 2 + f.has_bias as usize)];
            parts.extend(epilogue(node.name, out, f.has_residual, &f.activation));
            parts
        }
        Op::FusedConvTranspose(f) => {
            let mut parts = vec![head(node, Op::ConvTranspose(f.conv.clone()), 2 + f.has_bias as usize)];
            parts.extend(epilogue(node.name, out, false, &f.activation));
            parts
        }
        Op::FusedGemm(f) => {
            let mut parts = vec![head(node, Op::Gemm(f.gemm), node.inputs.len())];
            parts.extend(epilogue(node.name, out, false, &Some(f.activation)));
            parts
        }
        Op::FusedInstanceNorm(f) => {
            let mut parts = vec![head(node, Op::InstanceNorm(f.norm), 3)];
            parts.extend(epilogue(node.name, out, f.has_residual, &f.activation));
            parts
        }
        Op::ElementwiseChain(chain) => {
            // Registers: the inputs, then one per instruction, with broadcast shapes.
            let mut regs: Vec<TensorType> =
                node.inputs.iter().map(|t| t.cloned().unwrap_or_else(|| out.clone())).collect();
            let mut parts = Vec::new();
            for instr in &chain.program {
                let (op, args) = match *instr {
                    ChainInstr::Unary { kind, x } => (Op::Unary(Unary { kind }), vec![regs.get(x)?.clone()]),
                    ChainInstr::Binary { kind, a, b } => {
                        (Op::Binary(Binary { kind }), vec![regs.get(a)?.clone(), regs.get(b)?.clone()])
                    }
                };
                let shape = args.iter().try_fold(Vec::new(), |acc, t| broadcast_shapes(&acc, &t.shape))?;
                let result = TensorType::new(out.dtype, shape);
                parts.push(elementwise(node.name, op, args, &result));
                regs.push(result);
            }
            parts
        }
        _ => return None,
    };
    Some(parts)
}

/// Checks a fused node by its constituents with `check`; `None` when `node` is not fused.
pub fn check_fused(
    node: &NodeView<'_>,
    options: CheckOptions,
    check: &dyn Fn(&NodeView<'_>, CheckOptions) -> Result<(), String>,
) -> Option<Result<(), String>> {
    let parts = constituents(node)?;
    let refused: Vec<String> = parts
        .iter()
        .filter_map(|p| check(&p.view(), options).err().map(|reason| format!("its {} ({reason})", p.op.name())))
        .collect();
    Some(if refused.is_empty() { Ok(()) } else { Err(format!("fused {}: {}", node.op.name(), refused.join("; "))) })
}
