//! Reading input files and turning their bytes into text.
//!
//! German articles arrive in whatever encoding the site or the archive used: UTF-8 with or without
//! a byte-order mark, UTF-16 from Windows tools, Windows-1252 / Latin-1 from older systems. The
//! pipeline only ever sees a `String`; this module decides how the bytes are decoded and refuses
//! files that are not text at all (images, archives, office documents), so one stray file in a
//! corpus is reported instead of being "translated" into garbage.

use std::io::Read;
use std::path::{Path, PathBuf};

use encoding_rs::Encoding;

/// How many leading bytes are inspected to tell text from binary.
const SNIFF_LEN: usize = 8192;

/// Why an input could not be turned into text.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: could not read it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a text file ({why}); skipped")]
    Binary { path: PathBuf, why: &'static str },
}

/// A decoded input: the text and the encoding it was read as.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static Encoding,
}

/// Reads a file's bytes, or standard input's when `path` is `None`.
pub fn read_bytes(path: Option<&Path>) -> Result<Vec<u8>, InputError> {
    match path {
        Some(path) => std::fs::read(path).map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        }),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|source| InputError::Read {
                    path: PathBuf::from("<stdin>"),
                    source,
                })?;
            Ok(bytes)
        }
    }
}

/// Reads and decodes a file, or standard input when `path` is `None`.
pub fn read_text(path: Option<&Path>) -> Result<Decoded, InputError> {
    let bytes = read_bytes(path)?;
    decode(&bytes, path.unwrap_or(Path::new("<stdin>")))
}

/// Decodes `bytes` as text: a BOM wins, then valid UTF-8, then the encoding chardetng guesses
/// (for German that is Windows-1252 in practice, which is a superset of Latin-1's printable range).
pub fn decode(bytes: &[u8], path: &Path) -> Result<Decoded, InputError> {
    if bytes.is_empty() {
        return Ok(Decoded {
            text: String::new(),
            encoding: encoding_rs::UTF_8,
        });
    }
    // A BOM is checked before the binary sniff: UTF-16 text is full of NUL bytes.
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let body = &bytes[bom_len..];
        let (text, had_errors) = encoding.decode_without_bom_handling(body);
        if had_errors && encoding != encoding_rs::UTF_8 {
            // A UTF-16 BOM followed by something that is not UTF-16 is a binary file that
            // happens to start with 0xFF 0xFE (some image formats do).
            return Err(InputError::Binary {
                path: path.to_owned(),
                why: "starts with a UTF-16 byte-order mark but is not UTF-16 text",
            });
        }
        check_text(&text, path)?;
        return Ok(Decoded {
            text: text.into_owned(),
            encoding,
        });
    }
    sniff_binary(bytes, path)?;
    if let Ok(text) = std::str::from_utf8(bytes) {
        check_text(text, path)?;
        return Ok(Decoded {
            text: text.to_owned(),
            encoding: encoding_rs::UTF_8,
        });
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    // `.de` as the top-level domain hint: the detector then prefers the encodings German
    // sites actually used.
    let encoding = detector.guess(Some(b"de"), chardetng::Utf8Detection::Deny);
    let (text, _, _) = encoding.decode(bytes);
    check_text(&text, path)?;
    Ok(Decoded {
        text: text.into_owned(),
        encoding,
    })
}

/// Rejects byte streams that are clearly not text: NUL bytes, or many control bytes, near the start.
fn sniff_binary(bytes: &[u8], path: &Path) -> Result<(), InputError> {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if head.contains(&0) {
        return Err(InputError::Binary {
            path: path.to_owned(),
            why: "it contains NUL bytes",
        });
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    // Text has essentially no C0 control bytes besides whitespace; a few percent means binary.
    if control * 50 > head.len() {
        return Err(InputError::Binary {
            path: path.to_owned(),
            why: "it is full of control bytes",
        });
    }
    Ok(())
}

/// The same test on decoded text (after a BOM the bytes could not be checked directly).
fn check_text(text: &str, path: &Path) -> Result<(), InputError> {
    let head: String = text.chars().take(SNIFF_LEN).collect();
    if head.contains('\0') {
        return Err(InputError::Binary {
            path: path.to_owned(),
            why: "it contains NUL characters",
        });
    }
    let total = head.chars().count();
    let control = head
        .chars()
        .filter(|&c| c < ' ' && !matches!(c, '\t' | '\n' | '\r' | '\u{0c}'))
        .count();
    if control * 50 > total {
        return Err(InputError::Binary {
            path: path.to_owned(),
            why: "it is full of control characters",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> Result<Decoded, InputError> {
        decode(bytes, Path::new("x.txt"))
    }

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(dec("Grüße".as_bytes()).unwrap().text, "Grüße");
        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice("Grüße".as_bytes());
        assert_eq!(dec(&with_bom).unwrap().text, "Grüße");
    }

    #[test]
    fn utf16_with_bom() {
        let mut le = vec![0xFF, 0xFE];
        for unit in "Straße „Zitat“".encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(dec(&le).unwrap().text, "Straße „Zitat“");
        let mut be = vec![0xFE, 0xFF];
        for unit in "Öl".encode_utf16() {
            be.extend_from_slice(&unit.to_be_bytes());
        }
        assert_eq!(dec(&be).unwrap().text, "Öl");
    }

    #[test]
    fn windows_1252() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252
            .encode("Die Bürgermeisterin sagte: „Wir müssen größer denken.“ Das kostet 5 €.");
        let decoded = dec(&bytes).unwrap();
        assert_eq!(
            decoded.text,
            "Die Bürgermeisterin sagte: „Wir müssen größer denken.“ Das kostet 5 €."
        );
    }

    #[test]
    fn binary_is_refused() {
        assert!(matches!(
            dec(&[0x89, b'P', b'N', b'G', 0, 0, 1, 2]),
            Err(InputError::Binary { .. })
        ));
        let controls: Vec<u8> = (0..200u8).map(|i| i % 8 + 1).collect();
        assert!(matches!(dec(&controls), Err(InputError::Binary { .. })));
    }

    #[test]
    fn empty_is_empty() {
        assert_eq!(dec(b"").unwrap().text, "");
    }
}
