//! Markdown for docs/targets.md, generated from the data files so that the documentation of
//! every fact and rule cannot drift from what hetc uses (a test compares the two).

use crate::desc::{SupportRef, TargetDesc};
use crate::facts::{Figure, Quality};
use crate::table::{Rule, SupportTable};
use std::fmt::Write;

fn sources(ids: &[String]) -> String {
    if ids.is_empty() { "—".to_string() } else { ids.iter().map(|s| format!("[{s}]")).collect::<Vec<_>>().join(", ") }
}

/// Markdown table cells must not contain `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "/").replace('\n', " ")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 { format!("{}", v as i64) } else { format!("{v}") }
}

fn row(out: &mut String, fact: &str, value: &str, quality: Option<Quality>, src: &[String], how: Option<&str>) {
    let q = quality.map_or(String::new(), |q| q.to_string());
    let s = if quality.is_some() { sources(src) } else { String::new() };
    let _ = writeln!(out, "| {} | {} | {q} | {s} | {} |", cell(fact), cell(value), cell(how.unwrap_or("")));
}

fn figure_row(out: &mut String, fact: &str, f: &Figure, unit: &str) {
    row(out, fact, &format!("{}{unit}", number(f.value)), Some(f.quality), &f.source, f.derivation.as_deref());
}

/// The fact table of one target.
pub fn target_facts(t: &TargetDesc) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| fact | value | quality | sources | how |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    row(&mut out, "device and SoC", &format!("{} ({})", t.device, t.soc), Some(t.quality), &t.source, None);
    if let Some(r) = &t.ram {
        let v: Vec<String> = r.variants_gib.iter().map(|g| number(*g)).collect();
        row(&mut out, "RAM", &format!("{} GiB", v.join(" / ")), Some(r.quality), &r.source, r.note.as_deref());
    }
    if let Some(m) = &t.memory {
        row(&mut out, "memory", &m.kind, Some(m.quality), &m.source, None);
        figure_row(&mut out, "memory bandwidth", &m.bandwidth_gbps, " GB/s");
    }
    for p in &t.processors {
        let n = &p.name;
        row(&mut out, &format!("{n}: model"), &p.model, Some(p.quality), &p.source, p.note.as_deref());
        for c in &p.clusters {
            let role = format!("{:?}", c.role).to_lowercase();
            let value = format!("{}x {} @ {} GHz", c.count, c.core, number(c.ghz));
            row(&mut out, &format!("{n}: {role} cluster"), &value, Some(c.quality), &c.source, None);
            figure_row(&mut out, &format!("{n}: {} FP32 FLOP/cycle", c.core), &c.fp32_flops_per_cycle, "");
        }
        if let Some(g) = &p.gpu {
            if let Some(f) = &g.clock_mhz {
                figure_row(&mut out, &format!("{n}: clock"), f, " MHz");
            }
            if !g.api.is_empty() {
                row(&mut out, &format!("{n}: compute APIs"), &g.api.join(", "), None, &[], None);
            }
            if let Some(d) = &g.preferred_data {
                let kind = format!("OpenCL {:?}", d.kind).to_lowercase().replace("opencl", "OpenCL");
                row(
                    &mut out,
                    &format!("{n}: preferred data type"),
                    &kind,
                    Some(d.quality),
                    &d.source,
                    d.note.as_deref(),
                );
            }
        }
        match p.peak_gflops() {
            Some(f) if p.peak_gflops.is_some() => figure_row(&mut out, &format!("{n}: peak FP32"), &f, " GFLOP/s"),
            Some(f) => figure_row(&mut out, &format!("{n}: peak FP32 (big cores)"), &f, " GFLOP/s"),
            None => {}
        }
        if let Some(f) = &p.peak_int8_tops {
            figure_row(&mut out, &format!("{n}: peak INT8"), f, " TOPS");
        }
        if let Some(f) = &p.dispatch_us {
            figure_row(&mut out, &format!("{n}: dispatch cost"), f, " µs");
        }
        let support = match &p.support {
            SupportRef::Table(t) => format!("table `{t}`"),
            SupportRef::Code(c) => format!("code `{c}`"),
        };
        row(&mut out, &format!("{n}: support table"), &support, None, &[], None);
    }
    for tr in &t.transfers {
        let link = format!("{}↔{}", tr.between[0], tr.between[1]);
        figure_row(&mut out, &format!("{link} latency"), &tr.latency_us, " µs");
        figure_row(&mut out, &format!("{link} bandwidth"), &tr.gbps, " GB/s");
    }
    out
}

/// A TOML value as written in the table files.
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("\"{s}\""),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => number(*f),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        toml::Value::Table(t) => {
            format!("{{ {} }}", t.iter().map(|(k, v)| format!("{k} = {}", show(v))).collect::<Vec<_>>().join(", "))
        }
        toml::Value::Datetime(d) => format!("{d:?}"),
    }
}

/// The conditions a rule sets, as `name = value` text.
fn conditions(r: &Rule) -> String {
    // The rule's serialised form holds exactly its set conditions besides the bookkeeping.
    let value = toml::Value::try_from(r).ok();
    let mut parts = Vec::new();
    if let Some(toml::Value::Table(t)) = value {
        for (k, v) in t {
            if ["ops", "source", "quality", "note", "deny"].contains(&k.as_str()) {
                continue;
            }
            parts.push(format!("{k} = {}", show(&v)));
        }
    }
    if let Some(d) = &r.deny {
        parts.push(format!("refused: {d}"));
    }
    parts.join("; ")
}

/// The rule table of one support table.
pub fn table_rules(t: &SupportTable) -> String {
    let mut out = String::new();
    let dtypes: Vec<String> = t.dtypes.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(
        out,
        "Basis: {}. Quality: {}; sources: {}. Element types: {}. Ops no rule lists: \"{}\".\n",
        t.basis,
        t.quality,
        sources(&t.source),
        dtypes.join(", "),
        t.unlisted
    );
    let _ = writeln!(out, "| ops | conditions | quality | extra sources | note |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in &t.rules {
        let q = r.quality.unwrap_or(t.quality);
        let src = if r.source.is_empty() { String::new() } else { sources(&r.source) };
        let _ = writeln!(
            out,
            "| {} | {} | {q} | {src} | {} |",
            cell(&r.ops.join(", ")),
            cell(&conditions(r)),
            cell(r.note.as_deref().unwrap_or(""))
        );
    }
    for n in &t.notes {
        let _ = writeln!(out, "\nNote: {n}");
    }
    out
}

/// The list of every source.
pub fn sources_list(sources: &crate::facts::Sources) -> String {
    let mut out = String::new();
    for (id, s) in sources {
        let url = s.url.as_deref().map_or(String::new(), |u| format!(" <{u}>"));
        let _ = writeln!(out, "- **[{id}]** {}{url}", s.cite);
    }
    out
}
