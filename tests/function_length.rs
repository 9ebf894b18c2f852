//! No function in `src/` is longer than 150 lines.
//!
//! A function that long does several things in a row (`align::render` once did nine phases in
//! 412 lines); the next reader has to find the seams the author left in comments. The compiler
//! does not care, so this test reads `src/` and counts each function from its `fn` line to the
//! closing brace at the same indent (rustfmt's layout), tests modules aside.

use std::path::{Path, PathBuf};

const LIMIT: usize = 150;

#[test]
fn no_function_in_src_is_over_150_lines() {
    let mut long = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in rust_files(&root.join("src")) {
        let text = std::fs::read_to_string(&path).expect("src/ is readable");
        for (line, name, length) in function_lengths(&text) {
            if length > LIMIT {
                long.push(format!(
                    "{}:{line} fn {name}: {length} lines",
                    path.strip_prefix(root).unwrap_or(&path).display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {LIMIT} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}

/// The counter itself: a one-line function, a declaration without a body, a nested function, a
/// multi-line signature and a test module.
#[test]
fn the_counter_counts_from_fn_to_its_closing_brace() {
    let text = "\
trait T {
    fn declared(&self);
    fn one_liner(&self) -> u8 { 1 }
}

pub(crate) fn outer(
    a: u8,
) -> u8 {
    fn inner() -> u8 {
        2
    }
    a + inner()
}

#[cfg(test)]
mod tests {
    fn not_counted() {}
}
";
    assert_eq!(
        function_lengths(text),
        vec![
            (3, "one_liner".to_owned(), 1),
            (6, "outer".to_owned(), 8),
            (9, "inner".to_owned(), 3),
        ]
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("src/ is readable").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// (1-based line of the `fn`, name, length in lines) of every function with a body, up to the
/// file's test module.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| *l == "#[cfg(test)]")
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let Some(name) = fn_name(line) else {
            continue;
        };
        let indent = &line[..line.len() - line.trim_start().len()];
        if line.contains('{') && line.trim_end().ends_with('}') {
            out.push((i + 1, name, 1));
            continue;
        }
        // The signature ends at the body's `{` or at the `;` of a declaration.
        let signature_end = lines[i..end]
            .iter()
            .position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'));
        let Some(offset) = signature_end else {
            continue;
        };
        if lines[i + offset].trim_end().ends_with(';') {
            continue;
        }
        let closing = format!("{indent}}}");
        if let Some(close) = lines[i..end].iter().position(|l| *l == closing) {
            out.push((i + 1, name, close + 1));
        }
    }
    out
}

/// The function a line starts, if it does: `fn`, after visibility and qualifiers.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    if rest.starts_with("//") {
        return None;
    }
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}
