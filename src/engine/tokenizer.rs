//! Marian's SentencePiece tokenizer on the `tokenizers` crate: `source.spm` + `vocab.json` in,
//! `target.spm` out.
//!
//! The reference is transformers' slow `MarianTokenizer`, which runs the C++ `sentencepiece`
//! library: the source model splits text into pieces, each piece is looked up in the joint
//! `vocab.json` (unknown pieces become `<unk>`) and `</s>` is appended. Decoding maps ids back to
//! pieces through the same vocabulary, skips special tokens and detokenises with the target model.
//!
//! The Viterbi search is `tokenizers`' `Unigram` (a port of sentencepiece's optimised encoder) and
//! alignments between normalised and original text come from its `NormalizedString`. The text
//! normalisation itself is written here to follow sentencepiece's `Normalizer` exactly, where
//! transformers' fast-tokenizer converter only approximates it: the charsmap uses the longest match
//! at each position (`tokenizers::normalizers::Precompiled` takes the shortest match per grapheme
//! and indexes its trie unchecked, so a corrupt model file could panic), and whitespace is trimmed
//! and collapsed as `remove_extra_whitespaces` does before the dummy prefix is added.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tokenizers::NormalizedString;
use tokenizers::tokenizer::normalizer::Range;

use super::EngineError;

/// Half-open byte ranges into a text, one per token.
pub type ByteRanges = Vec<(usize, usize)>;

/// SentencePiece's whitespace marker.
const SPACE_SYMBOL: char = '▁';

/// Tokenizer for a Marian model folder, token-exact with transformers' `MarianTokenizer`.
pub struct MarianTokenizer {
    source: SourceModel,
    target: TargetModel,
    /// Piece → model id for the source side (`vocab.json`).
    encoder: HashMap<String, u32>,
    /// Model id → piece for the target side (`vocab.json`, or `target_vocab.json` with separate vocabularies).
    decoder: HashMap<u32, String>,
    /// Strings that are never split by SentencePiece (transformers' special tokens), longest first.
    special_tokens: Vec<String>,
    special_ids: HashSet<u32>,
    unk_token: String,
    unk_id: u32,
    eos_id: u32,
    pad_id: u32,
    clean_up_tokenization_spaces: bool,
}

impl std::fmt::Debug for MarianTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarianTokenizer")
            .field("vocab_size", &self.encoder.len())
            .field("unk_id", &self.unk_id)
            .field("eos_id", &self.eos_id)
            .field("pad_id", &self.pad_id)
            .finish_non_exhaustive()
    }
}

impl MarianTokenizer {
    /// Loads `source.spm`, `target.spm`, `vocab.json` and, when present, `tokenizer_config.json`
    /// (special token names, `separate_vocabs` with `target_vocab.json`, `clean_up_tokenization_spaces`).
    pub fn from_dir(dir: &Path) -> Result<Self, EngineError> {
        let config = TokenizerConfig::load(&dir.join("tokenizer_config.json"))?;

        let source_path = dir.join("source.spm");
        let source = SourceModel::new(SpmModel::load(&source_path)?, &source_path)?;
        let target_path = dir.join("target.spm");
        let target = TargetModel::new(SpmModel::load(&target_path)?, &target_path)?;

        let vocab_path = dir.join("vocab.json");
        let vocab = load_vocab(&vocab_path)?;
        let mut encoder = HashMap::with_capacity(vocab.len());
        for (piece, id) in &vocab {
            // Later duplicates win, as in Python's `json.load`.
            encoder.insert(piece.clone(), *id);
        }
        let decoder_vocab = if config.separate_vocabs {
            load_vocab(&dir.join("target_vocab.json"))?
        } else {
            vocab
        };
        let mut decoder = HashMap::with_capacity(decoder_vocab.len());
        for (piece, id) in decoder_vocab {
            // `{v: k for k, v in vocab.items()}`: the last piece with an id wins.
            decoder.insert(id, piece);
        }

        let required = |token: &str| {
            encoder
                .get(token)
                .copied()
                .ok_or_else(|| EngineError::ModelFile {
                    path: vocab_path.clone(),
                    problem: format!("has no entry for the special token {token:?}"),
                })
        };
        let unk_id = required(&config.unk_token)?;
        let eos_id = required(&config.eos_token)?;
        let pad_id = required(&config.pad_token)?;

        let mut special_tokens = vec![
            config.eos_token.clone(),
            config.unk_token.clone(),
            config.pad_token.clone(),
        ];
        for token in &config.additional_special_tokens {
            if !special_tokens.contains(token) {
                special_tokens.push(token.clone());
            }
        }
        special_tokens.retain(|token| !token.is_empty());
        let special_ids = special_tokens
            .iter()
            .map(|token| encoder.get(token).copied().unwrap_or(unk_id))
            .collect();
        // Longest first, so that at one position the longest special token wins (as transformers' trie).
        special_tokens.sort_by_key(|token| std::cmp::Reverse(token.len()));

        Ok(Self {
            source,
            target,
            encoder,
            decoder,
            special_tokens,
            special_ids,
            unk_token: config.unk_token,
            unk_id,
            eos_id,
            pad_id,
            clean_up_tokenization_spaces: config.clean_up_tokenization_spaces,
        })
    }

    /// Source ids for `text`, `</s>` appended.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.encode_with_offsets(text).map(|(ids, _)| ids)
    }

    /// Source ids for `text` and the byte range of `text` each id covers, without the whitespace
    /// at its edges (a piece that is only a word marker gets an empty range); `</s>` gets `(len, len)`.
    pub fn encode_with_offsets(&self, text: &str) -> Result<(Vec<u32>, ByteRanges), EngineError> {
        let mut ids = Vec::new();
        let mut offsets = Vec::new();
        for chunk in self.split_special_tokens(text) {
            match chunk {
                Chunk::Special { start, end } => {
                    ids.push(self.piece_id(&text[start..end]));
                    offsets.push((start, end));
                }
                Chunk::Text { mut start, end } => {
                    // MarianTokenizer.remove_language_code: a leading `>>xx<<` is one token.
                    let chunk_text = &text[start..end];
                    if chunk_text.starts_with(">>")
                        && let Some(code_end) = chunk_text.find("<<").map(|at| at + 2)
                    {
                        ids.push(self.piece_id(&chunk_text[..code_end]));
                        offsets.push((start, start + code_end));
                        start += code_end;
                    }
                    self.source
                        .encode(&text[start..end], start, |piece, range| {
                            ids.push(self.piece_id(piece));
                            offsets.push(range);
                        });
                }
            }
        }
        ids.push(self.eos_id);
        offsets.push((text.len(), text.len()));
        Ok((ids, offsets))
    }

    /// Text for `ids` as `tokenizer.decode(ids, skip_special_tokens=True)` gives it.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.decode_with_offsets(ids).0
    }

    /// Text for `ids` and, per id, the byte span of its visible text in that string: whitespace a
    /// piece starts or ends with (the `▁` word marker) is not part of its span; a piece that is all
    /// whitespace gets an empty span. Skipped special tokens get `None`.
    pub fn decode_with_offsets(&self, ids: &[u32]) -> (String, Vec<Option<(usize, usize)>>) {
        let mut text = String::new();
        let mut spans = Vec::with_capacity(ids.len());
        for &id in ids {
            if self.special_ids.contains(&id) {
                spans.push(None);
                continue;
            }
            // Ids outside the vocabulary become the unknown token, which is special and skipped.
            let piece = self
                .decoder
                .get(&id)
                .map_or(self.unk_token.as_str(), String::as_str);
            if self.special_tokens.iter().any(|token| token == piece) {
                spans.push(None);
                continue;
            }
            let surface = self.target.surface(piece);
            let start = text.len();
            // MarianTokenizer replaces every `▁` left after sentencepiece's decode with a space.
            for c in surface.chars() {
                text.push(if c == SPACE_SYMBOL { ' ' } else { c });
            }
            spans.push(Some(trim_span(&text, start, text.len())));
        }

        // Python's `str.strip()` on the joined string.
        let visible_end = text.trim_end_matches(is_python_whitespace).len();
        let visible_start = visible_end
            - text[..visible_end]
                .trim_start_matches(is_python_whitespace)
                .len();
        let mut text = text[visible_start..visible_end].to_string();
        for (start, end) in spans.iter_mut().flatten() {
            *start = (*start).clamp(visible_start, visible_end) - visible_start;
            *end = (*end).clamp(visible_start, visible_end) - visible_start;
        }

        if self.clean_up_tokenization_spaces {
            let (cleaned, map) = clean_up_tokenization(&text);
            text = cleaned;
            for (start, end) in spans.iter_mut().flatten() {
                *start = map[*start];
                *end = map[*end];
            }
        }
        (text, spans)
    }

    /// Number of entries in `vocab.json` (transformers' `vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.encoder.len()
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    fn piece_id(&self, piece: &str) -> u32 {
        self.encoder.get(piece).copied().unwrap_or(self.unk_id)
    }

    /// Splits `text` around literal special tokens, as transformers does before calling
    /// sentencepiece (their `AddedToken`s strip no whitespace). Empty text chunks are dropped.
    fn split_special_tokens(&self, text: &str) -> Vec<Chunk> {
        let mut chunks = Vec::new();
        let mut chunk_start = 0;
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            let found = self
                .special_tokens
                .iter()
                .find(|token| rest.starts_with(token.as_str()));
            match found {
                Some(token) => {
                    if chunk_start < at {
                        chunks.push(Chunk::Text {
                            start: chunk_start,
                            end: at,
                        });
                    }
                    chunks.push(Chunk::Special {
                        start: at,
                        end: at + token.len(),
                    });
                    at += token.len();
                    chunk_start = at;
                }
                None => at += rest.chars().next().map_or(1, char::len_utf8),
            }
        }
        if chunk_start < text.len() {
            chunks.push(Chunk::Text {
                start: chunk_start,
                end: text.len(),
            });
        }
        chunks
    }
}

enum Chunk {
    Text { start: usize, end: usize },
    Special { start: usize, end: usize },
}

/// Narrows `start..end` of `text` to its non-whitespace part (an empty span at `start` if none).
fn trim_span(text: &str, start: usize, end: usize) -> (usize, usize) {
    let Some(piece) = text.get(start..end) else {
        // Not on character boundaries (never expected): keep the range, clamped to the text.
        return (start.min(text.len()), end.min(text.len()));
    };
    let visible = piece.trim_matches(is_python_whitespace);
    if visible.is_empty() {
        return (start, start);
    }
    let leading = piece.len() - piece.trim_start_matches(is_python_whitespace).len();
    (start + leading, start + leading + visible.len())
}

/// Python's `str.isspace()`, which `str.strip()` uses; Rust's `char::is_whitespace` lacks U+001C..U+001F.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// transformers' `clean_up_tokenization`, with a map from each byte position of the input to the
/// output (one entry past the end) so that spans follow the removed spaces.
fn clean_up_tokenization(text: &str) -> (String, Vec<usize>) {
    const REPLACEMENTS: [(&str, &str); 10] = [
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ];
    let mut current = text.to_string();
    let mut map: Vec<usize> = (0..=text.len()).collect();
    for (pattern, replacement) in REPLACEMENTS {
        if !current.contains(pattern) {
            continue;
        }
        // Every replacement drops leading/trailing spaces of `pattern`: bytes of `replacement`
        // keep their place relative to where they sit inside `pattern`.
        let dropped_front = pattern.find(replacement).unwrap_or(0);
        let mut next = String::with_capacity(current.len());
        let mut step = vec![0; current.len() + 1];
        let mut at = 0;
        while at < current.len() {
            if current[at..].starts_with(pattern) {
                for i in 0..pattern.len() {
                    let kept = i.saturating_sub(dropped_front).min(replacement.len());
                    step[at + i] = next.len() + kept;
                }
                next.push_str(replacement);
                at += pattern.len();
            } else {
                let len = current[at..].chars().next().map_or(1, char::len_utf8);
                for i in 0..len {
                    step[at + i] = next.len() + i;
                }
                next.push_str(&current[at..at + len]);
                at += len;
            }
        }
        step[current.len()] = next.len();
        for position in map.iter_mut() {
            *position = step[*position];
        }
        current = next;
    }
    (current, map)
}

// ---------------------------------------------------------------------------------------------
// tokenizer_config.json and vocab.json

/// The few `tokenizer_config.json` keys that change how MarianTokenizer encodes or decodes.
struct TokenizerConfig {
    unk_token: String,
    eos_token: String,
    pad_token: String,
    additional_special_tokens: Vec<String>,
    separate_vocabs: bool,
    clean_up_tokenization_spaces: bool,
}

impl TokenizerConfig {
    fn load(path: &Path) -> Result<Self, EngineError> {
        let mut config = Self {
            unk_token: "<unk>".into(),
            eos_token: "</s>".into(),
            pad_token: "<pad>".into(),
            additional_special_tokens: Vec::new(),
            separate_vocabs: false,
            // transformers 4.57's default when the key is absent.
            clean_up_tokenization_spaces: false,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            // Optional: old opus-mt folders have none, and transformers then uses its defaults.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(config),
            Err(source) => {
                return Err(EngineError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let bad = |problem: String| EngineError::ModelFile {
            path: path.to_owned(),
            problem,
        };
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|err| bad(format!("not valid JSON ({err})")))?;
        let object = json
            .as_object()
            .ok_or_else(|| bad("expected a JSON object".into()))?;
        // A token is a string or an AddedToken object with a "content" string.
        let token_text = |value: &serde_json::Value| -> Option<String> {
            value
                .as_str()
                .or_else(|| value.get("content").and_then(serde_json::Value::as_str))
                .map(str::to_owned)
        };
        for (key, slot) in [
            ("unk_token", &mut config.unk_token),
            ("eos_token", &mut config.eos_token),
            ("pad_token", &mut config.pad_token),
        ] {
            if let Some(value) = object.get(key).filter(|value| !value.is_null()) {
                *slot = token_text(value).ok_or_else(|| {
                    bad(format!("\"{key}\" is neither a string nor a token object"))
                })?;
            }
        }
        if let Some(list) = object
            .get("additional_special_tokens")
            .filter(|v| !v.is_null())
        {
            let list = list
                .as_array()
                .ok_or_else(|| bad("\"additional_special_tokens\" is not a list".into()))?;
            for value in list {
                config
                    .additional_special_tokens
                    .push(token_text(value).ok_or_else(|| {
                        bad(
                            "\"additional_special_tokens\" holds something that is not a token"
                                .into(),
                        )
                    })?);
            }
        }
        for (key, slot) in [
            ("separate_vocabs", &mut config.separate_vocabs),
            (
                "clean_up_tokenization_spaces",
                &mut config.clean_up_tokenization_spaces,
            ),
        ] {
            if let Some(value) = object.get(key).filter(|value| !value.is_null()) {
                *slot = value
                    .as_bool()
                    .ok_or_else(|| bad(format!("\"{key}\" is not true or false")))?;
            }
        }
        Ok(config)
    }
}

/// Reads a `vocab.json` keeping the file's order, so duplicate keys or ids resolve as in Python.
fn load_vocab(path: &Path) -> Result<Vec<(String, u32)>, EngineError> {
    struct Ordered(Vec<(String, u32)>);
    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object mapping pieces to integer ids")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Ordered, A::Error> {
                    let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                    while let Some(entry) = map.next_entry::<String, u32>()? {
                        entries.push(entry);
                    }
                    Ok(Ordered(entries))
                }
            }
            deserializer.deserialize_map(Visitor)
        }
    }

    let bytes = read_model_file(path)?;
    let Ordered(entries) =
        serde_json::from_slice(&bytes).map_err(|err| EngineError::ModelFile {
            path: path.to_owned(),
            problem: format!("not a vocabulary of piece → id ({err})"),
        })?;
    if entries.is_empty() {
        return Err(EngineError::ModelFile {
            path: path.to_owned(),
            problem: "the vocabulary is empty".into(),
        });
    }
    Ok(entries)
}

fn read_model_file(path: &Path) -> Result<Vec<u8>, EngineError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            EngineError::ModelFile {
                path: path.to_owned(),
                problem:
                    "is missing (a Marian model folder needs source.spm, target.spm and vocab.json)"
                        .into(),
            }
        } else {
            EngineError::Io {
                path: path.to_owned(),
                source,
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The two SentencePiece models

/// The source side: sentencepiece normalisation and the Unigram Viterbi search.
///
/// The search is sentencepiece's optimised Viterbi (`EncodeOptimized`) written out here rather
/// than `tokenizers::models::unigram::Unigram`, to copy its arithmetic: path scores are stored as
/// `f32` but each candidate is summed and compared in `f64`. `Unigram` keeps `f64` throughout, and
/// on exact ties between equal piece sets ("f"+"ff" against "ff"+"f" in long compounds) the
/// rounding decides, so it picks a different segmentation than transformers.
struct SourceModel {
    /// Every prefix of a piece the lattice may use (normal and user-defined), with the piece's
    /// score when the prefix is itself a piece: the search stops extending a candidate as soon as
    /// it is no piece's prefix, as sentencepiece's trie walk does.
    scores: HashMap<String, Option<f64>, BuildFnv>,
    /// Longest piece in bytes, to bound the prefix search.
    max_piece_len: usize,
    /// Score of a one-character unknown node: lowest normal score minus sentencepiece's penalty 10.
    unk_score: f32,
    normalizer: SpmNormalizer,
}

impl SourceModel {
    fn new(model: SpmModel, path: &Path) -> Result<Self, EngineError> {
        let bad = |problem: String| EngineError::ModelFile {
            path: path.to_owned(),
            problem,
        };
        if model.model_type != MODEL_TYPE_UNIGRAM {
            return Err(bad(format!(
                "SentencePiece model type {} is not supported; Marian uses unigram (1)",
                model.model_type
            )));
        }
        if model.byte_fallback {
            return Err(bad("SentencePiece byte fallback is not supported".into()));
        }
        if model.treat_whitespace_as_suffix {
            return Err(bad(
                "SentencePiece treat_whitespace_as_suffix is not supported".into(),
            ));
        }
        if !model
            .pieces
            .iter()
            .any(|piece| piece.kind == PieceKind::Unknown)
        {
            return Err(bad("not a SentencePiece model (no unknown piece)".into()));
        }
        let normal_scores = || {
            model
                .pieces
                .iter()
                .filter(|piece| piece.kind == PieceKind::Normal)
                .map(|piece| piece.score)
        };
        let max_score = normal_scores().fold(f32::NEG_INFINITY, f32::max);
        let min_score = normal_scores().fold(f32::INFINITY, f32::min);
        // Control (`<s>`, `</s>`), unknown, unused and byte pieces never match input text.
        let mut scores: HashMap<String, Option<f64>, BuildFnv> = HashMap::default();
        for piece in &model.pieces {
            let score = match piece.kind {
                PieceKind::Normal => f64::from(piece.score),
                // sentencepiece gives user-defined symbols a bonus (length in bytes) so they always win.
                PieceKind::UserDefined => f64::from(piece.piece.len() as f32 * max_score) - 0.1,
                _ => continue,
            };
            for (at, _) in piece.piece.char_indices().skip(1) {
                scores.entry(piece.piece[..at].to_owned()).or_insert(None);
            }
            // sentencepiece refuses duplicate pieces at load; keep the first, harmlessly.
            let entry = scores.entry(piece.piece.clone()).or_insert(None);
            entry.get_or_insert(score);
        }
        let max_piece_len = scores.keys().map(String::len).max().unwrap_or(0);
        let unk_score = if min_score.is_finite() {
            min_score - 10.0
        } else {
            -10.0
        };
        let normalizer = SpmNormalizer {
            charsmap: model.charsmap,
            add_dummy_prefix: model.add_dummy_prefix,
            remove_extra_whitespaces: model.remove_extra_whitespaces,
            escape_whitespaces: model.escape_whitespaces,
        };
        Ok(Self {
            scores,
            max_piece_len,
            unk_score,
            normalizer,
        })
    }

    /// Best segmentation of normalised `text` as byte ranges; runs of unknown characters are
    /// fused into one range, as sentencepiece does.
    fn viterbi(&self, text: &str) -> Vec<(usize, usize)> {
        #[derive(Clone, Copy)]
        struct Best {
            score: f32,
            start: Option<usize>,
            unknown: bool,
        }
        let mut best = vec![
            Best {
                score: 0.0,
                start: None,
                unknown: false
            };
            text.len() + 1
        ];
        let relax = |best: &mut [Best], start: usize, end: usize, candidate: f64, unknown: bool| {
            let node = &mut best[end];
            if node.start.is_none() || candidate > f64::from(node.score) {
                *node = Best {
                    score: candidate as f32,
                    start: Some(start),
                    unknown,
                };
            }
        };
        for (start, first) in text.char_indices() {
            let mut has_single_char_piece = false;
            for (offset, c) in text[start..].char_indices() {
                let end = start + offset + c.len_utf8();
                if end - start > self.max_piece_len {
                    break;
                }
                match self.scores.get(&text[start..end]) {
                    None => break,
                    Some(None) => {}
                    Some(&Some(score)) => {
                        let candidate = score + f64::from(best[start].score);
                        relax(&mut best, start, end, candidate, false);
                        has_single_char_piece |= offset == 0;
                    }
                }
            }
            if !has_single_char_piece {
                // An unknown node is summed in `f32`, as in sentencepiece.
                let candidate = f64::from(self.unk_score + best[start].score);
                relax(&mut best, start, start + first.len_utf8(), candidate, true);
            }
        }

        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let mut end = text.len();
        let mut previous_unknown = false;
        while end > 0 {
            let node = best[end];
            // Every char boundary is reached (by a piece or an unknown node), so this holds.
            let Some(start) = node.start else { break };
            match ranges.last_mut() {
                Some(last) if node.unknown && previous_unknown => last.0 = start,
                _ => ranges.push((start, end)),
            }
            previous_unknown = node.unknown;
            end = start;
        }
        ranges.reverse();
        ranges
    }

    /// Calls `emit(piece, original byte range)` for each piece of `text` (which starts at `base`
    /// in the caller's string).
    fn encode(&self, text: &str, base: usize, mut emit: impl FnMut(&str, (usize, usize))) {
        if text.is_empty() {
            return;
        }
        let mut normalized = NormalizedString::from(text);
        self.normalizer.normalize(&mut normalized);
        for (start, end) in self.viterbi(normalized.get()) {
            let piece = &normalized.get()[start..end];
            let original = normalized
                .convert_offsets(Range::Normalized(start..end))
                .unwrap_or(0..text.len());
            // Like decoding, a range holds the piece's visible text, not the space its `▁` stands
            // for; a lone `▁` (the dummy prefix, say) shares its alignment with the next character.
            let (start, end) = if piece.chars().all(|c| c == SPACE_SYMBOL) {
                (original.start, original.start)
            } else {
                trim_span(text, original.start, original.end)
            };
            emit(piece, (base + start, base + end));
        }
    }
}

/// sentencepiece's `normalizer::Normalizer` for the encoding side.
struct SpmNormalizer {
    charsmap: Option<CharsMap>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

impl SpmNormalizer {
    fn normalize(&self, normalized: &mut NormalizedString) {
        if let Some(charsmap) = &self.charsmap {
            charsmap.apply(normalized);
        }
        self.fix_whitespace(normalized);
        if self.add_dummy_prefix && !normalized.is_empty() {
            let prefix = if self.escape_whitespaces { "▁" } else { " " };
            normalized.prepend(prefix);
        }
    }

    /// Drops leading, trailing and repeated spaces (`remove_extra_whitespaces`) and escapes the
    /// rest as `▁`, keeping the alignment to the original text.
    fn fix_whitespace(&self, normalized: &mut NormalizedString) {
        let chars: Vec<char> = normalized.get().chars().collect();
        let mut keep = vec![true; chars.len()];
        if self.remove_extra_whitespaces {
            let mut previous_is_space = true;
            for (c, keep) in chars.iter().zip(keep.iter_mut()) {
                if *c == ' ' && previous_is_space {
                    *keep = false;
                } else {
                    previous_is_space = *c == ' ';
                }
            }
            for (c, keep) in chars.iter().zip(keep.iter_mut()).rev() {
                if !*keep {
                    continue;
                }
                if *c != ' ' {
                    break;
                }
                *keep = false;
            }
        }
        if keep.iter().all(|keep| *keep) && !(self.escape_whitespaces && chars.contains(&' ')) {
            return;
        }
        // `transform` wants each kept char with minus the number of removed chars right after it,
        // and the number of removed chars before the first kept one.
        let leading_removed = keep.iter().take_while(|keep| !**keep).count();
        let mut transformations: Vec<(char, isize)> = Vec::with_capacity(chars.len());
        for (c, keep) in chars.iter().zip(&keep).skip(leading_removed) {
            if *keep {
                let c = if self.escape_whitespaces && *c == ' ' {
                    SPACE_SYMBOL
                } else {
                    *c
                };
                transformations.push((c, 0));
            } else if let Some((_, change)) = transformations.last_mut() {
                *change -= 1;
            }
        }
        normalized.transform(transformations, leading_removed);
    }
}

/// sentencepiece's precompiled character map: a darts-clone double-array trie over UTF-8 input
/// whose leaves point into a blob of NUL-terminated replacement strings.
struct CharsMap {
    trie: Vec<u32>,
    replacements: Vec<u8>,
}

impl CharsMap {
    fn parse(blob: &[u8]) -> Option<Self> {
        let trie_bytes =
            usize::try_from(u32::from_le_bytes(blob.get(..4)?.try_into().ok()?)).ok()?;
        let trie_blob = blob.get(4..4usize.checked_add(trie_bytes)?)?;
        if trie_bytes % 4 != 0 || trie_bytes == 0 {
            return None;
        }
        let trie = trie_blob
            .chunks_exact(4)
            .map(|unit| u32::from_le_bytes([unit[0], unit[1], unit[2], unit[3]]))
            .collect();
        let replacements = blob[4 + trie_bytes..].to_vec();
        Some(Self { trie, replacements })
    }

    /// The longest key that prefixes `input`: its length in bytes and its replacement.
    /// Every index is checked, so a corrupt trie gives no match instead of a panic.
    fn longest_match(&self, input: &[u8]) -> Option<(usize, &str)> {
        let unit_at = |pos: usize| self.trie.get(pos).copied();
        let offset = |unit: u32| ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize;
        let label = |unit: u32| unit & ((1 << 31) | 0xFF);
        let has_leaf = |unit: u32| (unit >> 8) & 1 == 1;
        let value = |unit: u32| (unit & ((1 << 31) - 1)) as usize;

        let mut best = None;
        let mut node = offset(unit_at(0)?);
        for (i, &byte) in input.iter().enumerate() {
            if byte == 0 {
                break;
            }
            node ^= usize::from(byte);
            let unit = unit_at(node)?;
            if label(unit) != u32::from(byte) {
                break;
            }
            node ^= offset(unit);
            if has_leaf(unit) {
                match unit_at(node) {
                    Some(leaf) => best = Some((i + 1, value(leaf))),
                    None => break,
                }
            }
        }
        let (length, start) = best?;
        let tail = self.replacements.get(start..)?;
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let replacement = std::str::from_utf8(&tail[..end]).ok()?;
        Some((length, replacement))
    }

    /// Rewrites `normalized` left to right, taking the longest match at each position or else
    /// one character unchanged (sentencepiece's `NormalizePrefix`).
    fn apply(&self, normalized: &mut NormalizedString) {
        let text = normalized.get().to_owned();
        let bytes = text.as_bytes();
        let mut transformations: Vec<(char, isize)> = Vec::with_capacity(text.len());
        let mut leading_removed = 0;
        let mut changed = false;
        let mut at = 0;
        while at < text.len() {
            let matched = self
                .longest_match(&bytes[at..])
                .filter(|(length, _)| text.is_char_boundary(at + length));
            match matched {
                Some((length, replacement)) => {
                    changed = true;
                    let consumed = text[at..at + length].chars().count() as isize;
                    let produced = replacement.chars().count() as isize;
                    transformations.extend(replacement.chars().map(|c| (c, 0)));
                    if produced > consumed {
                        let added = (produced - consumed) as usize;
                        let len = transformations.len();
                        for (_, change) in &mut transformations[len - added..] {
                            *change = 1;
                        }
                    } else if produced < consumed {
                        let removed = consumed - produced;
                        match transformations.last_mut() {
                            // Characters removed right after the last one written so far.
                            Some((_, change)) => *change -= removed,
                            None => leading_removed += removed as usize,
                        }
                    }
                    at += length;
                }
                None => {
                    let c = text[at..]
                        .chars()
                        .next()
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    transformations.push((c, 0));
                    at += c.len_utf8().max(1);
                }
            }
        }
        if changed {
            normalized.transform(transformations, leading_removed);
        }
    }
}

/// The target side: what sentencepiece's `DecodePieces` writes for each piece.
struct TargetModel {
    control: HashSet<String>,
    unk_piece: Option<String>,
    unk_surface: String,
}

impl TargetModel {
    fn new(model: SpmModel, path: &Path) -> Result<Self, EngineError> {
        if model.byte_fallback {
            return Err(EngineError::ModelFile {
                path: path.to_owned(),
                problem: "SentencePiece byte fallback is not supported".into(),
            });
        }
        if model.has_denormalizer {
            return Err(EngineError::ModelFile {
                path: path.to_owned(),
                problem: "SentencePiece denormalization rules are not supported".into(),
            });
        }
        let control = model
            .pieces
            .iter()
            .filter(|piece| piece.kind == PieceKind::Control)
            .map(|piece| piece.piece.clone())
            .collect();
        let unk_piece = model
            .pieces
            .iter()
            .find(|piece| piece.kind == PieceKind::Unknown)
            .map(|piece| piece.piece.clone());
        Ok(Self {
            control,
            unk_piece,
            unk_surface: model.unk_surface,
        })
    }

    /// Control pieces vanish, the unknown piece shows as `unk_surface`, and every other piece —
    /// including one the target model lacks — is written as it is.
    fn surface<'a>(&'a self, piece: &'a str) -> Cow<'a, str> {
        if self.control.contains(piece) {
            Cow::Borrowed("")
        } else if self.unk_piece.as_deref() == Some(piece) {
            Cow::Borrowed(self.unk_surface.as_str())
        } else {
            Cow::Borrowed(piece)
        }
    }
}

/// FNV-1a for the piece table: keys are short strings hashed once per lattice edge, where the
/// default SipHash costs more than the lookup itself; the keys come from the model file, so
/// hash flooding is no concern.
#[derive(Default, Clone, Copy)]
struct BuildFnv;

struct Fnv(u64);

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a SentencePiece ModelProto
//
// A minimal protobuf reader for the handful of fields used here, instead of a dependency:
// `prost` would need a derive crate and `sentencepiece-model` pulls a protobuf compiler into the
// build, both for three messages and ten scalar fields. Every length is checked against the buffer,
// so a garbage file gives an error, never a panic.

const MODEL_TYPE_UNIGRAM: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceKind {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

struct SpmPiece {
    piece: String,
    score: f32,
    kind: PieceKind,
}

struct SpmModel {
    pieces: Vec<SpmPiece>,
    model_type: u64,
    byte_fallback: bool,
    treat_whitespace_as_suffix: bool,
    unk_surface: String,
    charsmap: Option<CharsMap>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    has_denormalizer: bool,
}

impl SpmModel {
    fn load(path: &Path) -> Result<Self, EngineError> {
        let bytes = read_model_file(path)?;
        Self::parse(&bytes).map_err(|problem| EngineError::ModelFile {
            path: PathBuf::from(path),
            problem: format!("not a SentencePiece model ({problem})"),
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut model = SpmModel {
            pieces: Vec::new(),
            model_type: MODEL_TYPE_UNIGRAM,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            unk_surface: " \u{2047} ".into(),
            charsmap: None,
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
            has_denormalizer: false,
        };
        let mut charsmap_blob: Option<&[u8]> = None;
        for field in Fields::new(bytes) {
            let (number, value) = field?;
            match (number, value) {
                (1, Value::Bytes(piece)) => model.pieces.push(parse_piece(piece)?),
                (2, Value::Bytes(trainer)) => {
                    for field in Fields::new(trainer) {
                        match field? {
                            (3, Value::Varint(v)) => model.model_type = v,
                            (24, Value::Varint(v)) => model.treat_whitespace_as_suffix = v != 0,
                            (35, Value::Varint(v)) => model.byte_fallback = v != 0,
                            (44, Value::Bytes(s)) => model.unk_surface = utf8(s, "unk_surface")?,
                            _ => {}
                        }
                    }
                }
                (3, Value::Bytes(normalizer)) => {
                    for field in Fields::new(normalizer) {
                        match field? {
                            (2, Value::Bytes(blob)) => charsmap_blob = Some(blob),
                            (3, Value::Varint(v)) => model.add_dummy_prefix = v != 0,
                            (4, Value::Varint(v)) => model.remove_extra_whitespaces = v != 0,
                            (5, Value::Varint(v)) => model.escape_whitespaces = v != 0,
                            _ => {}
                        }
                    }
                }
                (5, Value::Bytes(denormalizer)) => {
                    for field in Fields::new(denormalizer) {
                        if let (2, Value::Bytes(blob)) = field? {
                            model.has_denormalizer |= !blob.is_empty();
                        }
                    }
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err("it has no pieces".into());
        }
        if let Some(blob) = charsmap_blob.filter(|blob| !blob.is_empty()) {
            model.charsmap =
                Some(CharsMap::parse(blob).ok_or("its precompiled_charsmap is corrupt")?);
        }
        Ok(model)
    }
}

fn parse_piece(bytes: &[u8]) -> Result<SpmPiece, String> {
    let mut piece = None;
    let mut score = 0.0;
    let mut kind = PieceKind::Normal;
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Bytes(text)) => piece = Some(utf8(text, "piece")?),
            (2, Value::Fixed32(bits)) => score = f32::from_bits(bits),
            (3, Value::Varint(v)) => {
                kind = match v {
                    1 => PieceKind::Normal,
                    2 => PieceKind::Unknown,
                    3 => PieceKind::Control,
                    4 => PieceKind::UserDefined,
                    5 => PieceKind::Unused,
                    6 => PieceKind::Byte,
                    other => return Err(format!("unknown piece type {other}")),
                }
            }
            _ => {}
        }
    }
    match piece {
        Some(piece) if !piece.is_empty() => Ok(SpmPiece { piece, score, kind }),
        _ => Err("a piece has no text".into()),
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterates over the fields of one protobuf message: `(field number, value)`.
struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.rest.split_first().ok_or("truncated varint")?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < len {
            return Err("a field runs past the end of the file".into());
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err("field number 0".into());
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let bytes = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let field = self.field();
        self.failed = field.is_err();
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_reader_rejects_truncated_input() {
        // Field 1, length-delimited, claims 5 bytes but has 2.
        assert!(SpmModel::parse(&[0x0a, 0x05, 0x0a, 0x01]).is_err());
        assert!(SpmModel::parse(b"").is_err());
        assert!(SpmModel::parse(&[0xff; 16]).is_err());
    }

    #[test]
    fn clean_up_maps_positions() {
        let (text, map) = clean_up_tokenization("Hi , it 's me .");
        assert_eq!(text, "Hi, it's me.");
        assert_eq!(map.len(), "Hi , it 's me .".len() + 1);
        assert_eq!(map["Hi , it 's me .".len()], text.len());
        // "me" starts at byte 11 in the input and byte 9 in the output.
        assert_eq!(map[11], 9);
    }

    #[test]
    fn python_whitespace_includes_separators() {
        assert!(is_python_whitespace('\u{1f}'));
        assert!(is_python_whitespace('\u{a0}'));
        assert!(!is_python_whitespace('x'));
    }
}
