//! Office documents and e-books through the binary: a package in, the same kind of package out.
//!
//! The fixtures in tests/data/office are made by scripts/make_office_fixtures.py: one German
//! article as .docx, .odt and .epub with headings, formatted words inside sentences, a link, a
//! quotation, a list, a table, header and footer, notes, a tracked change and an image;
//! sentences.txt lists the German sentences that must be translated.

mod cli_common;

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use cli_common::de2en;
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// The packages under test (the office formats join this list as they land).
const PACKAGES: &[&str] = &["bericht.docx", "bericht.odt", "bericht.epub"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/office")
        .join(name)
}

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/tiny-swish")
}

/// The German sentences of the fixtures that must not survive translation.
fn german_sentences() -> Vec<String> {
    std::fs::read_to_string(fixture("sentences.txt"))
        .expect("sentences.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One entry of a zip package: name, compression method, unpacked bytes.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    name: String,
    stored: bool,
    bytes: Vec<u8>,
}

fn entries(package: &[u8]) -> Vec<Entry> {
    let mut archive = zip::ZipArchive::new(Cursor::new(package)).expect("a zip package");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("an entry");
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).expect("unpacks");
            Entry {
                name: file.name().expect("a UTF-8 name").into_owned(),
                stored: file.compression() == zip::CompressionMethod::Stored,
                bytes,
            }
        })
        .collect()
}

/// Translates `input` to `output` with the binary; returns its standard error.
fn translate(input: &Path, output: &Path, engine_args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("temp");
    let assert = de2en(home.path())
        .arg("translate")
        .args(engine_args)
        .arg(input)
        .arg("-o")
        .arg(output)
        .arg("--no-memory")
        .assert()
        .success();
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn with_model() -> Vec<String> {
    vec!["--model".to_owned(), model().display().to_string()]
}

/// Every element of an XML part in document order, with the attributes that carry structure
/// (links, ids, styles), but not those a translation may set (`xml:space`, language tags).
fn structure(xml: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            // Runs of spaces are written as elements in OpenDocument: text, not structure.
            Event::Empty(e) if e.name().as_ref() == "text:s" => {}
            Event::Start(e) | Event::Empty(e) => {
                let mut item = e.name().as_ref().to_owned();
                for attribute in e.attributes().flatten() {
                    let key = attribute.key.as_ref().to_owned();
                    // Translated attributes (a picture's description) and those a translation
                    // sets (language tags, space handling) are not structure.
                    let volatile = key == "xml:space"
                        || ["alt", "title", "aria-label", "descr"].contains(&key.as_str())
                        || key.ends_with("lang")
                        || key.ends_with(":val") && item.to_lowercase().ends_with("lang")
                        || ["fo:language", "fo:country", "style:rfc-language-tag"]
                            .iter()
                            .any(|k| key.ends_with(k.trim_start_matches("fo:")));
                    if !volatile {
                        item.push_str(&format!(" {key}={}", attribute.value));
                    }
                }
                out.push(item);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// What a reader sees of an XML part: its text, tags dropped, references decoded, whitespace
/// collapsed.
fn visible_text(xml: &str) -> String {
    let mut reader = Reader::from_str(xml);
    let mut out = String::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Text(t) => out.push_str(&t.xml_content(XmlVersion::Implicit1_0)),
            Event::GeneralRef(r) => {
                let name = r.xml_content(XmlVersion::Implicit1_0).into_owned();
                out.push_str(match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Event::Start(_) | Event::End(_) | Event::Empty(_) => out.push(' '),
            Event::Eof => break,
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a reader sees of a fragment of markup (a segment's target, whose tags need not pair up).
fn reader_text(fragment: &str) -> String {
    // Deleted text of a tracked change, field codes and comments are not on the page.
    let mut fragment = fragment.to_owned();
    for element in ["w:delText", "w:instrText", "office:annotation"] {
        let start_of = |f: &str| {
            [format!("<{element}>"), format!("<{element} ")]
                .iter()
                .filter_map(|open| f.find(open.as_str()))
                .min()
        };
        while let Some(start) = start_of(&fragment) {
            let close = format!("</{element}>");
            let Some(end) = fragment[start..].find(&close) else {
                break;
            };
            fragment.replace_range(start..start + end + close.len(), "");
        }
    }
    let mut text = String::new();
    let mut rest = fragment.as_str();
    while let Some(at) = rest.find('<') {
        text.push_str(&rest[..at]);
        let end = rest[at..].find('>').map_or(rest.len(), |e| at + e + 1);
        let tag = &rest[at..end];
        // Tabs, line breaks and spaces written as elements are white space on the page.
        if [
            "<w:tab",
            "<w:br",
            "<text:tab",
            "<text:line-break",
            "<text:s",
        ]
        .iter()
        .any(|t| tag.starts_with(t) && !tag[t.len()..].starts_with(|c: char| c.is_alphanumeric()))
        {
            text.push(' ');
        }
        rest = &rest[end..];
    }
    text.push_str(rest);
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_xml(name: &str) -> bool {
    [".xml", ".xhtml", ".opf", ".ncx", ".rels"]
        .iter()
        .any(|e| name.ends_with(e))
}

#[test]
fn the_identity_engine_gives_every_package_back_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temp");
    for name in PACKAGES {
        let output = dir.path().join(format!("out-{name}"));
        translate(
            &fixture(name),
            &output,
            &["--engine", "identity", "--quotes", "keep"],
        );
        assert!(
            std::fs::read(&output).expect("output") == std::fs::read(fixture(name)).expect("in"),
            "{name}: the identity engine changed the package"
        );
    }
}

/// Translated with the fixture model: same entries in the same order and the same way stored,
/// every entry that holds no text byte for byte as it was, every XML part well-formed with the
/// same elements, links and styles in the same order, and none of the German sentences left.
#[test]
fn translated_packages_keep_everything_but_the_text() {
    let dir = tempfile::tempdir().expect("temp");
    let german = german_sentences();
    for name in PACKAGES {
        let output = dir.path().join(format!("out-{name}"));
        let args = with_model();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        translate(&fixture(name), &output, &args);
        let before = entries(&std::fs::read(fixture(name)).expect("in"));
        let after = entries(&std::fs::read(&output).expect("out"));
        let names = |e: &[Entry]| e.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&after), names(&before), "{name}: entries");
        let mut changed = Vec::new();
        let mut text = String::new();
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.stored, b.stored, "{name}: {} stored/deflated", a.name);
            if a.bytes == b.bytes {
                continue;
            }
            changed.push(a.name.clone());
            assert!(is_xml(&a.name), "{name}: {} changed", a.name);
            let (b_xml, a_xml) = (
                String::from_utf8(b.bytes.clone()).expect("UTF-8"),
                String::from_utf8(a.bytes.clone()).expect("UTF-8"),
            );
            let (before_elements, after_elements) = (structure(&b_xml), structure(&a_xml));
            let first_difference = before_elements
                .iter()
                .zip(&after_elements)
                .position(|(b, a)| b != a);
            assert!(
                before_elements.len() == after_elements.len() && first_difference.is_none(),
                "{name}: {} lost, gained or changed an element: {} → {} elements, first \
                 difference {:?}",
                a.name,
                before_elements.len(),
                after_elements.len(),
                first_difference.map(|i| (&before_elements[i], &after_elements[i])),
            );
            text.push_str(&visible_text(&a_xml));
            text.push(' ');
        }
        assert!(!changed.is_empty(), "{name}: nothing was translated");
        let left: Vec<&String> = german
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .collect();
        assert!(left.is_empty(), "{name}: German sentences left: {left:?}");
        if name.ends_with(".epub") {
            assert_eq!(after[0].name, "mimetype");
            assert!(
                after[0].stored,
                "the EPUB's mimetype entry must stay stored"
            );
        }
    }
}

#[test]
fn epub_title_tables_of_contents_and_language_are_english() {
    let dir = tempfile::tempdir().expect("temp");
    let output = dir.path().join("bericht.en.epub");
    let args = with_model();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    translate(&fixture("bericht.epub"), &output, &args);
    let before: BTreeMap<String, Vec<u8>> =
        entries(&std::fs::read(fixture("bericht.epub")).unwrap())
            .into_iter()
            .map(|e| (e.name, e.bytes))
            .collect();
    let after: BTreeMap<String, Vec<u8>> = entries(&std::fs::read(&output).unwrap())
        .into_iter()
        .map(|e| (e.name, e.bytes))
        .collect();
    let text = |m: &BTreeMap<String, Vec<u8>>, k: &str| String::from_utf8(m[k].clone()).unwrap();
    let opf = text(&after, "OEBPS/content.opf");
    assert!(opf.contains("<dc:language>en</dc:language>"), "{opf}");
    let title = |opf: &str| {
        let start = opf.find("<dc:title").unwrap();
        let start = start + opf[start..].find('>').unwrap() + 1;
        opf[start..start + opf[start..].find("</dc:title>").unwrap()].to_owned()
    };
    assert_ne!(
        title(&opf),
        title(&text(&before, "OEBPS/content.opf")),
        "title"
    );
    for part in ["OEBPS/nav.xhtml", "OEBPS/toc.ncx"] {
        assert_ne!(
            visible_text(&text(&after, part)),
            visible_text(&text(&before, part)),
            "{part} was not translated"
        );
        assert!(
            !text(&after, part).contains("lang=\"de"),
            "{part} says German"
        );
    }
}

#[test]
fn a_single_package_needs_an_output_file() {
    let home = tempfile::tempdir().expect("temp");
    for name in PACKAGES {
        de2en(home.path())
            .args(["translate", "--engine", "identity"])
            .arg(fixture(name))
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains("-o"))
            .stderr(predicates::str::contains(*name));
    }
}

/// A broken package is one failure naming the file and what is wrong; nothing is written for
/// it, and the good files of the same folder are translated.
#[test]
fn a_damaged_package_fails_alone() {
    let root = tempfile::tempdir().expect("temp");
    let input = root.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let good = std::fs::read(fixture("bericht.epub")).unwrap();
    std::fs::write(input.join("bericht.de.epub"), &good).unwrap();
    std::fs::write(input.join("kaputt.epub"), b"PK\x03\x04 not really a zip").unwrap();
    // A real zip without the container that names the package document.
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("mimetype", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut writer, b"application/epub+zip").unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    std::fs::write(input.join("leer.epub"), &bytes).unwrap();
    std::fs::write(input.join("leer.docx"), &bytes).unwrap();
    std::fs::write(input.join("leer.odt"), &bytes).unwrap();
    // A chapter that is not well-formed XML.
    let mut broken = Vec::new();
    {
        let mut archive = zip::ZipArchive::new(Cursor::new(&good[..])).unwrap();
        let mut writer = zip::ZipWriter::new(Cursor::new(&mut broken));
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            let name = file.name().expect("a UTF-8 name").into_owned();
            if name.ends_with("kapitel1.xhtml") {
                content = b"<html><body><p>Kaputt</body>".to_vec();
            }
            writer
                .start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut writer, &content).unwrap();
        }
        writer.finish().unwrap();
    }
    std::fs::write(input.join("xml.epub"), broken).unwrap();
    let out = root.path().join("out");
    let home = tempfile::tempdir().expect("temp");
    let assert = de2en(home.path())
        .args([
            "translate",
            "--engine",
            "identity",
            "--quotes",
            "keep",
            "--no-memory",
        ])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for (file, what) in [
        ("kaputt.epub", "not a zip"),
        ("leer.epub", "META-INF/container.xml"),
        ("xml.epub", "kapitel1.xhtml"),
        ("leer.docx", "_rels/.rels"),
        ("leer.odt", "content.xml"),
    ] {
        assert!(
            stderr.lines().any(|l| l.contains(file) && l.contains(what)),
            "no message naming {file} and {what}: {stderr}"
        );
        assert!(!out.join(file).exists(), "{file} was written");
    }
    assert!(stderr.contains("5 failed"), "{stderr}");
    assert!(
        std::fs::read(out.join("bericht.en.epub")).expect("the good book was translated") == good
    );
}

/// Folder runs: names mapped, `--format json` names each segment's part, `--format review`
/// writes one page per book, and a second run skips what is up to date.
#[test]
fn packages_in_folder_runs_json_and_review() {
    let root = tempfile::tempdir().expect("temp");
    let input = root.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(fixture("bericht.epub"), input.join("bericht.de.epub")).unwrap();
    let home = tempfile::tempdir().expect("temp");
    let run = |format: &str, out: &Path| {
        de2en(home.path())
            .args([
                "translate",
                "--engine",
                "identity",
                "--no-memory",
                "--format",
                format,
            ])
            .arg(&input)
            .arg("-o")
            .arg(out)
            .assert()
            .success()
    };
    let json_out = root.path().join("json");
    run("json", &json_out);
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(json_out.join("bericht.en.epub.json")).expect("the JSON report"),
    )
    .expect("JSON");
    let parts: Vec<&str> = json["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["name"].as_str().expect("a name"))
        .collect();
    assert!(parts.contains(&"OEBPS/kapitel1.xhtml"), "{parts:?}");
    let segments = json["segments"].as_array().expect("segments");
    assert!(segments.len() > 20);
    for segment in segments {
        let part = segment["part"]
            .as_str()
            .expect("each segment names its part");
        let target = json["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == part)
            .expect("a part of the report")["target"]
            .as_str()
            .unwrap();
        let span = &segment["target_span"];
        let (s, e) = (
            span[0].as_u64().unwrap() as usize,
            span[1].as_u64().unwrap() as usize,
        );
        assert_eq!(&target[s..e], segment["target"].as_str().unwrap());
    }
    let review_out = root.path().join("review");
    run("review", &review_out);
    let page = std::fs::read_to_string(review_out.join("bericht.en.epub.review.html"))
        .expect("a review page for the book");
    assert!(page.contains("Windpark") || page.contains("windpark") || page.len() > 10_000);
    let text_out = root.path().join("text");
    run("text", &text_out);
    assert!(text_out.join("bericht.en.epub").is_file());
    let second = run("text", &text_out);
    let stderr = String::from_utf8_lossy(&second.get_output().stderr).into_owned();
    assert!(stderr.contains("1 skipped"), "{stderr}");
}

/// Opened in a real office suite: LibreOffice (headless, installed by scripts/office-check.sh
/// when missing) converts each translated document to PDF; its text holds the translated
/// sentences and none of the German ones, and page 1 is kept as a picture
/// (target/browser-artifacts/office/). Skipped with a reason where LibreOffice cannot be had,
/// a failure then with DE2EN_REQUIRE_OFFICE=1.
#[test]
fn translated_office_documents_open_in_libreoffice() {
    let documents: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|n| n.ends_with(".docx") || n.ends_with(".odt"))
        .collect();
    let dir = tempfile::tempdir().expect("temp");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let artifacts = root.join("target/browser-artifacts/office");
    let mut outputs = Vec::new();
    for name in &documents {
        let output = dir.path().join(name.replace("bericht.", "bericht.en."));
        let args = with_model();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        translate(&fixture(name), &output, &args);
        // The translated sentences, as a reader sees them, from the JSON report.
        let home = tempfile::tempdir().expect("temp");
        let report = de2en(home.path())
            .arg("translate")
            .args(&args)
            .args(["--format", "json", "--no-memory"])
            .arg(fixture(name))
            .assert()
            .success();
        let json: serde_json::Value =
            serde_json::from_slice(&report.get_output().stdout).expect("JSON");
        let english: Vec<String> = json["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .filter(|s| s["part"].as_str().is_some_and(|p| !p.contains("core")))
            // Notes' marks and fields' results stand inside such a sentence on the page.
            .filter(|s| {
                let target = s["target"].as_str().unwrap_or("");
                ![
                    "Reference",
                    "text:note",
                    "fldChar",
                    "fldSimple",
                    "instrText",
                    "text:page",
                ]
                .iter()
                .any(|m| target.contains(m))
            })
            .map(|s| reader_text(s["target"].as_str().unwrap()))
            .filter(|t| t.len() >= 12)
            .collect();
        let list = dir.path().join(format!("{name}.english.txt"));
        std::fs::write(&list, english.join("\n")).expect("write");
        outputs.push((output, list));
    }
    if outputs.is_empty() {
        return;
    }
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/office-check.sh"))
        .arg("--out")
        .arg(&artifacts)
        .args(outputs.iter().map(|(o, _)| o))
        .status()
        .expect("bash runs");
    if status.code() == Some(77) {
        eprintln!(
            "SKIPPED translated_office_documents_open_in_libreoffice: LibreOffice cannot be \
             installed here (see the message above; DE2EN_REQUIRE_OFFICE=1 makes this a failure)"
        );
        return;
    }
    assert!(status.success(), "LibreOffice could not convert: {status}");
    for (output, english) in &outputs {
        let file = output.file_name().unwrap().to_string_lossy().into_owned();
        let text = artifacts.join(format!("{file}.raw.txt"));
        assert!(artifacts.join(format!("{file}.page1.png")).is_file());
        for (sentences, expect) in [
            (fixture("sentences.txt"), "absent"),
            (english.clone(), "present"),
        ] {
            let check = std::process::Command::new("python3")
                .arg(root.join("scripts/office_text_check.py"))
                .arg(&text)
                .arg(&sentences)
                .args(["--expect", expect])
                .output()
                .expect("python3 runs");
            assert!(
                check.status.success(),
                "{file}: sentences not {expect} in LibreOffice's PDF:\n{}",
                String::from_utf8_lossy(&check.stdout)
            );
        }
    }
}
