//! Dependencies between de2en's modules point one way, down the flow.
//!
//! `cli → walk/pipeline → document (segment, quotes) → engine`, with the shared vocabulary
//! (`span`) in a leaf. The segmenter, the quote rules, the engine and the output guard must stay
//! usable and testable without the document model, the directory walk or the command line above
//! them, and no two modules may import each other. The compiler allows all of that, so this test reads `src/` and
//! checks it: every `crate::…` path (in `use` lines and inline, grouped `crate::{a, b}` included)
//! and every `super::` chain that climbs to the crate root counts as an import of the top-level
//! module it names. Comments and string literals are skipped, so a doc link is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules below the document model, and what they must never import.
const BELOW_THE_DOCUMENT: &[&str] = &["engine", "guard", "segment", "quotes", "span", "glossary"];
/// `lib` stands for the crate root's re-exports (`crate::Format`): a lower stage names the module
/// it imports from, so that nothing from above slips in through the root.
const ABOVE: &[&str] = &["document", "align", "cli", "walk", "pipeline", "lib"];

/// Leaves: the words every stage shares (byte spans, segment flags), and the file writing every
/// stage shares, import nothing from the crate.
const LEAVES: &[&str] = &["span", "flags", "durable"];

#[test]
fn stages_below_the_document_model_import_nothing_above_them() {
    let graph = crate_graph();
    let mut wrong = Vec::new();
    for module in BELOW_THE_DOCUMENT {
        for (target, places) in graph.get(*module).into_iter().flatten() {
            if ABOVE.contains(&target.as_str()) {
                wrong.push(format!(
                    "{module} imports {target} at {}",
                    places.join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n\n{}",
        wrong.join("\n"),
        listing(&graph)
    );
}

#[test]
fn leaves_import_nothing_from_the_crate() {
    let graph = crate_graph();
    for leaf in LEAVES {
        let imports = graph.get(*leaf).cloned().unwrap_or_default();
        assert!(
            imports.is_empty(),
            "{leaf} must be a leaf but imports {imports:?}"
        );
    }
}

#[test]
fn only_the_binary_side_uses_the_command_line_module() {
    let graph = crate_graph();
    let users: Vec<&String> = graph
        .iter()
        .filter(|(module, imports)| module.as_str() != "cli" && imports.contains_key("cli"))
        .map(|(module, _)| module)
        .collect();
    assert!(
        users.is_empty(),
        "these library modules import cli: {users:?}"
    );
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let graph = crate_graph();
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "import circle: {}\n\n{}",
            circle.join(" → "),
            listing(&graph)
        );
    }
}

/// The checker itself catches what it is there to catch.
#[test]
fn the_scanner_sees_every_form_of_import() {
    let source = r#"
        //! Talks about `crate::cli` in a doc comment: not an import.
        use crate::span::ByteSpan;
        use crate::{quotes::{self, QuoteRole}, batch};
        use super::super::document::Block;
        fn f() {
            let url = "https://example.org/crate::walk"; // crate::pipeline in a comment
            let c = '"';
            let _ = crate::engine::identity::IdentityEngine;
            /* crate::models in a block comment */
        }
        fn g<'a>(x: &'a str) -> &'a str { x }
        use crate::input as reader;
    "#;
    let found = imports_in(source, &["engine".into(), "marian".into()]);
    let names: BTreeSet<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["batch", "document", "engine", "input", "quotes", "span"])
    );
    // Climbing to a sibling inside the same top-level module is not a crate-level import.
    assert!(
        imports_in(
            "use super::decode::StepModel;",
            &["engine".into(), "marian".into()]
        )
        .is_empty()
    );
}

/// Top-level module → (imported top-level module → places), from every file under `src/`.
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn crate_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|file| module_path(file.strip_prefix(&src).ok()?).first().cloned())
        .collect();
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let path = module_path(rel);
        // The crate root declares every module and re-exports a few names; the binary uses the
        // crate from outside. Neither is a stage.
        let Some(top) = path.first().cloned() else {
            continue;
        };
        let source = std::fs::read_to_string(&file).expect("readable source");
        let imports = graph.entry(top.clone()).or_default();
        for name in imports_in(&source, &path) {
            // `use super::*` in an inline test module reads like a glob of the root: not an import.
            if name.is_empty() || name == "*" {
                continue;
            }
            let target = if modules.contains(&name) {
                name
            } else {
                "lib".to_owned()
            };
            if target != top {
                imports
                    .entry(target)
                    .or_default()
                    .push(rel.display().to_string());
            }
        }
    }
    for stage in ["engine", "segment", "quotes", "document", "span"] {
        assert!(graph.contains_key(stage), "src/ has no module {stage}");
    }
    for places in graph.values_mut().flat_map(|m| m.values_mut()) {
        places.sort();
        places.dedup();
    }
    graph
}

/// The document model (`src/document/model/`) knows no format: it imports nothing of the
/// formats or of the file layer above it, and its code (comments and strings aside) names no
/// format — what rebuilding needs of one it asks the block's `Syntax`.
#[test]
fn the_document_model_knows_no_format() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/document/model");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() >= 5, "the model's files: {files:?}");
    let forbidden = [
        "formats",
        "html",
        "markdown",
        "xml",
        "docx",
        "epub",
        "odf",
        "super::super",
        "document::",
    ];
    let mut wrong = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable");
        let code = strip_comments_and_strings(&source).to_lowercase();
        for (n, line) in code.lines().enumerate() {
            for word in forbidden.iter().filter(|w| line.contains(*w)) {
                wrong.push(format!("{}:{}: `{word}`", file.display(), n + 1));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the model names a format:\n{}",
        wrong.join("\n")
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `engine/marian/mod.rs` → `[engine, marian]`; `lib.rs` and `main.rs` → `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// The top-level modules that `source`, the file of module `path`, refers to.
fn imports_in(source: &str, path: &[String]) -> Vec<String> {
    let code = strip_comments_and_strings(source);
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]);
        if at_word_start && code[i..].starts_with("crate::") {
            i += "crate::".len();
            found.extend(names_after(&code, &mut i));
        } else if at_word_start && code[i..].starts_with("super::") {
            let mut depth = 0;
            while code[i..].starts_with("super::") {
                depth += 1;
                i += "super::".len();
            }
            // Only a chain that climbs to the crate root leaves the top-level module.
            if depth >= path.len() {
                found.extend(names_after(&code, &mut i));
            }
        } else {
            i += 1;
        }
    }
    found.retain(|name| name != "self");
    found.sort();
    found.dedup();
    found
}

/// The first path segment after `crate::`: one name, or each first name of a `{…}` group.
fn names_after(code: &str, i: &mut usize) -> Vec<String> {
    let bytes = code.as_bytes();
    if bytes.get(*i) != Some(&b'{') {
        return vec![ident_at(code, i)];
    }
    let mut names = Vec::new();
    let mut depth = 0;
    let mut expect_name = true;
    while *i < bytes.len() {
        match bytes[*i] {
            b'{' => {
                depth += 1;
                *i += 1;
            }
            b'}' => {
                depth -= 1;
                *i += 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => {
                expect_name = true;
                *i += 1;
            }
            c if depth == 1 && expect_name && is_ident(c) => {
                names.push(ident_at(code, i));
                expect_name = false;
            }
            _ => *i += 1,
        }
    }
    names
}

fn ident_at(code: &str, i: &mut usize) -> String {
    let start = *i;
    while *i < code.len() && is_ident(code.as_bytes()[*i]) {
        *i += 1;
    }
    code[start..*i].to_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The code with comments, string and char literals blanked out (lengths kept).
fn strip_comments_and_strings(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                blank(&mut out, chars[i]);
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && (i == 0 || !is_ident_char(chars[i - 1]))
        {
            // Raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&ch) => {
                        blank(&mut out, ch);
                        j += 1;
                    }
                }
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{201e}') or a lifetime ('a): only the former closes.
            if next == Some('\\') {
                // Past the escaped character, so that '\'' ends at its own quote.
                let mut j = i + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A circle in the graph, as the modules along it, if there is one.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|m| m == module) {
            let mut circle = stack[at..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        stack.push(module.to_owned());
        for target in graph.get(module).into_iter().flat_map(|m| m.keys()) {
            if let Some(circle) = visit(target, graph, done, stack) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut done, &mut Vec::new()))
}

/// "module → imports (files)" lines, for failure messages.
fn listing(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(module, imports)| {
            let targets: Vec<String> = imports
                .iter()
                .map(|(target, places)| format!("{target} ({})", places.join(", ")))
                .collect();
            format!("{module} → {}", targets.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
