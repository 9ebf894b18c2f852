#!/usr/bin/env python3
"""Golden outputs for de2en's search (src/engine/decode.rs) from transformers' own `generate`.

The "model" is a deterministic table: the next-token logits are a hash of (sentence id, decoder
prefix), computed identically here and in tests/search.rs. Running transformers' real greedy and
beam search over it, with the processors Marian uses (pad banned, EOS forced at the length limit,
min_new_tokens; and no_repeat_ngram_size, the output guard's retry), pins down every detail of
the search independently of any neural network.

The table avoids ties (random 24-bit logits), because `torch.topk` gives no order for equal values.

Usage: python scripts/search_golden.py [tests/fixtures/search/golden.json]
Needs torch 2.4 and transformers 4.57.1 (scripts/requirements.txt).
"""

import json
import sys

import torch
import transformers
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def table_row(seed: int, vocab: int, eos: int, sentence: int, prefix: list[int]) -> list[float]:
    """Logits for the next token after `prefix` (decoder start token included), as f64 values
    that are then rounded to f32 (Rust does the same arithmetic in the same order)."""
    h = splitmix64(seed ^ sentence)
    for token in prefix:
        h = splitmix64(h ^ token)
    scale = 2.0 + float(h >> 61)  # 2..9: some rows peaked, some flat
    generated = len(prefix) - 1
    slope = 0.4 + 0.2 * float(sentence % 4)  # sentences end at different lengths
    row = []
    for token in range(vocab):
        r = splitmix64(h + token + 1)
        logit = float(r >> 40) * (scale / 16777216.0)
        if token == eos:
            logit = logit + slope * float(generated) - 3.0
        row.append(logit)
    return row


class TableConfig(PretrainedConfig):
    model_type = "de2en-search-table"

    def __init__(self, vocab_size=16, table_seed=1, table_eos=0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.table_seed = table_seed
        self.table_eos = table_eos


class TableModel(PreTrainedModel, GenerationMixin):
    config_class = TableConfig

    def __init__(self, config):
        super().__init__(config)
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, sentence_ids=None, attention_mask=None, **kwargs):
        batch, length = input_ids.shape
        cfg = self.config
        logits = torch.zeros(batch, length, cfg.vocab_size, dtype=torch.float32)
        for b in range(batch):
            row = table_row(
                cfg.table_seed, cfg.vocab_size, cfg.table_eos, int(sentence_ids[b]), input_ids[b].tolist()
            )
            values = torch.tensor(row, dtype=torch.float64).to(torch.float32)
            assert len(set(values.tolist())) == cfg.vocab_size, "tie inside a table row"
            logits[b, -1] = values
        return CausalLMOutput(logits=logits)

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        # No cache: the table reads the whole prefix every step.
        return {"input_ids": input_ids, "sentence_ids": kwargs["sentence_ids"]}


def token_logprobs(model, sentence, start, tokens):
    cfg = model.config
    out = []
    prefix = [start]
    for token in tokens:
        row = torch.tensor(
            table_row(cfg.table_seed, cfg.vocab_size, cfg.table_eos, sentence, prefix), dtype=torch.float64
        ).to(torch.float32)
        out.append(float(torch.log_softmax(row, dim=-1)[token]))
        prefix.append(token)
    return out


def trim(sequence, eos, max_new_tokens):
    generated = sequence[1:]
    if eos in generated:
        return generated[: generated.index(eos) + 1]
    return generated[:max_new_tokens]


def run(model, case, sentences):
    o = case["options"]
    input_ids = torch.full((len(sentences), 1), o["decoder_start_token_id"], dtype=torch.long)
    kwargs = dict(
        num_beams=o["num_beams"],
        max_new_tokens=o["max_new_tokens"],
        min_new_tokens=o["min_new_tokens"] or None,
        length_penalty=o["length_penalty"],
        bad_words_ids=o["bad_words_ids"] or None,
        eos_token_id=o["eos_token_id"],
        pad_token_id=o["pad_token_id"],
        forced_eos_token_id=o["forced_eos_token_id"],
        no_repeat_ngram_size=o["no_repeat_ngram_size"] or None,
        early_stopping=False,
        do_sample=False,
        num_return_sequences=1,
        use_cache=False,
        return_dict_in_generate=True,
        output_scores=True,
    )
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            sentence_ids=torch.tensor(sentences, dtype=torch.long),
            **kwargs,
        )
    results = []
    for i, sentence in enumerate(sentences):
        tokens = trim(out.sequences[i].tolist(), o["eos_token_id"], o["max_new_tokens"])
        result = {
            "sentence": sentence,
            "token_ids": tokens,
            "token_logprobs": token_logprobs(model, sentence, o["decoder_start_token_id"], tokens),
        }
        if o["num_beams"] > 1:
            result["score"] = float(out.sequences_scores[i])
        results.append(result)
    return results


def options(**overrides):
    base = dict(
        num_beams=1,
        max_new_tokens=12,
        min_new_tokens=0,
        length_penalty=1.0,
        bad_words_ids=[[15]],
        eos_token_id=0,
        pad_token_id=15,
        decoder_start_token_id=15,
        forced_eos_token_id=0,
        no_repeat_ngram_size=0,
    )
    base.update(overrides)
    return base


CASES = [
    ("greedy", 16, 1, options()),
    ("greedy_min_new_tokens", 16, 2, options(min_new_tokens=5)),
    ("greedy_short_no_forced_eos", 16, 3, options(max_new_tokens=4, forced_eos_token_id=None)),
    ("beam4", 16, 1, options(num_beams=4)),
    ("beam4_wide_vocab", 64, 4, options(num_beams=4, bad_words_ids=[[63]], pad_token_id=63, decoder_start_token_id=63)),
    ("beam3_penalty_0.6", 16, 5, options(num_beams=3, length_penalty=0.6)),
    ("beam4_penalty_2", 16, 6, options(num_beams=4, length_penalty=2.0)),
    ("beam5_penalty_0", 16, 7, options(num_beams=5, length_penalty=0.0)),
    ("beam4_penalty_negative", 16, 8, options(num_beams=4, length_penalty=-0.7)),
    ("beam4_min_new_tokens", 16, 9, options(num_beams=4, min_new_tokens=6, max_new_tokens=9)),
    ("beam2_forced_eos_at_3", 16, 10, options(num_beams=2, max_new_tokens=3)),
    ("beam4_no_forced_eos", 16, 11, options(num_beams=4, max_new_tokens=5, forced_eos_token_id=None)),
    (
        "beam4_bad_sequences",
        16,
        12,
        options(num_beams=4, bad_words_ids=[[15], [0], [3, 5], [15, 7], [2, 4, 6]]),
    ),
    ("beam6_long", 32, 13, options(num_beams=6, max_new_tokens=20, bad_words_ids=[[31]], pad_token_id=31, decoder_start_token_id=31)),
    ("beam1_max1", 16, 14, options(num_beams=2, max_new_tokens=1)),
    # The output guard's retry search: no n-gram twice, over a vocabulary small enough that bans
    # bite. In the first two the start token 7 is not banned, so it can come again, and n-grams
    # that begin with it (transformers counts it as the first token) ban their continuation.
    ("greedy_no_repeat_2_start_token", 8, 15, options(no_repeat_ngram_size=2, bad_words_ids=[[6]], pad_token_id=7, decoder_start_token_id=7)),
    ("beam3_no_repeat_2_start_token", 8, 16, options(num_beams=3, no_repeat_ngram_size=2, bad_words_ids=[[6]], pad_token_id=7, decoder_start_token_id=7)),
    ("beam4_no_repeat_3", 8, 17, options(num_beams=4, no_repeat_ngram_size=3, bad_words_ids=[[7]], pad_token_id=7, decoder_start_token_id=7)),
    ("greedy_no_repeat_1", 8, 18, options(no_repeat_ngram_size=1, max_new_tokens=6, bad_words_ids=[[7]], pad_token_id=7, decoder_start_token_id=7)),
]

SENTENCES = [0, 1, 2, 3, 4, 5, 6, 7]


def main():
    # The table model is "decoder-only" with a pad start token; the padding-side warning is noise.
    transformers.logging.set_verbosity_error()
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/search/golden.json"
    torch.manual_seed(0)
    cases = []
    for name, vocab, seed, opts in CASES:
        model = TableModel(TableConfig(vocab_size=vocab, table_seed=seed, table_eos=opts["eos_token_id"]))
        model.eval()
        batched = run(model, {"options": opts}, SENTENCES)
        for sentence, expected in zip(SENTENCES, batched):
            alone = run(model, {"options": opts}, [sentence])[0]
            assert alone["token_ids"] == expected["token_ids"], f"{name}: transformers is batch-dependent"
        cases.append({"name": name, "vocab_size": vocab, "table_seed": seed, "options": opts, "results": batched})
        print(name, [len(r["token_ids"]) for r in batched], file=sys.stderr)
    with open(path, "w") as f:
        json.dump(
            {
                "generator": "scripts/search_golden.py",
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                "cases": cases,
            },
            f,
            indent=1,
        )
        f.write("\n")


if __name__ == "__main__":
    main()
