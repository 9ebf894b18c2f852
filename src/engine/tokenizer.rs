//! Marian's SentencePiece tokenizer on the `tokenizers` crate: `source.spm` + `vocab.json` in,
//! `target.spm` out.
