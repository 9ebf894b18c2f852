//! The resume manifest across releases: outputs recorded by the release before the explicit
//! settings fingerprint (issue 21) are still up to date, and outputs recorded now are too.

mod cli_common;

use cli_common::*;

const PREVIOUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/manifests/previous-release"
);

/// The input, then the output and the manifest the previous release wrote for it (its identity
/// engine with default flags), copied in that order so the output is the newer file.
fn previous_release_tree(root: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (input, output) = (root.join("in"), root.join("out"));
    let read = |name: &str| std::fs::read(format!("{PREVIOUS}/{name}")).expect("fixture");
    write_tree(&input, &[("bericht.de.txt", &read("bericht.de.txt"))]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_tree(
        &output,
        &[
            ("bericht.en.txt", &read("bericht.en.txt")),
            (".de2en-manifest.json", &read("manifest.json")),
        ],
    );
    (input, output)
}

/// The summary line (stderr) of an identity-engine run over `input` into `output`.
fn summary(
    home: &std::path::Path,
    input: &std::path::Path,
    output: &std::path::Path,
    extra: &[&str],
) -> String {
    let run = de2en(home)
        .args(["translate", "--engine", "identity"])
        .args(extra)
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .expect("run");
    assert!(run.status.success(), "{run:?}");
    String::from_utf8_lossy(&run.stderr).into_owned()
}

#[test]
fn outputs_recorded_by_the_previous_release_stay_up_to_date() {
    let home = tempfile::tempdir().expect("home");
    let root = tempfile::tempdir().expect("root");
    let (input, output) = previous_release_tree(root.path());
    let first = summary(home.path(), &input, &output, &[]);
    assert!(
        first.contains("0 translated, 1 skipped (up to date)"),
        "{first}"
    );
    // Other settings than the previous release recorded: translated again, then recorded in
    // this release's form, which the next run accepts.
    let stderr = summary(home.path(), &input, &output, &["--quotes", "keep"]);
    assert!(stderr.contains("1 translated, 0 skipped"), "{stderr}");
    let manifest = std::fs::read_to_string(output.join(".de2en-manifest.json")).expect("manifest");
    assert!(manifest.contains(r#"\"version\":2"#), "{manifest}");
    let stderr = summary(home.path(), &input, &output, &["--quotes", "keep"]);
    assert!(stderr.contains("0 translated, 1 skipped"), "{stderr}");
}
