//! docs/targets.md documents every fact, rule and source the data files hold: its generated
//! blocks must equal what `hetc_target::docs` renders from the embedded files. After changing
//! a data file, regenerate them with `HETC_BLESS=1 cargo test -p hetc-target --test docs` and
//! review the diff.

use hetc_target::catalog::{TARGET_FILES, load_tables};
use hetc_target::desc::TargetDesc;
use hetc_target::docs::{sources_list, table_rules, target_facts};
use std::path::PathBuf;

fn doc_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/targets.md"))
}

/// Replaces the text between `<!-- begin KEY -->` and `<!-- end KEY -->`; `None` if absent.
fn replace_block(doc: &str, key: &str, body: &str) -> Option<String> {
    let begin = format!("<!-- begin {key} -->\n");
    let end = format!("<!-- end {key} -->");
    let i = doc.find(&begin)? + begin.len();
    let j = i + doc[i..].find(&end)?;
    Some(format!("{}{body}{}", &doc[..i], &doc[j..]))
}

#[test]
fn generated_blocks_match_the_data() {
    let (sources, tables) = load_tables().unwrap();
    let mut blocks: Vec<(String, String)> = vec![("sources".into(), sources_list(&sources))];
    for (_, text) in TARGET_FILES {
        let t = TargetDesc::parse(text).unwrap();
        blocks.push((format!("facts {}", t.name), target_facts(&t)));
    }
    for (name, t) in &tables {
        blocks.push((format!("rules {name}"), table_rules(t)));
    }
    let original = std::fs::read_to_string(doc_path()).unwrap();
    let mut doc = original.clone();
    for (key, body) in &blocks {
        doc = replace_block(&doc, key, body).unwrap_or_else(|| panic!("docs/targets.md lacks the block `{key}`"));
    }
    if doc != original {
        if std::env::var_os("HETC_BLESS").is_some() {
            std::fs::write(doc_path(), &doc).unwrap();
        } else {
            panic!(
                "docs/targets.md is out of date with the data files; regenerate with HETC_BLESS=1 and review the diff"
            );
        }
    }
}
