//! Tokens that come out verbatim: URLs, e-mail addresses, @handles.
//!
//! A model would "translate" them (split them, drop dots, change case), so they are kept out of its
//! input: at a sentence's edge they move to the gap, inside a sentence they become placeholders.

use std::sync::LazyLock;

use regex::Regex;

use super::ByteSpan;

static TOKEN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\x22“”„«»]+",
        r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
        r"|(?:^|\B)@\w{2,}",
    ))
    .ok()
});

/// Spans of pass-through tokens in `text`, in order.
pub(crate) fn find(text: &str) -> Vec<ByteSpan> {
    let Some(regex) = TOKEN.as_ref() else {
        return Vec::new();
    };
    regex
        .find_iter(text)
        .map(|m| {
            // Sentence punctuation after a URL is not part of it; neither is an unopened bracket.
            let mut token = m.as_str();
            loop {
                let trimmed =
                    token.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '’', '…']);
                let trimmed = if trimmed.ends_with(')') && !trimmed.contains('(') {
                    &trimmed[..trimmed.len() - 1]
                } else {
                    trimmed
                };
                if trimmed.len() == token.len() {
                    break;
                }
                token = trimmed;
            }
            ByteSpan::new(m.start(), m.start() + token.len())
        })
        .filter(|span| !span.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<&str> {
        find(text).iter().map(|s| &text[s.start..s.end]).collect()
    }

    #[test]
    fn urls_and_addresses() {
        assert_eq!(
            tokens("Siehe https://example.org/a_(b)?x=1. Oder www.tagesschau.de, info@example.de!"),
            vec![
                "https://example.org/a_(b)?x=1",
                "www.tagesschau.de",
                "info@example.de"
            ]
        );
        assert_eq!(tokens("(mehr auf https://x.de/y)"), vec!["https://x.de/y"]);
        assert_eq!(tokens("Folgen Sie @tagesschau."), vec!["@tagesschau"]);
    }
}
