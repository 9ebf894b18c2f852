//! An engine that returns its input unchanged: the identity round trip of the document model is
//! tested with it, and `--engine identity` lets users check segmentation without a model.

use super::{Engine, EngineError, Translation};

#[derive(Debug, Default, Clone)]
pub struct IdentityEngine;

impl Engine for IdentityEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        Ok(sentences
            .iter()
            .map(|s| Translation {
                text: (*s).to_owned(),
                token_ids: Vec::new(),
                sum_logprob: 0.0,
                mean_logprob: 0.0,
                alignment: None,
                reached_length_limit: false,
                flags: Vec::new(),
            })
            .collect())
    }

    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }

    fn max_source_tokens(&self) -> usize {
        512
    }
}
