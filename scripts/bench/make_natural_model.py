#!/usr/bin/env python3
"""Make the natural-length variant of the benchmark model: outputs that end by themselves.

The full-size random model (make_full_model.py) never emits </s> on its own, so bench.py forces
every hypothesis to exactly 32 tokens. Real translations end at different lengths, which is what
batch compaction and early-finishing beams are for (issue 25, item 4). This script takes that
model and reshapes a handful of weights so that the </s> logit rises with the output position and
falls with the source length; greedy outputs then end after about half as many tokens as the
source has, plus a few, with noise on top -- between ~10 and ~60 tokens on sentences.de.txt. The
shapes, and so the work per token, are exactly the base model's: same config, same file layout,
an ordinary MarianMTModel checkpoint that transformers, CTranslate2 and de2en load unchanged.

How (every other weight stays random):
- Two channels of the residual stream carry only positions. The sinusoidal position table is
  fixed, so its column POS_DIM (sin(pos/100), rising over 0..157) is a ramp, and SRC_DIM
  (sin(pos/284)) another. Their embedding columns are zeroed (the tokens add nothing there; only
  </s> keeps a small value in POS_DIM, its read-out) and no sub-layer writes into them (rows of
  out_proj / fc2 and their biases zeroed), so between layer norms they carry the position alone.
- The first decoder layer's cross-attention head 0 gets a zero query, so it attends uniformly to
  the source; its value reads SRC_DIM and its output writes -WRITE x that into POS_DIM. The mean
  of a rising ramp over the source grows with the source length: POS_DIM of the decoder's last
  hidden state becomes roughly a*t - b*L + c (t the output position, L the source length).
- The last decoder layer norm multiplies POS_DIM by GAIN, and the tied output projection's </s>
  row reads it (</s> is the only token with a non-zero POS_DIM column), so the </s> logit is
  GAIN*EOS_READ*(a*t - b*L + c) + EOS_BIAS + the random rest; once it tops the random logits of
  the other 58 100 tokens, the output ends.
- final_logits_bias is -100 on the fixture's own SentencePiece pieces (ids 1..855), so outputs
  consist of whole-word filler pieces and </s>: the number of words in an output plus one (the
  </s>) is its token count, for engines that give only text (de2en).
The source's </s> embedding gets EOS_READ * sqrt(512) in POS_DIM through the tied embedding;
that only touches the encoder at one position of a random model.

Writes (git-ignored, never commit):
    scripts/bench/out/opus-mt-de-en-natural/         model.safetensors + the base model's config files
    scripts/bench/out/ct2-natural-fp32/, ct2-natural-int8/   CTranslate2 conversions (unless --no-ct2)

    .venv/bin/python scripts/bench/make_natural_model.py            # needs out/opus-mt-de-en-random
    .venv/bin/python scripts/bench/make_natural_model.py --check    # + length histogram (transformers)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from transformers import MarianMTModel, MarianTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
BASE_DIR = OUT / "opus-mt-de-en-random"
NATURAL_DIR = OUT / "opus-mt-de-en-natural"
CT2_NATURAL = {"ct2-natural-fp32": None, "ct2-natural-int8": "int8"}

EOS = 0
# The fixture tokenizer's own pieces are ids 0..855 (</s>, <unk>, then SentencePiece pieces); the
# fillers that pad the vocabulary to 58 101 start at 856 and each decodes to one word.
FIRST_FILLER = 856
# Columns of the sinusoidal table: column i < 256 is sin(pos / 10000^(2i/512)).
POS_DIM = 128  # sin(pos / 100): rises for pos 0..157
SRC_DIM = 157  # sin(pos / 284): rises for pos 0..446
# Calibrated with --check on the first 100 and 500 lines of sentences.de.txt (see README.md).
WRITE = 1.7
GAIN = 225.0
EOS_READ = 0.05
EOS_BIAS = 0.0


def shape(model: MarianMTModel, write: float, gain: float, eos_read: float, eos_bias: float) -> None:
    """Reshape the weights in place as the module docstring says."""
    core = model.model
    with torch.no_grad():
        emb = core.shared.weight  # tied: encoder and decoder input, and the output projection
        emb[:, POS_DIM] = 0.0
        emb[:, SRC_DIM] = 0.0
        emb[EOS, POS_DIM] = eos_read
        for layer in core.encoder.layers:
            for lin in (layer.self_attn.out_proj, layer.fc2):
                lin.weight[SRC_DIM, :] = 0.0
                lin.bias[SRC_DIM] = 0.0
        for layer in core.decoder.layers:
            for lin in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                lin.weight[POS_DIM, :] = 0.0
                lin.bias[POS_DIM] = 0.0
        head = core.decoder.config.d_model // core.decoder.config.decoder_attention_heads
        cross = core.decoder.layers[0].encoder_attn
        cross.q_proj.weight[:head, :] = 0.0  # head 0: zero query, uniform attention over the source
        cross.q_proj.bias[:head] = 0.0
        cross.v_proj.weight[0, :] = 0.0
        cross.v_proj.weight[0, SRC_DIM] = 1.0
        cross.v_proj.bias[0] = 0.0
        cross.out_proj.weight[POS_DIM, 0] = -write
        last_norm = core.decoder.layers[-1].final_layer_norm
        last_norm.weight[POS_DIM] = gain
        last_norm.bias[POS_DIM] = 0.0
        bias = model.final_logits_bias
        bias.zero_()
        bias[0, 1:FIRST_FILLER] = -100.0
        bias[0, EOS] = eos_bias


def lengths_with_transformers(model, tok, sentences: list[str], beam: int, max_new: int, batch: int) -> list[int]:
    """Generated tokens per sentence, </s> included (as bench.py counts them)."""
    pad = model.config.pad_token_id
    out = []
    with torch.inference_mode():
        for i in range(0, len(sentences), batch):
            enc = tok(sentences[i : i + batch], return_tensors="pt", padding=True)
            gen = model.generate(**enc, num_beams=beam, max_new_tokens=max_new)
            for row, text in zip(gen[:, 1:], tok.batch_decode(gen, skip_special_tokens=True)):
                ids = row.tolist()
                n = ids.index(EOS) + 1 if EOS in ids else sum(t != pad for t in ids)
                if n != len(text.split()) + 1 and EOS in ids:
                    raise AssertionError(f"token count {n} is not words + 1 for {text!r}: ids {ids[:n]}")
                out.append(n)
    return out


def describe(lengths: list[int], max_new: int) -> str:
    s = sorted(lengths)
    n = len(s)
    q = statistics.quantiles(s, n=10) if n > 1 else [s[0]] * 9
    hist = {}
    for x in s:
        hist[10 * (x // 10)] = hist.get(10 * (x // 10), 0) + 1
    buckets = " ".join(f"{k}-{k + 9}:{v}" for k, v in sorted(hist.items()))
    return (
        f"n {n}, mean {statistics.mean(s):.1f}, p10 {q[0]:.0f}, median {statistics.median(s):.0f}, "
        f"p90 {q[8]:.0f}, min {s[0]}, max {s[-1]}, at the limit {sum(x >= max_new for x in s)}; {buckets}"
    )


def check(model_dir: Path, n: int, beams: list[int], max_new: int) -> None:
    tok = MarianTokenizer.from_pretrained(model_dir)
    model = MarianMTModel.from_pretrained(model_dir).eval()
    sentences = (HERE / "sentences.de.txt").read_text(encoding="utf-8").splitlines()[:n]
    for beam in beams:
        start = time.perf_counter()
        lengths = lengths_with_transformers(model, tok, sentences, beam, max_new, batch=32)
        print(f"transformers beam {beam}, max {max_new} new tokens: {describe(lengths, max_new)} ({time.perf_counter() - start:.0f} s)")


def convert_ct2() -> None:
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    for name, quantization in CT2_NATURAL.items():
        out = OUT / name
        start = time.perf_counter()
        TransformersConverter(str(NATURAL_DIR)).convert(str(out), quantization=quantization, force=True)
        print(f"wrote {out} (ctranslate2 {ctranslate2.__version__}, {time.perf_counter() - start:.1f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-ct2", action="store_true", help="skip the CTranslate2 conversions")
    parser.add_argument("--check", action="store_true", help="print the output-length distribution (transformers)")
    parser.add_argument("--check-only", action="store_true", help="only the check, on the model already written")
    parser.add_argument("--check-n", type=int, default=100, help="sentences for --check (default 100)")
    parser.add_argument("--check-beams", default="1,4")
    parser.add_argument("--max-new", type=int, default=128, help="length limit for --check (bench.py --natural's)")
    parser.add_argument("--write", type=float, default=WRITE, help="source-length weight (calibration)")
    parser.add_argument("--gain", type=float, default=GAIN, help="slope of the </s> logit (calibration)")
    parser.add_argument("--eos-bias", type=float, default=EOS_BIAS, help="offset of the </s> logit (calibration)")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(2)
    beams = [int(b) for b in args.check_beams.split(",")]
    if args.check_only:
        check(NATURAL_DIR, args.check_n, beams, args.max_new)
        return 0
    if not (BASE_DIR / "model.safetensors").exists():
        print(f"{BASE_DIR} is missing: run scripts/bench/make_full_model.py first", file=sys.stderr)
        return 1
    model = MarianMTModel.from_pretrained(BASE_DIR).eval()
    shape(model, args.write, args.gain, EOS_READ, args.eos_bias)
    if NATURAL_DIR.exists():
        shutil.rmtree(NATURAL_DIR)
    NATURAL_DIR.mkdir(parents=True)
    model.save_pretrained(NATURAL_DIR, safe_serialization=True)
    # The base model's opus-mt config, generation config and tokenizer, byte for byte.
    for path in BASE_DIR.iterdir():
        if path.name != "model.safetensors":
            shutil.copy(path, NATURAL_DIR / path.name)
    print(f"wrote {NATURAL_DIR} (write {args.write}, gain {args.gain}, eos bias {args.eos_bias})")
    if args.check:
        check(NATURAL_DIR, args.check_n, beams, args.max_new)
    if not args.no_ct2:
        convert_ct2()
    return 0


if __name__ == "__main__":
    sys.exit(main())
