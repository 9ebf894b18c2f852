#!/usr/bin/env python3
"""Benchmark de2en (fp32 and int8) against transformers (PyTorch) and CTranslate2 (fp32, int8).

Every engine translates the same German sentences (scripts/bench/sentences.de.txt) with the same
random-weight model that has opus-mt-de-en's exact shape (scripts/bench/make_full_model.py), with
every hypothesis forced to exactly 32 new tokens so that speed does not depend on what a random
model happens to emit. Beam 1 and 4, batch 1 and 32, 2 threads each. Each (engine, beam, batch)
runs in its own process, which reports model load time, translation time, the CPU time spent in
the translation (so that idle cores show up as CPU-seconds per wall-second below the thread count)
and its peak RSS. One run covers every engine, so the ratios in the report come from the same
machine in the same state; the report's header names the CPU and the instruction-set flags that
decide which kernels de2en and CTranslate2 pick (avx2, fma, avx512f, avx512_vnni, avx_vnni,
avx512_bf16).

    scripts/bench/run_bench.sh            # everything: model, conversions, build, 500 sentences
    scripts/bench/run_bench.sh --quick    # 100 sentences
    scripts/bench/run_bench.sh --quick --natural   # outputs end by themselves, at most 128 tokens
    .venv/bin/python scripts/bench/bench.py --help

--isa avx2: every engine capped to AVX2 + FMA, so that an AVX-512 machine also measures what an
AVX2 machine without VNNI (AMD Zen 3) runs: CTranslate2 with CT2_FORCE_CPU_ISA=AVX2 (and oneDNN's
and MKL's caps, ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2), transformers with
ATEN_CPU_CAPABILITY=avx2 and the same caps, de2en with DE2EN_SIMD=avx2 and, for int8, the widened
kernel AVX2 CPUs without VNNI get (DE2EN_INT8_KERNEL=widened). One thing cannot be capped:
rten-gemm, de2en's f32 matrix product, picks its AVX-512 kernel by itself, so de2en's f32 figures
in such a run are not AVX2 figures (the report says so); its int8 figures are. A real AVX2 machine
remains the better witness.

--natural: the same sentences on the variant of the model whose outputs end by themselves at
varied lengths (scripts/bench/make_natural_model.py: about half the source length plus a few,
10-60 tokens on most sentences), no forced minimum, at most --max-length (128) new tokens. Batch
compaction and early-finishing beams are then measured too. The f32 engines are exact, so they
produce the same lengths (except CTranslate2 at beam 4: it stops its search once 4 hypotheses
have finished); tokens/s count the tokens each engine produced (</s> included), and the report
gives each run's output-length distribution (mean, p10, p90) and how many outputs are as long as
transformers'.

How each engine is driven:
- de2en: `de2en translate --guard off --no-memory --model DIR --input-format lines --beam-size B --max-length 32
  --min-length 32 --batch-tokens T --threads 2`, sentences on stdin. Load time = wall time of the
  same command on empty input; translation time = wall time on the sentences minus that.
  Batch 1 uses --batch-tokens 1 (one sentence per batch); batch 32 uses 32 × the mean padded source
  length, which packs about 32 sentences per batch (de2en packs by padded tokens, not sentences).
- de2en-int8: the same command with `--precision int8` (weights quantized when the model loads).
- de2en-int8-avx2 (not in the default set): de2en-int8 with `DE2EN_INT8_KERNEL=widened`, the exact int8 kernel
  that AVX2 CPUs without VNNI run, so an AVX-512 VNNI machine measures that path too.
- de2en-rust-bert: the same command with `--engine rust-bert`, run by a de2en built with the
  `rust-bert` feature (--de2en-rust-bert; run_bench.sh builds it with RUST_BERT=1), with
  LD_LIBRARY_PATH pointing at this Python's torch/lib.
- transformers: MarianTokenizer + MarianMTModel.generate(num_beams=B, min_new_tokens=32,
  max_new_tokens=32), torch.set_num_threads(2), OMP_WAIT_POLICY=PASSIVE, torch.inference_mode.
- CTranslate2: Translator(intra_threads=2, inter_threads=1, compute_type fp32 / int8),
  translate_batch(beam_size=B, min_decoding_length=32, max_decoding_length=32), tokens from
  MarianTokenizer.
Peers get their sentences sorted by length and cut into batches of 1 or 32, as de2en sorts too.
Tokenization and detokenization are inside the timed region for every engine.

CPU time: for the Python workers, RUSAGE_SELF user+sys over the timed region (all threads of the
process); for de2en, RUSAGE_CHILDREN deltas around each subprocess, the empty-input run's CPU time
subtracted like its wall time. Agreement: how many outputs equal transformers' text, and for the
int8 engines how many equal their own fp32 counterpart's (de2en-int8 vs de2en, ct2-int8 vs
ct2-fp32) — a speed figure is only worth as much as the translations it comes with.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "out"
MODEL_DIR = OUT / "opus-mt-de-en-random"
CT2_DIRS = {"ct2-fp32": OUT / "ct2-fp32", "ct2-int8": OUT / "ct2-int8"}
NEW_TOKENS = 32
# --natural: the variant whose outputs end by themselves (make_natural_model.py), no forced length.
NATURAL_MODEL_DIR = OUT / "opus-mt-de-en-natural"
NATURAL_CT2_DIRS = {"ct2-fp32": OUT / "ct2-natural-fp32", "ct2-int8": OUT / "ct2-natural-int8"}
NATURAL_MAX_TOKENS = 128
EOS_ID = 0
ENGINES = ["transformers", "ct2-fp32", "ct2-int8", "de2en", "de2en-int8", "de2en-int8-avx2", "de2en-rust-bert"]
# de2en's own engines, each compared with every peer below; de2en-rust-bert is an optional peer
# (it needs a libtorch build, see run_bench.sh).
# de2en-int8-avx2 forces the int8 kernel of AVX2 CPUs without VNNI (DE2EN_INT8_KERNEL=widened), so a
# VNNI machine measures that path too; it is not in the default set of engines.
MINE = ["de2en", "de2en-int8", "de2en-int8-avx2"]
PEERS = ["ct2-fp32", "ct2-int8", "transformers", "de2en-rust-bert"]
# An int8 engine and its exact counterpart: their texts are compared as well.
FP32_OF = {"de2en-int8": "de2en", "de2en-int8-avx2": "de2en", "ct2-int8": "ct2-fp32"}
DE2EN_ENGINES = ["de2en", "de2en-int8", "de2en-int8-avx2", "de2en-rust-bert"]
DEFAULT_ENGINES = [e for e in ENGINES if e != "de2en-int8-avx2"]
CPU_FLAGS = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16"]


def use_natural_model() -> None:
    """--natural: every engine loads the natural-length variant and its CTranslate2 conversions."""
    global MODEL_DIR, CT2_DIRS
    MODEL_DIR, CT2_DIRS = NATURAL_MODEL_DIR, NATURAL_CT2_DIRS


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def cpu_seconds(who=resource.RUSAGE_SELF) -> float:
    """User + system CPU time of this process (all its threads) or of its waited-for children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict:
    """CPU model name and the flags that select kernels, from /proc/cpuinfo (Linux x86; else unknown)."""
    name, flags = "unknown CPU", None
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key in ("flags", "Features") and flags is None:
                flags = set(value.split())
    except OSError:
        pass
    return dict(
        cpu=name,
        cores=os.cpu_count(),
        flags=None if flags is None else {f: f in flags for f in CPU_FLAGS},
    )


def sentence_stats(sentences: list[str]) -> dict:
    words = [len(s.split()) for s in sentences]
    return dict(
        mean_words=statistics.mean(words) if words else 0.0,
        max_words=max(words, default=0),
        over_40=sum(w > 40 for w in words),
    )


def read_sentences(path: Path, n: int) -> list[str]:
    lines = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
    return lines[:n]


def batches_by_length(lengths: list[int], batch: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch] for i in range(0, len(order), batch)]


# ---------------------------------------------------------------------------------------------
# Workers: one process per (engine, beam, batch); print one JSON line
# ---------------------------------------------------------------------------------------------


def worker_transformers(args, sentences: list[str]) -> dict:
    import torch
    from transformers import MarianMTModel, MarianTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    tok = MarianTokenizer.from_pretrained(MODEL_DIR)
    model = MarianMTModel.from_pretrained(MODEL_DIR).eval()
    load_s = time.perf_counter() - start

    start, cpu_start = time.perf_counter(), cpu_seconds()
    outputs = [""] * len(sentences)
    out_lengths = [0] * len(sentences)
    tokens = 0
    with torch.inference_mode():
        lengths = [len(ids) for ids in tok(sentences).input_ids]
        for idx in batches_by_length(lengths, args.batch):
            enc = tok([sentences[i] for i in idx], return_tensors="pt", padding=True)
            limits = dict(max_new_tokens=args.max_length) if args.natural else dict(min_new_tokens=NEW_TOKENS, max_new_tokens=NEW_TOKENS)
            gen = model.generate(**enc, num_beams=args.beam, early_stopping=False, **limits)
            for i, row, text in zip(idx, gen[:, 1:].tolist(), tok.batch_decode(gen, skip_special_tokens=True)):
                # Generated tokens up to and including </s>; shorter rows of a batch are padded.
                n = row.index(EOS_ID) + 1 if EOS_ID in row else sum(t != model.config.pad_token_id for t in row)
                out_lengths[i] = n
                tokens += n
                outputs[i] = text
    translate_s, cpu_s = time.perf_counter() - start, cpu_seconds() - cpu_start
    return dict(
        load_s=load_s,
        translate_s=translate_s,
        cpu_s=cpu_s,
        tokens=tokens,
        peak_rss_mb=peak_rss_mb(),
        outputs=outputs,
        lengths=out_lengths,
    )


def worker_ct2(args, sentences: list[str]) -> dict:
    import ctranslate2
    from transformers import MarianTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    compute_type = "int8" if args.engine == "ct2-int8" else "float32"
    start = time.perf_counter()
    tok = MarianTokenizer.from_pretrained(MODEL_DIR)
    translator = ctranslate2.Translator(
        str(CT2_DIRS[args.engine]),
        device="cpu",
        compute_type=compute_type,
        inter_threads=1,
        intra_threads=args.threads,
    )
    load_s = time.perf_counter() - start

    start, cpu_start = time.perf_counter(), cpu_seconds()
    outputs = [""] * len(sentences)
    out_lengths = [0] * len(sentences)
    tokens = 0
    source = [tok.convert_ids_to_tokens(ids) for ids in tok(sentences).input_ids]
    for idx in batches_by_length([len(s) for s in source], args.batch):
        if args.natural:
            limits = dict(max_decoding_length=args.max_length)
        else:
            limits = dict(min_decoding_length=NEW_TOKENS, max_decoding_length=NEW_TOKENS)
        results = translator.translate_batch([source[i] for i in idx], beam_size=args.beam, max_batch_size=args.batch, **limits)
        for i, result in zip(idx, results):
            hyp = result.hypotheses[0]
            if args.natural:
                # CTranslate2 leaves the </s> out of the hypothesis; the other engines count it, as a
                # decoding step it is. An output cut at the limit has no </s>.
                n = min(len(hyp) + 1, args.max_length)
                out_lengths[i] = n
                tokens += n
                outputs[i] = tok.decode(tok.convert_tokens_to_ids(hyp), skip_special_tokens=True)
                continue
            tokens += len(hyp)
            out_lengths[i] = len(hyp)
            # transformers and de2en end with the forced </s> as token 32; CTranslate2 has no forced
            # EOS and emits a 32nd ordinary token instead: compare texts on the first 31.
            outputs[i] = tok.decode(tok.convert_tokens_to_ids(hyp[: NEW_TOKENS - 1]), skip_special_tokens=True)
    translate_s, cpu_s = time.perf_counter() - start, cpu_seconds() - cpu_start
    return dict(
        load_s=load_s,
        translate_s=translate_s,
        cpu_s=cpu_s,
        tokens=tokens,
        peak_rss_mb=peak_rss_mb(),
        outputs=outputs,
        lengths=out_lengths,
    )


def de2en_batch_tokens(sentences: list[str], batch: int) -> int:
    if batch == 1:
        return 1
    from transformers import MarianTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tok = MarianTokenizer.from_pretrained(MODEL_DIR)
    mean_len = statistics.mean(len(ids) for ids in tok(sentences).input_ids)
    return max(1, round(batch * mean_len))


def torch_lib_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        raise RuntimeError("de2en-rust-bert needs libtorch: this Python has no torch")
    return str(Path(spec.origin).parent / "lib")


def worker_de2en(args, sentences: list[str]) -> dict:
    batch_tokens = de2en_batch_tokens(sentences, args.batch)
    rust_bert = args.engine == "de2en-rust-bert"
    if rust_bert:
        # Built with the feature but without an rpath: the loader must be told where libtorch is.
        lib = torch_lib_dir()
        old = os.environ.get("LD_LIBRARY_PATH")
        os.environ["LD_LIBRARY_PATH"] = lib + (":" + old if old else "")
    cmd = [
        args.de2en_rust_bert if rust_bert else args.de2en, "translate",
        "--engine", "rust-bert" if rust_bert else "marian",
        "--model", str(MODEL_DIR),
        "--input-format", "lines",
        "--beam-size", str(args.beam),
        *(["--max-length", str(args.max_length)] if args.natural else ["--max-length", str(NEW_TOKENS), "--min-length", str(NEW_TOKENS)]),
        "--batch-tokens", str(batch_tokens),
        "--threads", str(args.threads),
        # The engine itself, as the peers are measured: no output guard re-decoding, and no
        # translation memory (on by default since it landed): otherwise every run after the first
        # with the same model, beam and lengths -- batch 32 after batch 1, de2en-int8-avx2 after
        # de2en-int8, a second bench run -- is answered from the memory without reaching the model.
        "--guard", "off",
        "--no-memory",
    ]  # fmt: skip
    if args.engine in ("de2en-int8", "de2en-int8-avx2"):
        cmd += ["--precision", "int8"]
    # Load: the same command on empty input (process start, model and tokenizer load, exit);
    # the faster of two runs, the first one also warms the page cache as the peers' loads are.
    # CPU time of a child is known once it has been waited for: RUSAGE_CHILDREN before and after.
    load_runs = []
    for _ in range(2):
        start, cpu_start = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
        empty = subprocess.run(cmd, input=b"", capture_output=True)
        load_runs.append((time.perf_counter() - start, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_start))
        if empty.returncode != 0:
            raise RuntimeError(
                f"de2en failed on empty input (exit {empty.returncode}): {empty.stderr.decode(errors='replace')[-2000:]}"
            )
    load_s, load_cpu_s = min(load_runs)
    data = "".join(s + "\n" for s in sentences).encode("utf-8")
    # Peak RSS through /usr/bin/time: ru_maxrss of our own children would count the moment between
    # fork and exec, when the child is still a copy of this (large) Python process.
    timer = ["/usr/bin/time", "-f", "DE2EN_MAXRSS_KB %M"] if Path("/usr/bin/time").exists() else []
    start, cpu_start = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
    run = subprocess.run(timer + cmd, input=data, capture_output=True)
    total_s = time.perf_counter() - start
    total_cpu_s = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_start
    rss_mb = peak_rss_mb(resource.RUSAGE_CHILDREN)
    for line in run.stderr.decode(errors="replace").splitlines():
        if line.startswith("DE2EN_MAXRSS_KB "):
            rss_mb = int(line.split()[1]) / 1024.0
    if run.returncode != 0:
        raise RuntimeError(f"de2en failed (exit {run.returncode}): {run.stderr.decode(errors='replace')[-2000:]}")
    outputs = run.stdout.decode("utf-8", errors="replace").split("\n")
    if outputs and outputs[-1] == "":
        outputs.pop()
    if len(outputs) != len(sentences):
        raise RuntimeError(f"de2en wrote {len(outputs)} lines for {len(sentences)} sentences")
    if args.natural:
        # de2en prints text only. With --natural every output is whole-word filler pieces (the
        # model's bias rules out the other pieces, see make_natural_model.py): words + 1 (</s>).
        lengths = [min(len(text.split()) + 1, args.max_length) for text in outputs]
    else:
        lengths = [NEW_TOKENS] * len(sentences)  # forced by --min-length = --max-length
    if total_s - load_s < 0.05 * total_s:
        raise RuntimeError(f"translation time ({total_s:.2f} s in all) too close to load time ({load_s:.2f} s): use more sentences")
    return dict(
        load_s=load_s,
        translate_s=total_s - load_s,
        # The translation's share: the empty run's CPU time taken off, as its wall time is.
        cpu_s=max(0.0, total_cpu_s - load_cpu_s),
        run_cpu_per_wall=total_cpu_s / total_s,
        tokens=sum(lengths),
        lengths=lengths,
        peak_rss_mb=rss_mb,
        outputs=outputs,
        batch_tokens=batch_tokens,
        cmd=" ".join(cmd),
    )


def run_worker(args) -> int:
    sentences = read_sentences(Path(args.sentences), args.n)
    fn = worker_de2en if args.engine in DE2EN_ENGINES else {"transformers": worker_transformers}.get(args.engine, worker_ct2)
    result = fn(args, sentences)
    result.update(engine=args.engine, beam=args.beam, batch=args.batch, sentences=len(sentences))
    print("RESULT " + json.dumps(result, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


# --isa avx2: what every engine is told (see the module's docstring).
AVX2_CAPS = {
    "CT2_FORCE_CPU_ISA": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "DE2EN_SIMD": "avx2",
}


def run_one(args, engine: str, beam: int, batch: int) -> dict:
    env = dict(os.environ)
    env.update(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    env.setdefault("RAYON_NUM_THREADS", str(args.threads))
    if engine == "de2en-int8-avx2":
        env["DE2EN_INT8_KERNEL"] = "widened"
    if args.isa == "avx2":
        env.update(AVX2_CAPS)
        if engine.startswith("de2en-int8"):
            env["DE2EN_INT8_KERNEL"] = "widened"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--worker", engine,
        "--beam", str(beam), "--batch", str(batch), "--n", str(args.n),
        "--threads", str(args.threads), "--sentences", str(args.sentences), "--de2en", args.de2en,
        "--de2en-rust-bert", args.de2en_rust_bert, "--max-length", str(args.max_length),
    ]  # fmt: skip
    if args.natural:
        cmd.append("--natural")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return dict(engine=engine, beam=beam, batch=batch, error=f"timed out after {args.timeout} s")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
    return dict(engine=engine, beam=beam, batch=batch, error=f"exit {proc.returncode}: {tail[0]}")


def fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def tokens_per_s(r: dict | None) -> float | None:
    return r["tokens"] / r["translate_s"] if r and r["translate_s"] > 0 else None


def cpu_per_wall(r: dict) -> float | None:
    return r["cpu_s"] / r["translate_s"] if r.get("cpu_s") is not None and r["translate_s"] > 0 else None


def same_text(a: dict | None, b: dict | None) -> str:
    if not (a and b):
        return "–"
    return f"{sum(x == y for x, y in zip(a['outputs'], b['outputs']))}/{len(b['outputs'])}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def header(args, sentences: list[str]) -> list[str]:
    info = machine()
    flags = info["flags"]
    flag_text = "unknown" if flags is None else " ".join(f"{f}{'+' if on else '−'}" for f, on in flags.items())
    st = sentence_stats(sentences)
    return [
        f"CPU: {info['cpu']} ({info['cores']} logical cores); flags: {flag_text}; threads per engine: {args.threads}.",
        "",
        f"{len(sentences)} sentences (mean {st['mean_words']:.1f} words, max {st['max_words']}, "
        f"{st['over_40']} over 40), "
        + (
            f"natural output lengths (each output ends at its own </s>, at most {args.max_length} new tokens); "
            "model: opus-mt-de-en shape, random weights shaped to end (`scripts/bench/make_natural_model.py`). "
            "Tokens/s are over the tokens each engine produced, </s> included."
            if args.natural
            else f"exactly {NEW_TOKENS} new tokens each; model: opus-mt-de-en shape, "
            "random weights (`scripts/bench/make_full_model.py`)."
        ),
        *(
            [
                "",
                "**Every engine capped to AVX2 + FMA** (`--isa avx2`: "
                + ", ".join(f"{k}={v}" for k, v in AVX2_CAPS.items())
                + ", de2en int8 on its widened kernel) — except rten-gemm, de2en's f32 matrix product, "
                "which picks its AVX-512 kernel by itself: de2en f32 figures here are not AVX2 figures.",
            ]
            if args.isa == "avx2"
            else []
        ),
    ]


def length_stats(r: dict) -> str:
    """Output tokens per sentence: mean, p10, p90."""
    lengths = sorted(r.get("lengths") or [])
    if not lengths:
        return "–"
    q = statistics.quantiles(lengths, n=10) if len(lengths) > 1 else [lengths[0]] * 9
    return f"{statistics.mean(lengths):.1f} / {q[0]:.0f} / {q[8]:.0f}"


def same_length(a: dict | None, b: dict | None) -> str:
    if not (a and b and a.get("lengths") and b.get("lengths")):
        return "–"
    return f"{sum(x == y for x, y in zip(a['lengths'], b['lengths']))}/{len(b['lengths'])}"


def report(results: list[dict], args, sentences: list[str] | None = None) -> str:
    """Markdown: speed per setting with de2en's ratios, then every run, then load and RSS ratios."""
    ok = {(r["engine"], r["beam"], r["batch"]): r for r in results if "error" not in r}
    ran = [e for e in ENGINES if any(r["engine"] == e for r in results)]
    lines = header(args, sentences if sentences is not None else read_sentences(Path(args.sentences), args.n))
    lines.append("")

    # 1. Target tokens/s, one row per setting, with de2en's and de2en-int8's speed ratios.
    pairs = [(m, p) for m in MINE if m in ran for p in PEERS if p in ran]
    lines.append("Target tokens/s (higher is better); ratios are de2en's tokens/s ÷ the peer's:")
    lines.append("")
    lines.append("| beam | batch | " + " | ".join(ran) + "".join(f" | {m} ÷ {p}" for m, p in pairs) + " |")
    lines.append("|---:|---:|" + "---:|" * (len(ran) + len(pairs)))
    for beam in args.beams:
        for batch in args.batches:
            cells = [fmt(tokens_per_s(ok.get((e, beam, batch))), 0) for e in ran]
            cells += [ratio(tokens_per_s(ok.get((m, beam, batch))), tokens_per_s(ok.get((p, beam, batch)))) for m, p in pairs]
            lines.append(f"| {beam} | {batch} | " + " | ".join(cells) + " |")
    lines.append("")

    # 2. Every run.
    lines.append(
        "Every run. CPU-s/wall-s: CPU time of the translation ÷ its wall time (the thread count when every "
        "core is busy throughout). Same text: outputs equal to transformers', and for int8 engines to their "
        "own fp32 engine's."
    )
    lines.append("")
    natural = getattr(args, "natural", False)
    if natural:
        lines.append(
            "Output tokens per sentence (</s> included) as mean / p10 / p90; same length: outputs as long as "
            "transformers' (for int8 engines: as their own fp32 engine's)."
        )
        lines.append("")
    extra_head = " | tokens mean / p10 / p90 | same length as transformers | same length as own fp32" if natural else ""
    lines.append(
        "| beam | batch | engine | target tokens/s | sentences/s | CPU-s/wall-s | peak RSS MB | load s "
        "| same text as transformers | same text as own fp32" + extra_head + " |"
    )
    lines.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if natural else ""))
    for r in results:
        if "error" in r:
            error = r["error"].replace("|", "/")[:160]
            lines.append(f"| {r['beam']} | {r['batch']} | {r['engine']} | failed: {error} | | | | | | |" + (" | | |" if natural else ""))
            continue
        key = (r["beam"], r["batch"])
        transformers_run = ok.get(("transformers", *key)) if r["engine"] != "transformers" else None
        fp32_run = ok.get((FP32_OF[r["engine"]], *key)) if r["engine"] in FP32_OF else None
        extra = ""
        if natural:
            extra = f" | {length_stats(r)} | {same_length(r, transformers_run)} | {same_length(r, fp32_run)}"
        lines.append(
            f"| {r['beam']} | {r['batch']} | {r['engine']} | {fmt(tokens_per_s(r), 0)} | "
            f"{fmt(r['sentences'] / r['translate_s'], 2)} | {fmt(cpu_per_wall(r), 2)} | {fmt(r['peak_rss_mb'], 0)} | "
            f"{fmt(r['load_s'], 2)} | {same_text(r, transformers_run)} | {same_text(r, fp32_run)}{extra} |"
        )
    lines.append("")

    # 3. Load time and memory against each peer.
    lines.append("de2en ÷ peer (speed: higher is better for de2en; load time and peak RSS: lower is better):")
    lines.append("")
    lines.append("| beam | batch | engine | peer | speed | load | peak RSS |")
    lines.append("|---:|---:|---|---|---:|---:|---:|")
    any_ratio = False
    for beam in args.beams:
        for batch in args.batches:
            for mine_name in MINE:
                mine = ok.get((mine_name, beam, batch))
                for peer in PEERS:
                    theirs = ok.get((peer, beam, batch))
                    if not (mine and theirs):
                        continue
                    any_ratio = True
                    lines.append(
                        f"| {beam} | {batch} | {mine_name} | {peer} | {ratio(tokens_per_s(mine), tokens_per_s(theirs))} | "
                        f"{ratio(mine['load_s'], theirs['load_s'])} | {ratio(mine['peak_rss_mb'], theirs['peak_rss_mb'])} |"
                    )
    if not any_ratio:
        lines.append("| – | – | – | – | no run with both a de2en engine and a peer (see above) | | |")
    return "\n".join(lines) + "\n"


def ensure_python_with_packages() -> None:
    """Re-run under the project venv when this interpreter lacks transformers / ctranslate2."""
    # find_spec, not import: the driver stays small, so its forked workers start small too
    # (ru_maxrss keeps the high-water mark of the moment between fork and exec).
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("ctranslate2", "transformers", "torch")):
        candidates = [os.environ.get("PYTHON"), str(REPO / ".venv" / "bin" / "python"), "/work/pyenv/venv/bin/python"]
        venv = next((c for c in candidates if c and Path(c).exists()), "")
        if venv and not os.environ.get("DE2EN_BENCH_REEXEC"):
            os.environ["DE2EN_BENCH_REEXEC"] = "1"
            os.execv(venv, [venv, str(Path(__file__).resolve()), *sys.argv[1:]])
        sys.exit("bench.py needs torch, transformers, sentencepiece and ctranslate2: pip install -r scripts/requirements.txt")


def main() -> int:
    ensure_python_with_packages()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 sentences instead of 500")
    parser.add_argument(
        "--natural",
        action="store_true",
        help="natural output lengths: the model of make_natural_model.py, no forced length, at most --max-length",
    )
    parser.add_argument(
        "--max-length", type=int, default=NATURAL_MAX_TOKENS, help=f"--natural: new tokens at most ({NATURAL_MAX_TOKENS})"
    )
    parser.add_argument("--n", type=int, default=None, help="number of sentences (default 500, --quick 100)")
    parser.add_argument("--sentences", default=str(HERE / "sentences.de.txt"))
    parser.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help=f"comma list from {ENGINES}")
    parser.add_argument("--beams", default="1,4")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--isa",
        choices=["native", "avx2"],
        default="native",
        help="avx2: cap every engine to AVX2 + FMA (an AVX2 machine without VNNI, measured on a wider one)",
    )
    parser.add_argument(
        "--de2en",
        default=os.environ.get("DE2EN_BIN", str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "de2en")),
        help="de2en binary (default $DE2EN_BIN, else $CARGO_TARGET_DIR/release/de2en, else target/release/de2en)",
    )
    parser.add_argument(
        "--de2en-rust-bert",
        default=os.environ.get("DE2EN_RUST_BERT_BIN", str(REPO / "target" / "rust-bert" / "release" / "de2en")),
        help="de2en built with --features rust-bert (default $DE2EN_RUST_BERT_BIN, else target/rust-bert/release/de2en)",
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per (engine, beam, batch) run")
    parser.add_argument(
        "--results", default=None, help="markdown table written here too (out/results.md; --natural: out/results-natural.md)"
    )
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--beam", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.n is None:
        args.n = 100 if args.quick else 500
    if args.results is None:
        args.results = str(OUT / ("results-natural.md" if args.natural else "results.md"))

    if args.natural:
        use_natural_model()
    if args.worker:
        args.engine = args.worker
        return run_worker(args)

    args.beams = [int(x) for x in args.beams.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose from {ENGINES}")
    maker = "make_natural_model.py" if args.natural else "make_full_model.py"
    if not (MODEL_DIR / "model.safetensors").exists():
        print(f"{MODEL_DIR} is missing: run scripts/bench/{maker} first", file=sys.stderr)
        return 1
    for name, path in CT2_DIRS.items():
        if name in engines and not (path / "model.bin").exists():
            print(f"skipping {name}: {path} is missing (run {maker} without --no-ct2)", file=sys.stderr)
            engines.remove(name)
    missing_bin = []
    if not (Path(args.de2en).is_file() and os.access(args.de2en, os.X_OK)):
        for name in ("de2en", "de2en-int8", "de2en-int8-avx2"):
            if name in engines:
                print(f"skipping {name}: no binary at {args.de2en} (cargo build --release, or pass --de2en)", file=sys.stderr)
                engines.remove(name)
                missing_bin.append(name)
    rust_bert_bin = Path(args.de2en_rust_bert)
    if "de2en-rust-bert" in engines and not (rust_bert_bin.is_file() and os.access(rust_bert_bin, os.X_OK)):
        print(
            f"skipping de2en-rust-bert: no binary at {rust_bert_bin} (RUST_BERT=1 scripts/bench/run_bench.sh, "
            "or pass --de2en-rust-bert)",
            file=sys.stderr,
        )
        engines.remove("de2en-rust-bert")

    results = []
    for beam in args.beams:
        for batch in args.batches:
            for engine in engines:
                print(f"{engine:15s} beam {beam} batch {batch:2d} ...", end=" ", flush=True)
                start = time.perf_counter()
                r = run_one(args, engine, beam, batch)
                results.append(r)
                if "error" in r:
                    print(f"FAILED ({r['error'][:300]})", flush=True)
                else:
                    print(
                        f"{tokens_per_s(r):.0f} tok/s, {r['sentences'] / r['translate_s']:.2f} sent/s, "
                        + (f"tokens {length_stats(r)}, " if args.natural else "")
                        + f"CPU-s/wall-s {fmt(cpu_per_wall(r), 2)}, load {r['load_s']:.2f} s, "
                        f"RSS {r['peak_rss_mb']:.0f} MB ({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
    for name in missing_bin:
        results.append(dict(engine=name, beam="–", batch="–", error="skipped: binary missing"))
    table = report(results, args)
    print()
    print(table)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(table, encoding="utf-8")
    with open(Path(args.results).with_suffix(".json"), "w", encoding="utf-8") as f:
        json.dump([{k: v for k, v in r.items() if k not in ("outputs", "lengths")} for r in results], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
