//! The output guard: catches what neural MT gets badly wrong, tries again, and says so.
//!
//! Every NMT model sometimes loops ("the the the …"), runs to the length limit, drops half a
//! sentence, or loses a number or a name — most often on fragments, all-caps labels, lists and
//! numbers, which news pages are full of. de2en translates thousands of articles unattended, so
//! each translation is checked after decoding by cheap detectors (pure functions of the source
//! sentence and the `Translation`, no second model). With [`GuardMode::Retry`] the sentences that
//! fail are decoded again, all of one engine call together, with a stronger search
//! ([`Engine::translate_with`]: a larger beam and transformers' `no_repeat_ngram_size`); per
//! sentence the candidate that passes the checks — or, failing that, fails fewest — with the best
//! score wins. Nothing is ever replaced by the German text; what still fails keeps its flags, which
//! `--format json` lists per segment and the run summary counts.
//!
//! [`Guarded`] wraps any engine and is itself an `Engine`, so the pipeline, its batching and its
//! de-duplication work on the final, guarded translations without knowing about the guard.

use crate::engine::{DecodeOverride, Engine, EngineError, Translation, TranslationFlag};

/// What the guard does (`--guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GuardMode {
    /// No checks: the engine's exact output (token for token what transformers gives).
    Off,
    /// Check every translation and flag problems (in --format json and the summary), change
    /// nothing.
    Detect,
    /// Check, and decode flagged sentences again with a larger beam and no repeated 3-grams;
    /// keep the better translation.
    #[default]
    Retry,
}

/// Thresholds of the detectors and the retry's search.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    pub mode: GuardMode,
    /// `low-score` below this mean log-probability per generated token.
    pub min_mean_logprob: f32,
    /// `length-ratio` outside this band of target characters per source character.
    pub length_ratio: (f32, f32),
    /// The ratio is only judged for sources of at least this many characters: a short fragment's
    /// translation may legitimately be much longer or shorter ("Ja." → "Yes.").
    pub min_ratio_chars: usize,
    /// `repetition` when a word n-gram repeats consecutively at least this often (and more often
    /// than anything repeats in the source).
    pub min_repeats: usize,
    /// The retry's search.
    pub retry: DecodeOverride,
}

impl Default for GuardConfig {
    /// The thresholds chosen from the measurements in the README ("Output guard").
    fn default() -> Self {
        GuardConfig {
            mode: GuardMode::Retry,
            min_mean_logprob: -3.0,
            length_ratio: (0.5, 2.0),
            min_ratio_chars: 20,
            min_repeats: 3,
            retry: DecodeOverride {
                min_beam_size: 5,
                no_repeat_ngram_size: 3,
            },
        }
    }
}

/// Every detector on one translation, flags in their canonical order (no `retried`).
pub fn detect(
    source: &str,
    translation: &Translation,
    config: &GuardConfig,
) -> Vec<TranslationFlag> {
    let target = translation.text.as_str();
    let mut flags = Vec::new();
    if translation.reached_length_limit
        || repetition(source, target, config.min_repeats)
        || token_loop(source, &translation.token_ids, config.min_repeats + 1)
    {
        flags.push(TranslationFlag::Repetition);
    }
    if length_ratio_outside(source, target, config.length_ratio, config.min_ratio_chars) {
        flags.push(TranslationFlag::LengthRatio);
    }
    if !lost_numbers(source, target).is_empty() {
        flags.push(TranslationFlag::NumberLost);
    }
    if !lost_names(source, target).is_empty() {
        flags.push(TranslationFlag::NameLost);
    }
    // An engine without scores (identity) reports no tokens: nothing to judge.
    if !translation.token_ids.is_empty() && translation.mean_logprob < config.min_mean_logprob {
        flags.push(TranslationFlag::LowScore);
    }
    flags
}

/// Lower-case words (letters and digits), punctuation dropped: "No, no, no!" → no no no.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The most consecutive occurrences of any n-gram (n = 1…4) in `items`: the words "in the in the
/// in the" give 3, a sequence without adjacent repeats 1 (0 when empty).
pub fn max_consecutive_repeats<T: PartialEq>(words: &[T]) -> usize {
    let mut best = usize::from(!words.is_empty());
    for n in 1..=4 {
        for start in 0..words.len().saturating_sub(n) {
            let gram = &words[start..start + n];
            let mut count = 1;
            while words
                .get(start + count * n..start + (count + 1) * n)
                .is_some_and(|next| next == gram)
            {
                count += 1;
            }
            best = best.max(count);
        }
    }
    best
}

/// A word or phrase repeated at least `min_repeats` times in a row in the translation, more often
/// than anything repeats in the source: "Nein, nein, nein!" → "No, no, no!" is faithful, "Die
/// Polizei." → "The police police police police" is a loop.
pub fn repetition(source: &str, target: &str, min_repeats: usize) -> bool {
    let in_target = max_consecutive_repeats(&words(target));
    in_target >= min_repeats && in_target > max_consecutive_repeats(&words(source))
}

/// A loop inside words, which word n-grams cannot see ("policeiceiceice…"): the generated token
/// ids repeat an n-gram at least `min_repeats` times in a row, more often than any source word
/// n-gram repeats.
pub fn token_loop(source: &str, token_ids: &[u32], min_repeats: usize) -> bool {
    let in_target = max_consecutive_repeats(token_ids);
    in_target >= min_repeats && in_target > max_consecutive_repeats(&words(source))
}

/// Target characters per source character outside `band`, judged only for sources of at least
/// `min_chars` characters; an empty translation of a source with letters is always outside.
pub fn length_ratio_outside(
    source: &str,
    target: &str,
    band: (f32, f32),
    min_chars: usize,
) -> bool {
    let source_chars = source.trim().chars().count();
    let target_chars = target.trim().chars().count();
    if target_chars == 0 {
        return source.chars().any(char::is_alphabetic);
    }
    if source_chars < min_chars {
        return false;
    }
    let ratio = target_chars as f32 / source_chars as f32;
    ratio < band.0 || ratio > band.1
}

/// A number's digits without separators or leading zeros: German 1.000,5 and English 1,000.5 are
/// both "10005", 9.30 and 9:30 both "930".
fn number_key(numeral: &str) -> String {
    let digits: String = numeral.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Numerals of `text`: runs of ASCII digits, with `.`, `,` or `:` allowed between two digits.
/// With `skip_codes`, a numeral glued to a letter before it (G20, A380, a placeholder ZX1) is left
/// to the name check.
fn numerals(text: &str, skip_codes: bool) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_digit()
                || (matches!(bytes[i], b'.' | b',' | b':')
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                    && bytes[i - 1].is_ascii_digit()))
        {
            i += 1;
        }
        let glued = text[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphabetic);
        if !(skip_codes && glued) {
            found.push(&text[start..i]);
        }
    }
    found
}

/// Small numbers a translation may spell out ("2 Kinder" → "two children").
const NUMBER_WORDS: [&str; 13] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];

/// The source's numbers that the translation lacks, compared by their digits so that German and
/// English separators agree ("1.000 Euro" → "1,000 euros" keeps its number).
pub fn lost_numbers<'s>(source: &'s str, target: &str) -> Vec<&'s str> {
    let kept: Vec<String> = numerals(target, false)
        .into_iter()
        .map(number_key)
        .collect();
    let target_words = words(target);
    numerals(source, true)
        .into_iter()
        .filter(|numeral| {
            let key = number_key(numeral);
            let spelled = key
                .parse::<usize>()
                .ok()
                .and_then(|n| NUMBER_WORDS.get(n))
                .is_some_and(|word| target_words.iter().any(|w| w == word));
            !kept.contains(&key) && !spelled
        })
        .collect()
}

/// Tokens that must come through unchanged: URLs, e-mail addresses, @handles.
fn is_verbatim_token(token: &str) -> bool {
    token.contains("://")
        || token.starts_with("www.")
        || (token.starts_with('@') && token.len() > 2)
        || token
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
}

/// A word a model should copy, not translate: an acronym or a name with inner capitals (EU, SPD,
/// AfD, NATO, GmbH) or letters mixed with digits (G20, A380, a placeholder like ZX1).
fn is_name_like(word: &str, shouting: bool) -> bool {
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let upper = word.chars().filter(|c| c.is_uppercase()).count();
    let digits = word.chars().filter(char::is_ascii_digit).count();
    if letters > 0 && digits > 0 {
        return true;
    }
    // In a headline or label written in capitals every word looks like an acronym.
    upper >= 2 && !shouting && letters <= 8
}

/// The source's name-like tokens (see `is_name_like`, `is_verbatim_token`) that the translation
/// lacks. Names are compared without case and may come back shortened ("USA" → "US") or
/// extended ("EU" → "EU's"); URLs must come back exactly. Ordinary capitalised words are not
/// checked: in German every noun is capitalised and most are translated.
pub fn lost_names<'s>(source: &'s str, target: &str) -> Vec<&'s str> {
    let alphabetic: Vec<&str> = source
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .collect();
    let capitals = alphabetic
        .iter()
        .filter(|w| !w.chars().any(char::is_lowercase))
        .count();
    let shouting = capitals * 2 > alphabetic.len();
    let target_words = words(target);
    let mut lost = Vec::new();
    for token in source.split_whitespace() {
        let token = token.trim_matches(|c: char| !(c.is_alphanumeric() || c == '@' || c == '/'));
        if token.is_empty() {
            continue;
        }
        if is_verbatim_token(token) {
            if !target.contains(token) {
                lost.push(token);
            }
            continue;
        }
        // Compounds: "SPD-Chef" checks "SPD"; "COVID-19" checks "COVID" (19 is a number).
        for part in token.split(['-', '/']) {
            if part.chars().all(|c| c.is_ascii_digit()) || !is_name_like(part, shouting) {
                continue;
            }
            let key = part.to_lowercase();
            let found = target.to_lowercase().contains(&key)
                || target_words
                    .iter()
                    .any(|w| w.len() >= 2 && (key.starts_with(w.as_str()) || w.starts_with(&key)));
            if !found {
                lost.push(part);
            }
        }
    }
    lost
}

/// Any engine, checked and (in retry mode) corrected.
pub struct Guarded<'a> {
    inner: &'a dyn Engine,
    config: GuardConfig,
}

impl<'a> Guarded<'a> {
    pub fn new(inner: &'a dyn Engine, config: GuardConfig) -> Self {
        Guarded { inner, config }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }
}

/// Fewer flags first, then the better score: what the guard keeps of two candidates.
fn better(candidate: &Translation, current: &Translation) -> bool {
    match candidate.flags.len().cmp(&current.flags.len()) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => candidate.mean_logprob > current.mean_logprob,
    }
}

impl Engine for Guarded<'_> {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        let mut translations = self.inner.translate(sentences)?;
        if self.config.mode == GuardMode::Off {
            return Ok(translations);
        }
        for (sentence, translation) in sentences.iter().zip(&mut translations) {
            translation.flags = detect(sentence, translation, &self.config);
        }
        if self.config.mode == GuardMode::Detect {
            return Ok(translations);
        }
        let failed: Vec<usize> = (0..translations.len())
            .filter(|&i| !translations[i].flags.is_empty())
            .collect();
        if failed.is_empty() {
            return Ok(translations);
        }
        // One call for all of them: the retry is batched like the first pass.
        let texts: Vec<&str> = failed.iter().map(|&i| sentences[i]).collect();
        let retries = match self.inner.translate_with(&texts, &self.config.retry) {
            Ok(retries) if retries.len() == texts.len() => retries,
            Ok(retries) => {
                return Err(EngineError::Decode(format!(
                    "the retry returned {} translations for {} sentences",
                    retries.len(),
                    texts.len()
                )));
            }
            // An engine with one way to translate: the flags stand.
            Err(EngineError::Unsupported) => return Ok(translations),
            Err(error) => return Err(error),
        };
        for (&i, mut retry) in failed.iter().zip(retries) {
            retry.flags = detect(sentences[i], &retry, &self.config);
            if better(&retry, &translations[i]) {
                translations[i] = retry;
            }
            translations[i].flags.push(TranslationFlag::Retried);
        }
        Ok(translations)
    }

    fn translate_with(
        &self,
        sentences: &[&str],
        decode: &DecodeOverride,
    ) -> Result<Vec<Translation>, EngineError> {
        self.inner.translate_with(sentences, decode)
    }

    fn source_token_count(&self, sentence: &str) -> usize {
        self.inner.source_token_count(sentence)
    }

    fn max_source_tokens(&self) -> usize {
        self.inner.max_source_tokens()
    }
}
