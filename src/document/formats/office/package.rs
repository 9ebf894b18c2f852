//! Zip packages (Office Open XML, OpenDocument, EPUB): the parts a format reads as text, and the
//! package written back with only those parts replaced.
//!
//! Every entry that is not replaced is copied raw — its compressed bytes, name, time, method and
//! order as they were — so a reader that checks the package (EPUB's stored `mimetype` first,
//! signatures over untouched parts) finds it as before. A package whose texts all came back
//! unchanged is returned byte for byte.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use zip::ZipArchive;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::document::file::{PackageError, Repack, SourceFile, SourcePart};
use crate::document::formats::TextFormat;

/// The largest text part read (a news article's document.xml is well under 1 MiB; a part this
/// large is a zip bomb or not an article).
const MAX_PART_BYTES: u64 = 256 << 20;

/// A package as read: its bytes and the names of its entries, in order.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    bytes: Vec<u8>,
    path: String,
    kind: &'static str,
    names: Vec<String>,
}

impl Package {
    /// Reads the directory of a package of `kind` ("Word", "OpenDocument", "EPUB").
    pub(crate) fn read(
        bytes: &[u8],
        path: &Path,
        kind: &'static str,
    ) -> Result<Self, PackageError> {
        let path = path.display().to_string();
        let damaged = |why: String| PackageError::Damaged {
            path: path.clone(),
            kind,
            why,
        };
        let archive = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| damaged(format!("not a zip archive ({e})")))?;
        let names = archive
            .file_names()
            .map(|name| name.map(|n| n.into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| damaged(e.to_string()))?;
        Ok(Self {
            bytes: bytes.to_vec(),
            path,
            kind,
            names,
        })
    }

    /// The entries' names, in the package's order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// An entry's bytes.
    pub(crate) fn bytes_of(&self, name: &str) -> Result<Vec<u8>, PackageError> {
        let mut archive =
            ZipArchive::new(Cursor::new(&self.bytes[..])).map_err(|e| self.damaged(e))?;
        let mut file = archive.by_name(name).map_err(|_| PackageError::Missing {
            path: self.path.clone(),
            kind: self.kind,
            part: name.to_owned(),
        })?;
        if file.size() > MAX_PART_BYTES {
            return Err(self.damaged(format!(
                "`{name}` unpacks to {} MiB, more than an article holds",
                file.size() >> 20
            )));
        }
        let mut bytes = Vec::with_capacity(file.size() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| self.damaged(format!("`{name}` cannot be unpacked ({e})")))?;
        Ok(bytes)
    }

    /// A part that holds XML, as text; it must be UTF-8 (as the formats require) and well-formed.
    pub(crate) fn xml(&self, name: &str) -> Result<String, PackageError> {
        let bytes = self.bytes_of(name)?;
        let bad = |why: String| PackageError::BadXml {
            path: self.path.clone(),
            part: name.to_owned(),
            why,
        };
        let mut text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".to_owned()))?;
        if text.starts_with('\u{feff}') {
            // A byte-order mark is not part of the XML; the part is written back without one
            // only when it changes.
            text.remove(0);
        }
        super::xml::check_well_formed(&text).map_err(bad)?;
        Ok(text)
    }

    fn damaged(&self, why: impl ToString) -> PackageError {
        PackageError::Damaged {
            path: self.path.clone(),
            kind: self.kind,
            why: why.to_string(),
        }
    }

    /// The package with the entries named in `replaced` holding new contents (same name, place,
    /// method and time); the original bytes when nothing is replaced.
    pub(crate) fn repack(&self, replaced: &[(String, String)]) -> Result<Vec<u8>, PackageError> {
        if replaced.is_empty() {
            return Ok(self.bytes.clone());
        }
        let write = |e: zip::result::ZipError| PackageError::Write(e.to_string());
        let mut archive =
            ZipArchive::new(Cursor::new(&self.bytes[..])).map_err(|e| self.damaged(e))?;
        let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(self.bytes.len())));
        let comment = String::from_utf8_lossy(archive.comment()).into_owned();
        writer.set_comment(comment).map_err(write)?;
        for index in 0..archive.len() {
            let file = archive.by_index_raw(index).map_err(|e| self.damaged(e))?;
            let name = file.name().map_err(|e| self.damaged(e))?.into_owned();
            match replaced.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => {
                    let mut options = SimpleFileOptions::default()
                        .compression_method(file.compression())
                        .last_modified_time(file.last_modified().unwrap_or_default());
                    if let Some(mode) = file.unix_mode() {
                        options = options.unix_permissions(mode);
                    }
                    drop(file);
                    writer.start_file(name, options).map_err(write)?;
                    writer
                        .write_all(text.as_bytes())
                        .map_err(|e| PackageError::Write(e.to_string()))?;
                }
                None => writer.raw_copy_file(file).map_err(write)?,
            }
        }
        Ok(writer.finish().map_err(write)?.into_inner())
    }
}

/// Rewrites of a whole part once the text is English (language tags), `None` when the part
/// holds nothing to change.
pub(crate) type LanguageRewrite = fn(&str) -> Option<String>;

/// What a text part needs after its translation is rebuilt (`source`, `translated`).
pub(crate) type PartFinish = fn(&str, &str) -> String;

/// Puts the translated text parts back into their package: each through its format's finishing
/// pass, and — when any text changed — the language tags of the parts that carry them.
pub(crate) struct Repacker {
    pub package: Package,
    /// Each text part's name and finishing pass, in the order the parts were handed over.
    pub parts: Vec<(String, PartFinish)>,
    /// Parts whose language tags say German (text parts or not), and their rewrite.
    pub language: Vec<(String, LanguageRewrite)>,
}

impl Repacker {
    /// A package's text parts (name, reader, finishing pass), each read from `package`, and the
    /// repacker that puts their translations back, with `language` rewrites (see `Repacker`).
    pub(crate) fn source_file(
        package: Package,
        parts: Vec<(String, &'static dyn TextFormat, PartFinish)>,
        language: Vec<(String, LanguageRewrite)>,
    ) -> Result<SourceFile, PackageError> {
        let mut source_parts: Vec<SourcePart> = Vec::with_capacity(parts.len());
        let mut finishes = Vec::with_capacity(parts.len());
        for (name, reader, finish) in parts {
            if source_parts
                .iter()
                .any(|p| p.name.as_deref() == Some(&name))
            {
                continue;
            }
            let text = package.xml(&name)?;
            finishes.push((name.clone(), finish));
            source_parts.push(SourcePart {
                name: Some(name),
                text,
                reader,
            });
        }
        Ok(SourceFile {
            parts: source_parts,
            package: Some(Box::new(Repacker {
                package,
                parts: finishes,
                language,
            })),
        })
    }
}

impl Repack for Repacker {
    fn repack(&self, sources: &[&str], texts: &[&str]) -> Result<Vec<u8>, PackageError> {
        let mut replaced: Vec<(String, String)> = Vec::new();
        for (((name, finish), source), text) in self.parts.iter().zip(sources).zip(texts) {
            if text != source {
                replaced.push((name.clone(), finish(source, text)));
            }
        }
        if replaced.is_empty() {
            return self.package.repack(&[]);
        }
        for (name, rewrite) in &self.language {
            let current = match replaced.iter().position(|(n, _)| n == name) {
                Some(i) => replaced[i].1.clone(),
                None if self.package.has(name) => self.package.xml(name)?,
                None => continue,
            };
            if let Some(english) = rewrite(&current) {
                match replaced.iter_mut().find(|(n, _)| n == name) {
                    Some(entry) => entry.1 = english,
                    None => replaced.push((name.clone(), english)),
                }
            }
        }
        self.package.repack(&replaced)
    }
}

/// A finishing pass that changes nothing.
pub(crate) fn as_rebuilt(_source: &str, translated: &str) -> String {
    translated.to_owned()
}
