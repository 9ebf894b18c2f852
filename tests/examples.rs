//! The README shows the cluster examples in full; the files under `examples/` are what users copy.
//! Every `<!-- include: PATH … -->` marker in the README must be followed by a fenced block that
//! equals PATH byte for byte, so the two cannot drift apart.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// (path, the fenced block after its marker) for every include marker in `readme`.
fn includes(readme: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = readme;
    while let Some(at) = rest.find("<!-- include: ") {
        rest = &rest[at + "<!-- include: ".len()..];
        let path = rest
            .split_whitespace()
            .next()
            .expect("a path after the marker")
            .to_owned();
        // The block: from the line after the opening fence to the closing fence.
        let fence = rest.find("\n```").expect("a fenced block after the marker");
        let body_start = fence + 1 + rest[fence + 1..].find('\n').expect("fence line") + 1;
        let body_len = rest[body_start..].find("\n```").expect("a closing fence") + 1;
        found.push((path, rest[body_start..body_start + body_len].to_owned()));
        rest = &rest[body_start + body_len..];
    }
    found
}

#[test]
fn readme_copies_of_the_examples_equal_the_files() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let found = includes(&readme);
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "examples/kubernetes/job.yaml",
            "examples/slurm/de2en.sbatch"
        ],
        "the README should include both cluster examples"
    );
    for (path, copy) in &found {
        let file = std::fs::read_to_string(root().join(path)).unwrap();
        assert_eq!(
            copy, &file,
            "the README's copy of {path} differs from the file; paste the file into the README"
        );
    }
}

#[test]
fn the_marker_parser_sees_a_changed_copy() {
    let readme = "x\n<!-- include: a.sh (y) -->\n```sh\necho 1\n```\n";
    assert_eq!(includes(readme), [("a.sh".into(), "echo 1\n".into())]);
    let changed = readme.replace("echo 1", "echo 2");
    assert_ne!(includes(&changed)[0].1, "echo 1\n");
}

#[test]
fn the_sbatch_example_is_valid_bash() {
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(root().join("examples/slurm/de2en.sbatch"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "bash -n examples/slurm/de2en.sbatch failed"
    );
}
