//! de2en translates German news articles into English on the user's own machine.
//!
//! ```text
//! read file ──► document::prepare ──► segment ──► engine.translate ──► PreparedDocument::finish ──► write
//!  (bytes,       (blocks, byte spans,    (German     (Marian: tokenise,     (gaps copied verbatim,      (atomic)
//!   encoding)     gaps and sentences)     rules)      batch, beam search)    quotes restored)
//! ```
//!
//! A text is `gap sentence gap … sentence gap`; everything that is not a sentence lives in gaps
//! and is copied byte for byte, so an engine that returns its input unchanged reproduces the input.

pub mod batch;
pub mod cli;
pub mod document;
pub mod engine;
pub mod input;
pub mod models;
pub mod output;
pub mod pipeline;
pub mod quotes;
pub mod segment;
pub mod span;
pub mod walk;

pub use document::{Format, PreparedDocument, TranslatedDocument};
pub use engine::{Engine, EngineError, Translation};
pub use span::ByteSpan;
