//! Marian (opus-mt) encoder-decoder on candle, with an explicit KV cache and padding masks.
