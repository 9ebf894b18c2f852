//! The bilingual review page (`--format review`): one self-contained HTML file per article.
//!
//! A reader checks a translation sentence by sentence: German and English side by side, one row
//! per segment in document order, blocks (headings, paragraphs, list items) visible as groups;
//! hovering or clicking a word lights the words the engine aligned it with, each row shows its
//! flags and score, and the page can show only flagged rows or the lowest scores first. Rows are
//! rendered here, so the page reads without JavaScript; the script (`page.js`) only adds the
//! interaction. Everything is inline — the page works offline from a `file://` URL.
//!
//! In folder mode `index.html` at the output root lists every review page found there with its
//! counts. Each page carries its counts in a `<meta name="de2en-review">` near its top, so the
//! index is made from the pages on disk: pages skipped as up to date, written by an earlier run or
//! by other shards are listed like the ones just written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::document::{BlockKind, Format, SegmentReport, TranslatedDocument};
use crate::flags::TranslationFlag;
use crate::output::{self, OutputError};

/// What a review page's name ends with: `artikel.en.md` → `artikel.en.md.review.html`.
pub const PAGE_SUFFIX: &str = ".review.html";
/// The folder index's name, at the output root.
pub const INDEX_NAME: &str = "index.html";

const PAGE_TEMPLATE: &str = include_str!("page.html");
const PAGE_CSS: &str = include_str!("page.css");
const PAGE_JS: &str = include_str!("page.js");
const INDEX_TEMPLATE: &str = include_str!("index.html");
/// The meta element carrying a page's counts for the index.
const SUMMARY_META: &str = "<meta name=\"de2en-review\" content=\"";
/// How much of a page the index reads to find its counts (they are in the head).
const SUMMARY_WITHIN: u64 = 64 * 1024;

/// The counts of one page, as its header shows them and the folder index lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageSummary {
    /// The source file as the run named it (relative path in folder mode).
    pub source: String,
    pub segments: usize,
    pub blocks: usize,
    /// Segments with at least one flag.
    pub flagged: usize,
    /// How many segments carry each flag, by name: a page written by another version may
    /// name a flag this one does not know, and the index still lists it.
    pub flags: BTreeMap<String, usize>,
    /// Segments with a word alignment.
    pub aligned: usize,
    /// Mean and lowest segment score, over the segments the model generated tokens for.
    pub mean_score: Option<f32>,
    pub min_score: Option<f32>,
}

impl PageSummary {
    pub fn of(source_name: &str, translated: &TranslatedDocument) -> Self {
        let segments = &translated.segments;
        let mut flags = BTreeMap::new();
        for segment in segments {
            for flag in &segment.flags {
                *flags.entry(flag.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        let scores: Vec<f32> = segments
            .iter()
            .filter(|s| s.tokens > 0 && s.score.is_finite())
            .map(|s| s.score)
            .collect();
        let mut blocks: Vec<usize> = segments.iter().map(|s| s.block).collect();
        blocks.dedup();
        PageSummary {
            source: source_name.to_owned(),
            segments: segments.len(),
            blocks: blocks.len(),
            flagged: segments.iter().filter(|s| !s.flags.is_empty()).count(),
            flags,
            aligned: segments.iter().filter(|s| s.alignment.is_some()).count(),
            mean_score: (!scores.is_empty())
                .then(|| scores.iter().sum::<f32>() / scores.len() as f32),
            min_score: scores.iter().copied().reduce(f32::min),
        }
    }
}

/// Errors of the folder index (a page itself cannot fail).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("could not list the review pages in {path}")]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write the review index")]
    Write(#[from] OutputError),
}

/// The review page of one translated article. `source` is the text the document was prepared
/// from (its spans point into it), `format` how it was read, `source_name` how to call it.
pub fn page(
    source_name: &str,
    source: &str,
    format: Format,
    translated: &TranslatedDocument,
) -> String {
    let summary = PageSummary::of(source_name, translated);
    let mut rows = String::new();
    let mut previous_block = None;
    for (index, segment) in translated.segments.iter().enumerate() {
        let starts_block = previous_block != Some(segment.block);
        previous_block = Some(segment.block);
        row(
            &mut rows,
            index,
            segment,
            // As the format parser found the block (a report without one: a paragraph).
            translated
                .blocks
                .get(segment.block)
                .copied()
                .unwrap_or_default(),
            starts_block,
            &Texts {
                source,
                target: &translated.target,
                html: format == Format::Html,
            },
        );
    }
    let summary_json = serde_json::to_string(&summary).unwrap_or_else(|_| "{}".to_owned());
    fill(
        PAGE_TEMPLATE,
        &[
            ("version", escape(env!("CARGO_PKG_VERSION"))),
            ("summary", escape(&summary_json)),
            ("title", escape(source_name)),
            ("css", PAGE_CSS.to_owned()),
            ("js", PAGE_JS.to_owned()),
            ("segments", summary.segments.to_string()),
            ("blocks", summary.blocks.to_string()),
            ("flagged", summary.flagged.to_string()),
            ("aligned", summary.aligned.to_string()),
            ("mean_score", score_text(summary.mean_score)),
            ("min_score", score_text(summary.min_score)),
            ("flag_counts", flag_counts(&summary.flags)),
            ("rows", rows),
        ],
    )
}

fn score_text(score: Option<f32>) -> String {
    score.map_or_else(|| "–".to_owned(), |s| format!("{s:.2}"))
}

/// "split 2  quote-repaired 1", each flag with its meaning as a tooltip.
fn flag_counts(flags: &BTreeMap<String, usize>) -> String {
    if flags.is_empty() {
        return "none".to_owned();
    }
    let mut out = String::new();
    for (flag, count) in flags {
        let _ = write!(
            out,
            "<span class=\"flag-count\"><span class=\"flag\" title=\"{}\">{}</span>&nbsp;{count}</span> ",
            escape(meaning(flag)),
            escape(flag)
        );
    }
    out
}

/// What the flag named `flag` means; a name this version does not know is shown as it is.
fn meaning(flag: &str) -> &str {
    TranslationFlag::from_name(flag).map_or(flag, |known| known.meaning())
}

/// The flags' names, space-separated (the row's `data-flags`, which the page's filter reads).
fn flag_names(flags: &[TranslationFlag]) -> String {
    let names: Vec<&str> = flags.iter().map(|flag| flag.as_str()).collect();
    names.join(" ")
}

/// The article's two texts a row takes its segment from, and whether they are HTML.
struct Texts<'a> {
    source: &'a str,
    target: &'a str,
    html: bool,
}

/// One table row: number and block kind, German, English, score, flags.
fn row(
    out: &mut String,
    index: usize,
    segment: &SegmentReport,
    kind: BlockKind,
    starts_block: bool,
    texts: &Texts,
) {
    let Texts {
        source,
        target,
        html,
    } = *texts;
    let mut classes = vec!["seg", kind_class(kind)];
    if starts_block {
        classes.push("block-start");
    }
    if !segment.flags.is_empty() {
        classes.push("flagged");
    }
    let score = if segment.score.is_finite() {
        segment.score
    } else {
        0.0
    };
    let _ = write!(
        out,
        "<tr id=\"s{n}\" class=\"{classes}\" data-index=\"{index}\" data-block=\"{block}\" \
         data-score=\"{score}\" data-flags=\"{flags}\">",
        n = index + 1,
        classes = classes.join(" "),
        block = segment.block,
        flags = escape(&flag_names(&segment.flags)),
    );
    let label = if starts_block { kind_label(kind) } else { "" };
    let _ = write!(
        out,
        "<td class=\"n\">{}<span class=\"kind\">{}</span></td>",
        index + 1,
        label
    );

    // The engine's pairs, relative to the segment on each side.
    let [source_start, source_end] = segment.source_span;
    let [target_start, target_end] = segment.target_span;
    let source_text = source
        .get(source_start..source_end)
        .unwrap_or(&segment.source);
    let target_text = target
        .get(target_start..target_end)
        .unwrap_or(&segment.target);
    let pairs: Vec<((usize, usize), (usize, usize))> = segment
        .alignment
        .iter()
        .flatten()
        .filter_map(|[s, t]| {
            let s = (
                s[0].checked_sub(source_start)?,
                s[1].checked_sub(source_start)?,
            );
            let t = (
                t[0].checked_sub(target_start)?,
                t[1].checked_sub(target_start)?,
            );
            Some((s, t))
        })
        .collect();
    let mut source_words = distinct_words(pairs.iter().map(|p| p.0), source_text);
    let mut target_words = distinct_words(pairs.iter().map(|p| p.1), target_text);
    if html {
        source_words.retain(|&w| !is_tag(source_text, w));
        target_words.retain(|&w| !is_tag(target_text, w));
    }
    // Glossary terms are marked on both sides; a word that would cross a mark's edge is left
    // unlinked, so the marks and the word spans nest.
    let (source_terms, target_terms) = term_marks(segment);
    source_words.retain(|&w| nests(w, &source_terms));
    target_words.retain(|&w| nests(w, &target_terms));
    let mut source_links = vec![Vec::new(); source_words.len()];
    let mut target_links = vec![Vec::new(); target_words.len()];
    for (s, t) in &pairs {
        if let (Some(i), Some(j)) = (
            source_words.iter().position(|w| w == s),
            target_words.iter().position(|w| w == t),
        ) {
            source_links[i].push(j);
            target_links[j].push(i);
        }
    }
    out.push_str("<td class=\"src\" lang=\"de\">");
    let source_side = Side {
        text: source_text,
        words: &source_words,
        links: &source_links,
        terms: &source_terms,
    };
    words_html(out, &source_side, html);
    out.push_str("</td><td class=\"tgt\" lang=\"en\">");
    let target_side = Side {
        text: target_text,
        words: &target_words,
        links: &target_links,
        terms: &target_terms,
    };
    words_html(out, &target_side, html);
    out.push_str("</td>");
    let _ = write!(
        out,
        "<td class=\"score\" title=\"sum of log-probabilities {:.3} over {} tokens\">{}</td>",
        segment.sum_logprob,
        segment.tokens,
        score_text(segment.score.is_finite().then_some(segment.score))
    );
    out.push_str("<td class=\"flags\">");
    for flag in &segment.flags {
        let _ = write!(
            out,
            "<span class=\"flag\" title=\"{}\">{}</span> ",
            escape(flag.meaning()),
            escape(flag.as_str())
        );
    }
    out.push_str("</td></tr>\n");
}

/// Whether an aligned `word` of an HTML fragment is a tag: an inline image or other protected
/// token aligned as a whole, which shows no text of its own.
fn is_tag(text: &str, (start, end): (usize, usize)) -> bool {
    text[start..end].contains(['<', '>'])
}

/// The aligned words of one side, sorted, without overlaps and on character boundaries.
fn distinct_words(spans: impl Iterator<Item = (usize, usize)>, text: &str) -> Vec<(usize, usize)> {
    let mut words: Vec<(usize, usize)> = spans
        .filter(|&(s, e)| s < e && text.get(s..e).is_some())
        .collect();
    words.sort_unstable();
    words.dedup();
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(words.len());
    for word in words {
        if kept.last().is_none_or(|last| last.1 <= word.0) {
            kept.push(word);
        }
    }
    kept
}

/// A glossary term marked in a row: its span in the segment's text and its tooltip.
type TermMark = ((usize, usize), String);

/// The segment's glossary terms, relative to its source and to its translation.
fn term_marks(segment: &SegmentReport) -> (Vec<TermMark>, Vec<TermMark>) {
    let relative = |span: [usize; 2], base: usize| {
        Some((span[0].checked_sub(base)?, span[1].checked_sub(base)?))
            .filter(|(start, end)| start < end)
    };
    let mut source = Vec::new();
    let mut target = Vec::new();
    for term in &segment.glossary {
        let title = format!("glossary: {} → {}", term.german, term.english);
        if let Some(span) = relative(term.source_span, segment.source_span[0]) {
            source.push((span, title.clone()));
        }
        if let Some(span) = relative(term.target_span, segment.target_span[0]) {
            target.push((span, title));
        }
    }
    source.sort_by_key(|(span, _)| *span);
    target.sort_by_key(|(span, _)| *span);
    (source, target)
}

/// Whether a word lies apart from every mark or inside one.
fn nests((start, end): (usize, usize), marks: &[TermMark]) -> bool {
    marks
        .iter()
        .all(|&((s, e), _)| end <= s || e <= start || (s <= start && end <= e))
}

/// One side of a row: its text, the aligned words with the words they link to, the marks.
struct Side<'a> {
    text: &'a str,
    words: &'a [(usize, usize)],
    links: &'a [Vec<usize>],
    terms: &'a [TermMark],
}

/// `text` escaped, with each aligned word in a span naming the words of the other side it is
/// aligned with, and each glossary term in a `mark`. From an HTML article (`html`) the row
/// shows what a reader of the page sees: the text without the page's tags, references decoded.
fn words_html(out: &mut String, side: &Side, html: bool) {
    let Side {
        text,
        words,
        links,
        terms,
    } = *side;
    let shown = |piece: &str| {
        if html {
            escape(&crate::document::visible_text(piece))
        } else {
            escape(piece)
        }
    };
    // Marks that do not overlap an earlier one (they never do; kept safe for any input).
    let mut marks: Vec<&TermMark> = Vec::with_capacity(terms.len());
    for mark in terms {
        let ((s, e), _) = mark;
        if e <= &text.len()
            && text.is_char_boundary(*s)
            && text.is_char_boundary(*e)
            && marks.last().is_none_or(|((_, last), _)| last <= s)
        {
            marks.push(mark);
        }
    }
    let mut points: Vec<usize> = words
        .iter()
        .flat_map(|&(s, e)| [s, e])
        .chain(marks.iter().flat_map(|((s, e), _)| [*s, *e]))
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut cursor = 0;
    for p in points {
        out.push_str(&shown(&text[cursor..p]));
        cursor = p;
        // At one place: a word closes, then a mark closes, a mark opens, a word opens.
        if words.iter().any(|&(_, e)| e == p) {
            out.push_str("</span>");
        }
        if marks.iter().any(|((_, e), _)| *e == p) {
            out.push_str("</mark>");
        }
        if let Some((_, title)) = marks.iter().find(|((s, _), _)| *s == p) {
            let _ = write!(out, "<mark class=\"term\" title=\"{}\">", escape(title));
        }
        if let Some(i) = words.iter().position(|&(s, _)| s == p) {
            let to: Vec<String> = links[i].iter().map(usize::to_string).collect();
            let _ = write!(
                out,
                "<span class=\"w\" data-w=\"{i}\" data-to=\"{}\">",
                to.join(" ")
            );
        }
    }
    out.push_str(&shown(&text[cursor..]));
}

/// How the page marks a block of each kind: the row's class (headings are set in bold) and the
/// label that opens the block.
fn kind_class(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Heading(1) | BlockKind::Headline => "h h1",
        BlockKind::Heading(2) => "h h2",
        BlockKind::Heading(_) => "h h3",
        BlockKind::ListItem => "li",
        BlockKind::Quote => "quote",
        BlockKind::Cell => "cell",
        BlockKind::Line => "line",
        // An attribute is a short text of its own; the page has shown it as a paragraph.
        BlockKind::Paragraph | BlockKind::Attribute => "p",
    }
}

fn kind_label(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Heading(1) => "H1",
        BlockKind::Heading(2) => "H2",
        BlockKind::Heading(3) => "H3",
        BlockKind::Heading(4) => "H4",
        BlockKind::Heading(5) => "H5",
        BlockKind::Heading(_) => "H6",
        BlockKind::Headline => "H",
        BlockKind::ListItem => "•",
        BlockKind::Quote => "❝",
        BlockKind::Cell => "▦",
        BlockKind::Line => "",
        BlockKind::Paragraph | BlockKind::Attribute => "¶",
    }
}

/// Replaces each `{{name}}` of `template` by its value, in one pass: values are never scanned.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("}}") {
            Some(close) => {
                let name = &after[..close];
                match values.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[open..open + 2 + close + 2]),
                }
                rest = &after[close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The counts a page carries; `None` for a file that is not a de2en review page.
pub fn read_summary(page_head: &str) -> Option<PageSummary> {
    let start = page_head.find(SUMMARY_META)? + SUMMARY_META.len();
    let end = start + page_head[start..].find('"')?;
    serde_json::from_str(&unescape(&page_head[start..end])).ok()
}

/// Writes `index.html` at `root`, listing every review page under it (hidden folders and
/// temporary files aside) with its counts. Returns the number of pages listed.
pub fn write_index(root: &Path, temp_prefix: &str) -> Result<usize, ReviewError> {
    let mut pages = Vec::new();
    collect_pages(root, root, &mut pages)?;
    pages.sort();
    let mut entries = Vec::with_capacity(pages.len());
    for relative in pages {
        let mut head = Vec::new();
        let summary = std::fs::File::open(root.join(&relative))
            .and_then(|file| file.take(SUMMARY_WITHIN).read_to_end(&mut head))
            .ok()
            .and_then(|_| read_summary(&String::from_utf8_lossy(&head)));
        entries.push((relative, summary));
    }
    let html = index_page(&entries);
    output::write_atomic(&root.join(INDEX_NAME), html.as_bytes(), temp_prefix)?;
    Ok(entries.len())
}

/// Review pages under `dir`, as `/`-separated paths relative to `root`.
fn collect_pages(root: &Path, dir: &Path, pages: &mut Vec<String>) -> Result<(), ReviewError> {
    let list_error = |source| ReviewError::List {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // hidden files, temporary files, the manifest
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if file_type.is_dir() {
            collect_pages(root, &path, pages)?;
        } else if file_type.is_file()
            && name.ends_with(PAGE_SUFFIX)
            && let Ok(relative) = path.strip_prefix(root)
        {
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            pages.push(parts.join("/"));
        }
    }
    Ok(())
}

/// The folder index: one row per page, with a link and its counts; totals in the header.
pub fn index_page(entries: &[(String, Option<PageSummary>)]) -> String {
    let mut rows = String::new();
    let (mut segments, mut flagged) = (0, 0);
    for (relative, summary) in entries {
        let name = summary
            .as_ref()
            .map_or(relative.as_str(), |s| s.source.as_str());
        let _ = write!(
            rows,
            "<tr><td class=\"name\"><a href=\"{}\">{}</a><div class=\"page\">{}</div></td>",
            escape(&href(relative)),
            escape(name),
            escape(relative)
        );
        match summary {
            Some(s) => {
                segments += s.segments;
                flagged += s.flagged;
                let _ = writeln!(
                    rows,
                    "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                     <td class=\"num\">{}</td><td class=\"flags\">{}</td></tr>",
                    s.segments,
                    s.flagged,
                    score_text(s.mean_score),
                    score_text(s.min_score),
                    if s.flags.is_empty() {
                        String::new()
                    } else {
                        flag_counts(&s.flags)
                    }
                );
            }
            None => rows.push_str(
                "<td class=\"num\" colspan=\"5\">(no counts: not a page of this de2en)</td></tr>\n",
            ),
        }
    }
    fill(
        INDEX_TEMPLATE,
        &[
            ("version", escape(env!("CARGO_PKG_VERSION"))),
            ("css", PAGE_CSS.to_owned()),
            ("articles", entries.len().to_string()),
            ("segments", segments.to_string()),
            ("flagged", flagged.to_string()),
            ("rows", rows),
        ],
    )
}

/// A relative URL for a `/`-separated path: every byte outside the unreserved set encoded.
fn href(relative: &str) -> String {
    let mut out = String::with_capacity(relative.len());
    for byte in relative.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests;
