//! Declarative operator support tables (`tables/*.toml`): for one processor under one software
//! stack, which IR ops it runs, on which element types, within which attribute limits.
//!
//! A node is supported when one of the rules listing its op accepts it: every condition the
//! rule sets holds. An op no rule lists is unsupported with the table's `unlisted` reason; a
//! rule with `deny` refuses its ops with that reason. Conditions name the ops they apply to,
//! and loading refuses a rule that sets a condition one of its ops cannot have, so a typo in a
//! table is an error, not a silently permissive rule.

use crate::facts::{Quality, Sources, check_sources};
use crate::support::{CheckOptions, NodeView, OpSupport};
use hetc_ir::ops::{PadMode, ResizeMode};
use hetc_ir::{DType, Op, TensorType};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An element type a rule accepts: a plain IR type, or `q8`, an 8-bit quantized tensor
/// (which the IR does not have yet; with [`CheckOptions::assume_quantized`] an `f32` tensor
/// stands for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Accept {
    Plain(DType),
    Q8,
}

const DTYPES: [DType; 13] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::Bool,
];

impl TryFrom<String> for Accept {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "q8" {
            return Ok(Accept::Q8);
        }
        DTYPES.iter().find(|d| d.name() == s).map(|&d| Accept::Plain(d)).ok_or_else(|| format!("unknown dtype `{s}`"))
    }
}

impl From<Accept> for String {
    fn from(a: Accept) -> String {
        a.to_string()
    }
}

impl fmt::Display for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accept::Plain(d) => f.write_str(d.name()),
            Accept::Q8 => f.write_str("q8"),
        }
    }
}

impl Accept {
    fn accepts(self, dtype: DType, options: CheckOptions) -> bool {
        match self {
            Accept::Plain(d) => d == dtype,
            Accept::Q8 => options.assume_quantized && dtype == DType::F32,
        }
    }
}

/// Which convolution groupings a rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupLimit {
    /// Only ordinary convolutions (group 1).
    One,
    /// Only depthwise convolutions with multiplier 1 (group = input channels = output channels).
    Depthwise,
    OneOrDepthwise,
}

/// Padding a rule accepts for windowed ops, after Hexagon NN's two modes: `VALID` (no padding)
/// or Caffe-style `SAME` (output = ceil(input / stride)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaddingLimit {
    ValidOrSame,
}

/// Broadcasting a rule accepts for two-input elementwise ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BroadcastLimit {
    /// Both inputs have the output's shape.
    SameShape,
    /// The other input is a scalar or varies only along the channel axis (axis 1).
    ScalarOrChannel,
}

/// Reshapes a rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReshapeLimit {
    /// Only inserts or removes size-1 dimensions (`[N,C,1,1]` <-> `[N,C]`): a view of the same
    /// channel-blocked layout.
    UnitDimsOnly,
}

/// "If a Concat has at least `from_inputs` inputs, each input's channel count (axis 1) must be
/// a multiple of `of`."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelMultiple {
    pub of: usize,
    pub from_inputs: usize,
}

/// One entry of a table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// IR op names (`Op::name`: ONNX names such as `Conv`, `MaxPool`, `Clip`).
    pub ops: Vec<String>,
    /// Ids in `sources.toml` for this rule, in addition to the table's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    /// Overrides the table's quality for this rule (an assumption the sources do not state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Refuses these ops with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<String>,
    /// Element types of every input and output; default: the table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtypes: Option<Vec<Accept>>,
    /// Ranks of the first input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupLimit>,
    /// Largest kernel extent along any spatial axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kernel: Option<usize>,
    /// Allowed stride values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Vec<usize>>,
    /// Allowed dilation values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dilations: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<PaddingLimit>,
    /// Largest channel count (axis 1) of the first input and of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_channels: Option<usize>,
    /// Allowed values of the op's axis; negative values count from the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axes: Option<Vec<i64>>,
    /// Allowed sets of reduced axes; negative values count from the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_axes: Option<Vec<Vec<i64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepdims: Option<bool>,
    /// Most connected inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inputs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_multiple: Option<ChannelMultiple>,
    /// Allowed pad modes (`constant`, `reflect`, `edge`, `wrap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_modes: Option<Vec<String>>,
    /// Axes that may be padded; negative values count from the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_axes: Option<Vec<i64>>,
    /// Allowed interpolation modes (`nearest`, `linear`, `cubic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_modes: Option<Vec<String>>,
    /// Axes that may change size; negative values count from the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_axes: Option<Vec<i64>>,
    /// Allowed `[min, max]` pairs of a Clip (ReLU6 is `[0, 6]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_ranges: Option<Vec<[f32; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<BroadcastLimit>,
    /// Input slots that must be compile-time constants (weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub const_inputs: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reshape: Option<ReshapeLimit>,
    /// Required value of Gemm's `transA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_a: Option<bool>,
}

/// A table file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportTable {
    pub name: String,
    /// What this table reproduces: the stack and version whose op list it encodes.
    pub basis: String,
    pub quality: Quality,
    #[serde(default)]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Element types every rule accepts unless it says otherwise.
    pub dtypes: Vec<Accept>,
    /// Added to a wrong-element-type reason (e.g. how to ask about a quantized model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype_reason: Option<String>,
    /// Reason for ops no rule lists.
    pub unlisted: String,
    #[serde(rename = "rule", default)]
    pub rules: Vec<Rule>,
}

/// Every op name the IR produces (`Op::name`), so that tables cannot misspell one.
pub const KNOWN_OPS: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Celu",
    "ThresholdedRelu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Softplus",
    "Softsign",
    "Mish",
    "Clip",
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Erf",
    "Sin",
    "Cos",
    "Not",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Mod",
    "PRelu",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
    "Where",
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "MaxPool",
    "AveragePool",
    "GlobalMaxPool",
    "GlobalAveragePool",
    "BatchNormalization",
    "InstanceNormalization",
    "Softmax",
    "LogSoftmax",
    "Concat",
    "Split",
    "Slice",
    "Reshape",
    "Transpose",
    "Pad",
    "Resize",
    "Gather",
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSumExp",
    "Cast",
    "Expand",
];

const BINARY: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Mod",
    "PRelu",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
];
const CONVS: &[&str] = &["Conv", "ConvTranspose"];
const WINDOWED: &[&str] = &["Conv", "ConvTranspose", "MaxPool", "AveragePool"];
const AXIS_OPS: &[&str] = &["Concat", "Split", "Softmax", "LogSoftmax", "Gather"];
const REDUCES: &[&str] = &[
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSumExp",
];

impl Rule {
    /// The conditions this rule sets, each with the ops it can apply to (`None`: any op).
    fn conditions(&self) -> Vec<(&'static str, Option<&'static [&'static str]>)> {
        let mut c: Vec<(&'static str, Option<&'static [&'static str]>)> = Vec::new();
        let mut add = |set: bool, name, ops| {
            if set {
                c.push((name, ops));
            }
        };
        add(self.dtypes.is_some(), "dtypes", None);
        add(self.ranks.is_some(), "ranks", None);
        add(self.max_inputs.is_some(), "max_inputs", None);
        add(self.const_inputs.is_some(), "const_inputs", None);
        add(self.max_channels.is_some(), "max_channels", None);
        add(self.group.is_some(), "group", Some(CONVS));
        add(self.max_kernel.is_some(), "max_kernel", Some(WINDOWED));
        add(self.strides.is_some(), "strides", Some(WINDOWED));
        add(self.dilations.is_some(), "dilations", Some(WINDOWED));
        add(self.padding.is_some(), "padding", Some(&["Conv", "MaxPool", "AveragePool"]));
        add(self.axes.is_some(), "axes", Some(AXIS_OPS));
        add(self.reduce_axes.is_some(), "reduce_axes", Some(REDUCES));
        add(self.keepdims.is_some(), "keepdims", Some(REDUCES));
        add(self.channel_multiple.is_some(), "channel_multiple", Some(&["Concat"]));
        add(self.pad_modes.is_some(), "pad_modes", Some(&["Pad"]));
        add(self.pad_axes.is_some(), "pad_axes", Some(&["Pad"]));
        add(self.resize_modes.is_some(), "resize_modes", Some(&["Resize"]));
        add(self.resize_axes.is_some(), "resize_axes", Some(&["Resize"]));
        add(self.clip_ranges.is_some(), "clip_ranges", Some(&["Clip"]));
        add(self.broadcast.is_some(), "broadcast", Some(BINARY));
        add(self.reshape.is_some(), "reshape", Some(&["Reshape"]));
        add(self.trans_a.is_some(), "trans_a", Some(&["Gemm"]));
        c
    }

    fn validate(&self) -> Result<(), String> {
        if self.ops.is_empty() {
            return Err("a rule lists no ops".into());
        }
        for op in &self.ops {
            if !KNOWN_OPS.contains(&op.as_str()) {
                return Err(format!("unknown op `{op}`"));
            }
        }
        if self.deny.is_some() && !self.conditions().is_empty() {
            return Err(format!("the rule for {} both denies and sets conditions", self.ops.join(", ")));
        }
        for (name, applies) in self.conditions() {
            if let Some(ops) = applies
                && let Some(op) = self.ops.iter().find(|op| !ops.contains(&op.as_str()))
            {
                return Err(format!("condition `{name}` does not apply to {op}"));
            }
        }
        let modes_ok = |modes: &Option<Vec<String>>, known: &[&str], what: &str| match modes {
            Some(m) => match m.iter().find(|m| !known.contains(&m.as_str())) {
                Some(bad) => Err(format!("unknown {what} `{bad}`")),
                None => Ok(()),
            },
            None => Ok(()),
        };
        modes_ok(&self.pad_modes, &["constant", "reflect", "edge", "wrap"], "pad mode")?;
        modes_ok(&self.resize_modes, &["nearest", "linear", "cubic"], "resize mode")?;
        Ok(())
    }
}

impl SupportTable {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    /// Checks the rules' op names and conditions, and that every source is known.
    pub fn validate(&self, sources: &Sources) -> Result<(), String> {
        check_sources(&self.source, self.quality, sources, &|| format!("table `{}`", self.name))?;
        for rule in &self.rules {
            rule.validate().map_err(|e| format!("table `{}`: {e}", self.name))?;
            // A rule relies on the table's sources; only the ids it adds are checked here.
            check_sources(&rule.source, Quality::Guess, sources, &|| {
                format!("table `{}`, rule for {}", self.name, rule.ops.join(", "))
            })?;
        }
        Ok(())
    }

    /// The rules that list `op`, in file order.
    pub fn rules_for<'a>(&'a self, op: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.ops.iter().any(|o| o == op))
    }

    fn check_rule(&self, rule: &Rule, node: &NodeView<'_>, options: CheckOptions) -> Result<(), String> {
        if let Some(reason) = &rule.deny {
            return Err(reason.clone());
        }
        let accepts = rule.dtypes.as_deref().unwrap_or(&self.dtypes);
        let present = node.inputs.iter().flatten().copied().chain(node.outputs.iter());
        for ty in present {
            if !accepts.iter().any(|a| a.accepts(ty.dtype, options)) {
                let list: Vec<String> = accepts.iter().map(Accept::to_string).collect();
                let extra = self.dtype_reason.as_deref().map(|r| format!("; {r}")).unwrap_or_default();
                return Err(format!("{} values (accepts {}{extra})", ty.dtype, list.join(", ")));
            }
        }
        let x = node.inputs.first().copied().flatten();
        if let (Some(ranks), Some(x)) = (&rule.ranks, x)
            && !ranks.contains(&x.rank())
        {
            return Err(format!("rank-{} input (accepts rank {})", x.rank(), join(ranks)));
        }
        if let Some(max) = rule.max_inputs {
            let n = node.inputs.iter().flatten().count();
            if n > max {
                return Err(format!("{n} inputs (at most {max})"));
            }
        }
        if let Some(slots) = &rule.const_inputs
            && let Some(&slot) = slots.iter().find(|&&s| !node.const_inputs.get(s).copied().unwrap_or(false))
        {
            return Err(format!("input {slot} is computed at run time (must be a constant weight)"));
        }
        if let Some(max) = rule.max_channels {
            let channels = [x, node.outputs.first()].into_iter().flatten().filter_map(|t| t.shape.get(1).copied());
            if let Some(c) = channels.into_iter().find(|&c| c > max) {
                return Err(format!("{c} channels (at most {max})"));
            }
        }
        check_op_conditions(rule, node)
    }
}

fn join<T: fmt::Display>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

/// Resolves a possibly negative axis against `rank`.
fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    (0..r).contains(&a).then_some(a as usize)
}

fn axis_set(list: &[i64], rank: usize) -> Vec<usize> {
    let mut v: Vec<usize> = list.iter().filter_map(|&a| axis(a, rank)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Conditions on the op's own attributes. Loading guarantees each set condition applies to
/// the op, so a mismatch here cannot happen; it is refused all the same rather than ignored.
fn check_op_conditions(rule: &Rule, node: &NodeView<'_>) -> Result<(), String> {
    let x = node.inputs.first().copied().flatten();
    let rank = x.map_or(0, TensorType::rank);
    let y = node.outputs.first();
    match node.op {
        Op::Conv(c) | Op::ConvTranspose(hetc_ir::ops::ConvTranspose { conv: c, .. }) => {
            if let Some(limit) = rule.group {
                check_group(limit, c.group, x, y)?;
            }
            check_window(rule, &c.kernel, &c.strides, &c.dilations)?;
            if rule.padding.is_some() {
                check_valid_or_same(&c.kernel, &c.strides, &c.dilations, &c.pads, x, y)?;
            }
        }
        Op::Pool(p) => {
            check_window(rule, &p.kernel, &p.strides, &p.dilations)?;
            if rule.padding.is_some() {
                check_valid_or_same(&p.kernel, &p.strides, &p.dilations, &p.pads, x, y)?;
            }
        }
        Op::Concat(c) => {
            check_axis(rule, c.axis, rank)?;
            if let Some(m) = rule.channel_multiple {
                let inputs: Vec<&TensorType> = node.inputs.iter().flatten().copied().collect();
                if inputs.len() >= m.from_inputs
                    && let Some((i, c)) = inputs
                        .iter()
                        .enumerate()
                        .find_map(|(i, t)| t.shape.get(1).filter(|&&c| c % m.of != 0).map(|c| (i, c)))
                {
                    return Err(format!(
                        "with {} inputs every input's channels must be a multiple of {} (input {i} has {c})",
                        inputs.len(),
                        m.of
                    ));
                }
            }
        }
        Op::Split(s) => check_axis(rule, s.axis, rank)?,
        Op::Softmax(s) => check_axis(rule, s.axis, rank)?,
        Op::Gather(g) => check_axis(rule, g.axis, rank)?,
        Op::Reduce(r) => {
            if let Some(sets) = &rule.reduce_axes {
                let mut got = r.axes.clone();
                got.sort_unstable();
                if !sets.iter().any(|s| axis_set(s, rank) == got) {
                    return Err(format!("reduces axes [{}] (accepts {})", join(&got), fmt_sets(sets)));
                }
            }
            if let Some(k) = rule.keepdims
                && k != r.keepdims
            {
                return Err(format!("keepdims={} (needs keepdims={})", r.keepdims as u8, k as u8));
            }
        }
        Op::Pad(p) => {
            if let Some(modes) = &rule.pad_modes {
                let mode = match p.mode {
                    PadMode::Constant => "constant",
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                    PadMode::Wrap => "wrap",
                };
                if !modes.iter().any(|m| m == mode) {
                    return Err(format!("{mode} padding (accepts {})", modes.join(", ")));
                }
            }
            if let Some(allowed) = &rule.pad_axes {
                let allowed = axis_set(allowed, rank);
                let padded = (0..rank).find(|&a| {
                    (p.pads.get(a).copied().unwrap_or(0) != 0 || p.pads.get(a + rank).copied().unwrap_or(0) != 0)
                        && !allowed.contains(&a)
                });
                if let Some(a) = padded {
                    return Err(format!("pads axis {a} (only axes {})", join(&allowed)));
                }
            }
        }
        Op::Resize(r) => {
            if let Some(modes) = &rule.resize_modes {
                let mode = match r.mode {
                    ResizeMode::Nearest => "nearest",
                    ResizeMode::Linear => "linear",
                    ResizeMode::Cubic => "cubic",
                };
                if !modes.iter().any(|m| m == mode) {
                    return Err(format!("{mode} interpolation (accepts {})", modes.join(", ")));
                }
            }
            if let (Some(allowed), Some(x), Some(y)) = (&rule.resize_axes, x, y) {
                let allowed = axis_set(allowed, rank);
                if let Some(a) = (0..rank).find(|&a| x.shape.get(a) != y.shape.get(a) && !allowed.contains(&a)) {
                    return Err(format!("resizes axis {a} (only axes {})", join(&allowed)));
                }
            }
        }
        Op::Unary(u) => {
            if let (Some(ranges), hetc_ir::ops::UnaryKind::Clip { min, max }) = (&rule.clip_ranges, u.kind)
                && !ranges.iter().any(|&[lo, hi]| lo == min && hi == max)
            {
                let list: Vec<String> = ranges.iter().map(|[lo, hi]| format!("[{lo}, {hi}]")).collect();
                return Err(format!("Clip to [{min}, {max}] (accepts {})", list.join(", ")));
            }
        }
        Op::Binary(_) => {
            if let (Some(limit), Some(y)) = (rule.broadcast, y) {
                check_broadcast(limit, &node.inputs, y)?;
            }
        }
        Op::Reshape(_) => {
            if let (Some(ReshapeLimit::UnitDimsOnly), Some(x), Some(y)) = (rule.reshape, x, y) {
                let squeeze = |t: &TensorType| t.shape.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
                if squeeze(x) != squeeze(y) {
                    return Err(format!("reshapes {:?} to {:?} (only size-1 dimensions may change)", x.shape, y.shape));
                }
            }
        }
        Op::Gemm(g) => {
            if let Some(t) = rule.trans_a
                && t != g.trans_a
            {
                return Err(format!("transA={} (needs transA={})", g.trans_a as u8, t as u8));
            }
        }
        _ => {}
    }
    Ok(())
}

fn fmt_sets(sets: &[Vec<i64>]) -> String {
    sets.iter().map(|s| format!("[{}]", join(s))).collect::<Vec<_>>().join(" or ")
}

fn check_axis(rule: &Rule, got: usize, rank: usize) -> Result<(), String> {
    if let Some(allowed) = &rule.axes
        && !allowed.iter().any(|&a| axis(a, rank) == Some(got))
    {
        return Err(format!("axis {got} (accepts axis {})", join(allowed)));
    }
    Ok(())
}

fn check_window(rule: &Rule, kernel: &[usize], strides: &[usize], dilations: &[usize]) -> Result<(), String> {
    if let Some(max) = rule.max_kernel
        && kernel.iter().any(|&k| k > max)
    {
        return Err(format!("kernel {} (at most {max} per axis)", dims(kernel)));
    }
    if let Some(allowed) = &rule.strides
        && strides.iter().any(|s| !allowed.contains(s))
    {
        return Err(format!("strides {} (accepts {})", dims(strides), join(allowed)));
    }
    if let Some(allowed) = &rule.dilations
        && dilations.iter().any(|d| !allowed.contains(d))
    {
        return Err(format!("dilations {} (accepts {})", dims(dilations), join(allowed)));
    }
    Ok(())
}

fn dims(v: &[usize]) -> String {
    v.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
}

/// Depthwise means one filter per input channel (group = input channels = output channels),
/// for Conv and ConvTranspose alike.
fn check_group(limit: GroupLimit, group: usize, x: Option<&TensorType>, y: Option<&TensorType>) -> Result<(), String> {
    let c_in = x.and_then(|t| t.shape.get(1).copied()).unwrap_or(0);
    let c_out = y.and_then(|t| t.shape.get(1).copied()).unwrap_or(0);
    let depthwise = group > 1 && group == c_in && c_out == c_in;
    let ok = match limit {
        GroupLimit::One => group == 1,
        GroupLimit::Depthwise => depthwise,
        GroupLimit::OneOrDepthwise => group == 1 || depthwise,
    };
    if ok {
        return Ok(());
    }
    let what = if group == 1 {
        "an ordinary convolution (group 1)".to_string()
    } else if group == c_in {
        format!("a depthwise convolution with channel multiplier {}", c_out / c_in.max(1))
    } else {
        format!("a grouped convolution (group {group} of {c_in} channels)")
    };
    let accepts = match limit {
        GroupLimit::One => "only group 1",
        GroupLimit::Depthwise => "only depthwise with multiplier 1",
        GroupLimit::OneOrDepthwise => "only group 1 or depthwise with multiplier 1",
    };
    Err(format!("{what} ({accepts})"))
}

/// Hexagon NN's padding modes, decided as MACE's converter does: from the input, kernel,
/// stride and output sizes.
fn check_valid_or_same(
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    pads: &[usize],
    x: Option<&TensorType>,
    y: Option<&TensorType>,
) -> Result<(), String> {
    let (Some(x), Some(y)) = (x, y) else { return Ok(()) };
    let n = kernel.len();
    let axes =
        || (0..n).filter_map(|i| Some((x.shape.get(2 + i)?, y.shape.get(2 + i)?, kernel[i], strides[i], dilations[i])));
    // Saturating and checked: the IR refuses zero kernels and strides at import, but a table
    // check must not be the place where bad input panics.
    let valid = pads.iter().all(|&p| p == 0)
        && axes().all(|(&len, &out, k, s, d)| {
            let span = d.saturating_mul(k.saturating_sub(1)).saturating_add(1);
            len >= span && (len - span).checked_div(s).is_some_and(|q| out == q + 1)
        });
    let same = axes().all(|(&len, &out, _, s, _)| len >= 1 && (len - 1).checked_div(s).is_some_and(|q| out == q + 1));
    if valid || same {
        Ok(())
    } else {
        Err(format!("padding {:?} is neither VALID nor SAME (output {:?})", pads, &y.shape[2.min(y.rank())..]))
    }
}

fn check_broadcast(limit: BroadcastLimit, inputs: &[Option<&TensorType>], y: &TensorType) -> Result<(), String> {
    for t in inputs.iter().flatten() {
        if t.shape == y.shape {
            continue;
        }
        let ok = match limit {
            BroadcastLimit::SameShape => false,
            BroadcastLimit::ScalarOrChannel => {
                // Right-align to the output; every axis but 1 must be 1.
                let offset = y.rank().saturating_sub(t.rank());
                t.numel() == 1 || t.shape.iter().enumerate().all(|(i, &d)| d == 1 || i + offset == 1)
            }
        };
        if !ok {
            let accepts = match limit {
                BroadcastLimit::SameShape => "same shapes only",
                BroadcastLimit::ScalarOrChannel => "same shape, scalar or per-channel only",
            };
            return Err(format!("broadcasts {:?} to {:?} ({accepts})", t.shape, y.shape));
        }
    }
    Ok(())
}

impl OpSupport for SupportTable {
    fn check(&self, node: &NodeView<'_>, options: CheckOptions) -> Result<(), String> {
        if let Some(verdict) = crate::fused::check_fused(node, options, &|n, o| self.check(n, o)) {
            return verdict;
        }
        let name = node.op.name();
        let mut reasons = Vec::new();
        for rule in self.rules_for(name) {
            match self.check_rule(rule, node, options) {
                Ok(()) => return Ok(()),
                Err(r) => reasons.push(r),
            }
        }
        match reasons.len() {
            0 => Err(self.unlisted.clone()),
            1 => Err(reasons.remove(0)),
            _ => Err(reasons.join("; or ")),
        }
    }

    fn basis(&self) -> &str {
        &self.basis
    }
}
