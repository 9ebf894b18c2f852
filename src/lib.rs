//! de2en translates German news articles into English on the user's own machine.
//!
//! ```text
//! walk::plan ──► pipeline::run ──► document ──► engine ──► document::align ──► output
//!  (inputs →      (windows of      (segment,    (Marian)   (gaps copied,        (atomic
//!   jobs)          files, dedup)    quotes)                 quotes restored)     writes)
//! ```
//!
//! Per file: read ──► `document::prepare` ──► `segment` ──► `Engine::translate` ──►
//! `PreparedDocument::finish` ──► write. A text is `gap sentence gap … sentence gap`; everything
//! that is not a sentence lives in gaps and is copied byte for byte, so an engine that returns its
//! input unchanged reproduces the input. Dependencies point down this flow only (checked by
//! `tests/layering.rs`); `span` holds the `ByteSpan` every stage shares.

pub mod cli;
pub mod document;
pub mod durable;
pub mod engine;
pub mod flags;
pub mod glossary;
pub mod guard;
pub mod input;
pub mod memory;
pub mod models;
pub mod output;
pub mod pipeline;
pub mod quotes;
pub mod review;
pub mod segment;
pub mod span;
pub mod walk;

pub use document::{Format, PreparedDocument, TranslatedDocument};
pub use engine::{Engine, EngineError, Translation};
pub use span::ByteSpan;
