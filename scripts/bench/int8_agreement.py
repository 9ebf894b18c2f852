#!/usr/bin/env python3
"""How close is int8 to fp32? de2en's `--precision int8` and CTranslate2's int8, measured the same way.

Why: int8 is only worth its speed if the translations stay what fp32 gives. fp32 de2en is exact
(token for token the same as transformers, which the golden tests prove); int8 is not, by design.
This script puts a number on the difference and puts CTranslate2's own int8 — the engine people
use today — beside it, measured with the same sentences, settings and metrics (issue 9, item 3):

1. Fixture models (tests/fixtures/models/tiny-swish and tiny-gelu, briefly trained, so they stop
   at EOS and their output varies), the golden sentences of tests/fixtures/golden/<model>.json,
   greedy and beam 4, at most 40 new tokens:
   - the share of sentences whose int8 text equals the fp32 text;
   - the mean |Δ| of the sum log-probability of each engine's output under its own model
     (int8 output under int8 vs fp32 output under fp32), and the same for the mean
     log-probability per token;
   - as a sanity check of the baseline, how many fp32 texts equal transformers' golden text.
   CTranslate2 gets a conversion faithful to these models (see faithful_marian_loader).
2. The full-size random model of opus-mt-de-en's shape (scripts/bench/out/, made by
   make_full_model.py), the first 100 lines of sentences.de.txt, greedy and beam 4: agreement of
   the first 8 generated tokens between int8 and fp32.

How the engines are driven:
- de2en: `de2en translate --guard off --quiet --input-format lines --format json --model DIR --beam-size B
  --max-length L --threads T [--precision int8]`. Its JSON gives each segment's `target` and
  `score`, the mean log-probability per generated token (EOS included); no token ids. The sum
  log-probability is taken from a segment's `sum_logprob` field, or `score` × `tokens`, when the
  JSON has one; otherwise the sum column says "–" and the per-token column is the comparable one.
  Without ids, the first-8 agreement of de2en is over the first 8 words of the output text. On
  the random model all but the fixture's 857 pieces are whole-word fillers (`▁fillerNNNNN`),
  so words and tokens almost coincide there.
- CTranslate2: each fixture folder converted with TransformersConverter into a temporary folder
  (no quantization, and int8; the Marian loader adjusted as faithful_marian_loader explains),
  loaded with compute_type float32 / int8; for the full-size model the bench's out/ct2-fp32 and
  out/ct2-int8. Source tokens from MarianTokenizer; translate_batch with beam_size B,
  max_decoding_length L, length_penalty 1, return_scores and return_end_token. With
  length_penalty 1 CTranslate2's score is the sum log-probability divided by the number of
  generated tokens (EOS included) — de2en's `score` exactly — so the sum is score × length. Its
  first-8 agreement is given on token ids and, like de2en's, on words.

The fixture part takes seconds; the full-size part (8 runs of 100 sentences, at most 16 new
tokens, 4 of them at beam 4) a few minutes at most on 2 cores.

    .venv/bin/python scripts/bench/int8_agreement.py                   # everything
    .venv/bin/python scripts/bench/int8_agreement.py --fixtures-only   # seconds
    .venv/bin/python scripts/bench/int8_agreement.py --engines de2en --de2en target/debug/de2en

The table is printed and written to scripts/bench/out/int8_agreement.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "out"
FIXTURE_MODELS = ["tiny-swish", "tiny-gelu"]
GOLDEN_CASES = {1: "greedy", 4: "beam4"}  # beam size → the golden file's case with the same settings
FIXTURE_MAX_LENGTH = 40
FIRST_TOKENS = 8
ENGINES = ["de2en", "ct2"]

sys.path.insert(0, str(HERE))
from bench import machine  # noqa: E402  (CPU name and flags, the same header as the benchmark's)


class Failure(Exception):
    """A step that cannot go on; main() prints the message and exits 1."""


@dataclass
class Hyp:
    text: str
    mean_logprob: float | None  # per generated token, EOS included
    sum_logprob: float | None  # None where the engine does not report it
    ids: list[int] | None = None  # generated token ids without EOS, where the engine reports them


# ---------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------


def de2en_translate(args, model_dir: Path, sentences: list[str], beam: int, max_length: int, int8: bool) -> list[Hyp]:
    cmd = [
        args.de2en, "translate", "--quiet", "--input-format", "lines", "--format", "json",
        "--model", str(model_dir), "--beam-size", str(beam), "--max-length", str(max_length),
        "--threads", str(args.threads), "--guard", "off",
    ]  # fmt: skip
    if int8:
        cmd += ["--precision", "int8"]
    data = "".join(s + "\n" for s in sentences).encode("utf-8")
    run = subprocess.run(cmd, input=data, capture_output=True)
    if run.returncode != 0:
        tail = run.stderr.decode(errors="replace").strip()[-1500:]
        raise Failure(f"de2en failed (exit {run.returncode}) on {model_dir.name}: {' '.join(cmd)}\n{tail}")
    try:
        segments = json.loads(run.stdout)["segments"]
    except (ValueError, KeyError) as e:
        raise Failure(f"de2en --format json printed no readable `segments` ({e}): {' '.join(cmd)}") from e
    if len(segments) != len(sentences):
        raise Failure(
            f"de2en returned {len(segments)} segments for {len(sentences)} lines of input: {' '.join(cmd)}"
        )
    out = []
    for seg in segments:
        mean = seg.get("score")
        total = seg.get("sum_logprob")
        if total is None and mean is not None and isinstance(seg.get("tokens"), int):
            total = mean * seg["tokens"]
        out.append(Hyp(text=seg["target"], mean_logprob=mean, sum_logprob=total))
    return out


def marian_tokenizer(model_dir: Path):
    from transformers import MarianTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Recommended: pip install sacremoses." — not used here
        return MarianTokenizer.from_pretrained(model_dir)


def safetensors_copy(model_dir: Path, dest: Path) -> Path:
    """`model_dir` itself when it has model.safetensors, else a copy with the weights as safetensors.

    Why: transformers 4.57 refuses pytorch_model.bin under torch < 2.6 (CVE-2025-32434), and the
    tiny-gelu fixture is stored as .bin on purpose (de2en reads both). The file is this repository's
    own fixture, read here with torch.load(weights_only=True), which is the safe loader.
    """
    if (model_dir / "model.safetensors").is_file():
        return model_dir
    import shutil

    import torch
    from safetensors.torch import save_file

    dest.mkdir(parents=True, exist_ok=True)
    for f in model_dir.iterdir():
        if f.is_file() and f.name != "pytorch_model.bin":
            shutil.copy2(f, dest / f.name)
    state = torch.load(model_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    # Tied embeddings share storage, which safetensors will not write twice: one copy each.
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items()}
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


def faithful_marian_loader():
    """CTranslate2's Marian loader, minus its one opus-mt shortcut, for the fixture models.

    Why: CTranslate2's MarianMTLoader drops the `<pad>` row and starts the decoder from a zero
    vector instead of `<pad>`'s embedding. That is exact for opus-mt (and the full-size model
    here), whose `<pad>` row is zero, but the fixtures' `<pad>` row was trained, so the stock
    conversion translates them differently from transformers (3/20 and 0/20 golden texts). It
    also gives the decoder the encoder's number of attention heads, and tiny-gelu has 4 in the
    encoder but 2 in the decoder. Keeping the row and starting from `<pad>` (with `<pad>`
    suppressed at decoding, as transformers' bad_words_ids does) and giving each side its own
    head count makes CTranslate2 fp32 reproduce the golden outputs, so that its int8-vs-fp32
    figures are about the same model de2en runs.
    """
    from ctranslate2.converters import transformers as ct2t
    from ctranslate2.specs import transformer_spec

    class FaithfulMarianLoader(ct2t.MarianMTLoader):
        def get_model_spec(self, model):
            # BartLoader's, with the encoder's and the decoder's own head counts (it takes the
            # encoder's for both; tiny-gelu has 4 and 2) and without _remove_pad_weights.
            cfg = model.config
            activation = ct2t._SUPPORTED_ACTIVATIONS[cfg.activation_function]
            spec = transformer_spec.TransformerSpec(
                transformer_spec.TransformerEncoderSpec(
                    cfg.encoder_layers, cfg.encoder_attention_heads, pre_norm=False, activation=activation
                ),
                transformer_spec.TransformerDecoderSpec(
                    cfg.decoder_layers, cfg.decoder_attention_heads, pre_norm=False, activation=activation
                ),
            )
            self.set_encoder(spec.encoder, model.model.encoder)
            self.set_decoder(spec.decoder, model.model.decoder)
            self.set_linear(spec.decoder.projection, model.lm_head)
            bias = getattr(model, "final_logits_bias", None)
            if bias is not None and bias.nonzero().numel() != 0:
                spec.decoder.projection.bias = bias.squeeze()
            return spec

        def set_config(self, config, model, tokenizer):
            config.eos_token = tokenizer.eos_token
            config.unk_token = tokenizer.unk_token
            config.decoder_start_token = tokenizer.pad_token

        def set_decoder(self, spec, decoder):
            ct2t.BartLoader.set_decoder(self, spec, decoder)  # without start_from_zero_embedding

        def get_vocabulary(self, model, tokenizer):
            return ct2t.BartLoader.get_vocabulary(self, model, tokenizer)  # <pad> kept

    return FaithfulMarianLoader()


def ct2_convert(model_dir: Path, dest: Path, quantization: str | None, faithful: bool) -> Path:
    from ctranslate2.converters import TransformersConverter
    from ctranslate2.converters import transformers as ct2t

    stock = ct2t._MODEL_LOADERS.get("MarianConfig")
    if faithful:
        ct2t._MODEL_LOADERS["MarianConfig"] = faithful_marian_loader()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            TransformersConverter(str(model_dir)).convert(str(dest), quantization=quantization, force=True)
    finally:
        ct2t._MODEL_LOADERS["MarianConfig"] = stock
    return dest


def ct2_translate(
    args, ct2_dir: Path, tok, sentences: list[str], beam: int, max_length: int, int8: bool, suppress_pad: bool = False
) -> list[Hyp]:
    import ctranslate2

    translator = ctranslate2.Translator(
        str(ct2_dir),
        device="cpu",
        compute_type="int8" if int8 else "float32",
        inter_threads=1,
        intra_threads=args.threads,
    )
    source = [tok.convert_ids_to_tokens(ids) for ids in tok(sentences).input_ids]
    results = translator.translate_batch(
        source,
        beam_size=beam,
        max_decoding_length=max_length,
        length_penalty=1.0,
        return_scores=True,
        return_end_token=True,
        max_batch_size=32,
        # Only a faithful conversion keeps <pad> in the vocabulary; then it must never be generated.
        suppress_sequences=[[tok.pad_token]] if suppress_pad else None,
    )
    out = []
    for result in results:
        tokens, score = result.hypotheses[0], result.scores[0]
        body = tokens[:-1] if tokens and tokens[-1] == tok.eos_token else tokens
        ids = tok.convert_tokens_to_ids(body)
        out.append(
            Hyp(
                text=tok.decode(ids, skip_special_tokens=True),
                mean_logprob=score,
                # score = sum / length with length_penalty 1 (length: generated tokens, EOS included)
                sum_logprob=score * len(tokens),
                ids=ids,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def mean_abs_delta(a: list[float | None], b: list[float | None]) -> float | None:
    if any(x is None for x in a) or any(y is None for y in b):
        return None
    return statistics.mean(abs(x - y) for x, y in zip(a, b))


def prefix_agreement(a: list, b: list, k: int = FIRST_TOKENS) -> tuple[int, int, int, bool]:
    """(positions equal, positions compared, equal prefix length, all first k equal) of a[:k], b[:k]."""
    a, b = a[:k], b[:k]
    compared = max(len(a), len(b))
    equal = sum(x == y for x, y in zip(a, b))
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    return equal, compared, prefix, a == b


def first_k_row(engine: str, search: str, unit: str, fp32: list[list], int8: list[list]) -> str:
    stats = [prefix_agreement(x, y) for x, y in zip(fp32, int8)]
    equal = sum(s[0] for s in stats)
    compared = sum(s[1] for s in stats)
    prefix = statistics.mean(s[2] for s in stats)
    whole = sum(s[3] for s in stats)
    share = f"{100 * equal / compared:.1f} % ({equal}/{compared})" if compared else "–"
    return f"| {engine} | {search} | {unit} | {share} | {prefix:.2f} | {whole}/{len(stats)} |"


def words(hyps: list[Hyp]) -> list[list[str]]:
    return [h.text.split() for h in hyps]


def fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def search_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam {beam}"


# ---------------------------------------------------------------------------------------------
# The two parts
# ---------------------------------------------------------------------------------------------


def fixture_part(args, engines: list[str], notes: set[str]) -> list[str]:
    lines = [
        f"### Fixture models: golden sentences, at most {FIXTURE_MAX_LENGTH} new tokens",
        "",
        "| engine | model | search | int8 text = fp32 text | mean \\|Δ\\| sum log-prob | mean \\|Δ\\| log-prob per token "
        "| fp32 text = transformers' (golden) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="de2en-int8-agreement-") as tmp:
        for model in FIXTURE_MODELS:
            model_dir = REPO / "tests" / "fixtures" / "models" / model
            golden_path = REPO / "tests" / "fixtures" / "golden" / f"{model}.json"
            if not model_dir.is_dir() or not golden_path.is_file():
                raise Failure(f"fixture {model} is missing ({model_dir}, {golden_path}): run scripts/make_test_model.py")
            golden = json.loads(golden_path.read_text(encoding="utf-8"))
            sentences = [s["text"] for s in golden["sentences"]]
            cases = {c["name"]: c for c in golden["cases"]}
            tok = marian_tokenizer(model_dir) if "ct2" in engines else None
            ct2_dirs = {}
            if "ct2" in engines:
                source_dir = safetensors_copy(model_dir, Path(tmp) / f"{model}-safetensors")
                ct2_dirs = {
                    False: ct2_convert(source_dir, Path(tmp) / f"{model}-fp32", None, faithful=True),
                    True: ct2_convert(source_dir, Path(tmp) / f"{model}-int8", "int8", faithful=True),
                }
            for beam in (1, 4):
                case = cases.get(GOLDEN_CASES[beam])
                reference = [r["text"] for r in case["single"]] if case else None
                for engine in engines:
                    if engine == "de2en":
                        fp32, int8 = (
                            de2en_translate(args, model_dir, sentences, beam, FIXTURE_MAX_LENGTH, q) for q in (False, True)
                        )
                    else:
                        fp32, int8 = (
                            ct2_translate(args, ct2_dirs[q], tok, sentences, beam, FIXTURE_MAX_LENGTH, q, suppress_pad=True)
                            for q in (False, True)
                        )
                    n = len(sentences)
                    same = sum(a.text == b.text for a, b in zip(fp32, int8))
                    d_sum = mean_abs_delta([h.sum_logprob for h in fp32], [h.sum_logprob for h in int8])
                    d_mean = mean_abs_delta([h.mean_logprob for h in fp32], [h.mean_logprob for h in int8])
                    if d_sum is None:
                        notes.add("no_sum")
                    gold = f"{sum(h.text == g for h, g in zip(fp32, reference))}/{n}" if reference else "–"
                    lines.append(
                        f"| {engine} | {model} | {search_name(beam)} | {100 * same / n:.0f} % ({same}/{n}) | "
                        f"{fmt(d_sum)} | {fmt(d_mean)} | {gold} |"
                    )
                    print(f"  {engine} {model} {search_name(beam)}: int8 = fp32 on {same}/{n}", file=sys.stderr, flush=True)
    return lines


def full_part(args, engines: list[str]) -> list[str]:
    model_dir = OUT / "opus-mt-de-en-random"
    ct2_dirs = {False: OUT / "ct2-fp32", True: OUT / "ct2-int8"}
    if not (model_dir / "model.safetensors").is_file():
        raise Failure(f"{model_dir} is missing: run scripts/bench/make_full_model.py (or pass --fixtures-only)")
    if "ct2" in engines and not all((d / "model.bin").is_file() for d in ct2_dirs.values()):
        raise Failure(f"{ct2_dirs[False]} or {ct2_dirs[True]} is missing: run scripts/bench/make_full_model.py")
    sentences = (HERE / "sentences.de.txt").read_text(encoding="utf-8").splitlines()[: args.n_full]
    lines = [
        f"### Full-size random model: first {len(sentences)} lines of sentences.de.txt, "
        f"first {FIRST_TOKENS} generated tokens (at most {args.full_max_length} new tokens)",
        "",
        f"| engine | search | compared as | first-{FIRST_TOKENS} positions equal | mean equal prefix (of {FIRST_TOKENS}) "
        f"| sentences with all {FIRST_TOKENS} equal |",
        "|---|---|---|---:|---:|---:|",
    ]
    tok = marian_tokenizer(model_dir) if "ct2" in engines else None
    for beam in (1, 4):
        for engine in engines:
            start = time.perf_counter()
            search = search_name(beam)
            if engine == "de2en":
                fp32, int8 = (de2en_translate(args, model_dir, sentences, beam, args.full_max_length, q) for q in (False, True))
                lines.append(first_k_row("de2en", search, "words", words(fp32), words(int8)))
            else:
                fp32, int8 = (
                    ct2_translate(args, ct2_dirs[q], tok, sentences, beam, args.full_max_length, q) for q in (False, True)
                )
                lines.append(first_k_row("ct2", search, "token ids", [h.ids for h in fp32], [h.ids for h in int8]))
                lines.append(first_k_row("ct2", search, "words", words(fp32), words(int8)))
            seconds = time.perf_counter() - start
            print(f"  {engine} full-size {search}: {seconds:.0f} s", file=sys.stderr, flush=True)
    return lines


def header(args, engines: list[str]) -> list[str]:
    info = machine()
    flags = "unknown" if info["flags"] is None else " ".join(f"{f}{'+' if on else '−'}" for f, on in info["flags"].items())
    versions = []
    if "de2en" in engines:
        version = subprocess.run([args.de2en, "--version"], capture_output=True, text=True).stdout.strip()
        versions.append(f"de2en: `{args.de2en}` ({version or 'version unknown'})")
    if "ct2" in engines:
        import ctranslate2

        versions.append(f"CTranslate2 {ctranslate2.__version__}")
    return [
        "## int8 against fp32 (`scripts/bench/int8_agreement.py`)",
        "",
        f"CPU: {info['cpu']}; flags: {flags}; threads: {args.threads}. " + "; ".join(versions) + ".",
        "",
    ]


def footnotes(engines: list[str], notes: set[str]) -> list[str]:
    out = [
        "",
        "Log-probabilities are each output's own, under the model that produced it (int8 under int8, fp32 "
        "under fp32); per token means divided by the generated tokens, EOS included (de2en's JSON `score`; "
        "CTranslate2's score with length_penalty 1).",
    ]
    if "de2en" in engines and "no_sum" in notes:
        out.append(
            "de2en's sum log-prob: \"–\" because its `--format json` segments carry only `score` (the mean per "
            "token) and no token count; the per-token column compares like with like. The script uses a "
            "segment's `sum_logprob` (or `score` × `tokens`) as soon as the JSON has one."
        )
    if "ct2" in engines:
        out.append(
            "CTranslate2 on the fixtures: converted keeping the `<pad>` row and starting the decoder from it "
            "(its stock Marian converter assumes opus-mt's all-zero `<pad>` row, which the fixtures lack) and with "
            "the decoder's own head count (the stock one uses the encoder's; tiny-gelu has 4 and 2), so "
            "that its fp32 reproduces transformers like de2en's does. Where a CTranslate2 fp32 text still differs "
            "from the golden one, the search differs: it has no forced EOS at the length limit (tiny-swish "
            "greedy, one sentence), and its beam search ends once 4 hypotheses have finished (patience 1), "
            "where transformers' goes on by its early_stopping=False rule. The full-size model uses the stock "
            "conversions in `out/` (its `<pad>` row is zero)."
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures-only", action="store_true", help="skip the full-size model (seconds instead of minutes)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma list from {ENGINES}")
    parser.add_argument(
        "--de2en",
        default=os.environ.get("DE2EN_BIN", str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "de2en")),
        help="de2en binary (default $DE2EN_BIN, else $CARGO_TARGET_DIR/release/de2en, else target/release/de2en)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-full", type=int, default=100, help="lines of sentences.de.txt for the full-size model")
    parser.add_argument(
        "--full-max-length",
        type=int,
        default=16,
        help="new tokens at most on the full-size model (the first 8 are compared; a random model never stops early)",
    )
    parser.add_argument("--out", default=str(OUT / "int8_agreement.md"), help="markdown written here too")
    args = parser.parse_args()

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        parser.error(f"unknown engine(s) {unknown}; choose from {ENGINES}")
    if args.full_max_length < FIRST_TOKENS + 1:
        parser.error(f"--full-max-length must be at least {FIRST_TOKENS + 1} (the first {FIRST_TOKENS} tokens and room for EOS)")
    if "de2en" in engines and not (Path(args.de2en).is_file() and os.access(args.de2en, os.X_OK)):
        print(f"no de2en binary at {args.de2en}: cargo build --release, or pass --de2en", file=sys.stderr)
        return 1
    if "ct2" in engines:
        import importlib.util

        missing = [m for m in ("ctranslate2", "transformers", "sentencepiece") if importlib.util.find_spec(m) is None]
        if missing:
            print(
                f"this Python lacks {', '.join(missing)} (needed for CTranslate2): use .venv/bin/python "
                "(pip install -r scripts/requirements.txt), or pass --engines de2en",
                file=sys.stderr,
            )
            return 1

    start = time.perf_counter()
    notes: set[str] = set()
    try:
        lines = header(args, engines)
        lines += fixture_part(args, engines, notes)
        if not args.fixtures_only:
            lines.append("")
            lines += full_part(args, engines)
        lines += footnotes(engines, notes)
    except Failure as e:
        print(f"int8_agreement: {e}", file=sys.stderr)
        return 1
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"written to {args.out} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
