#!/usr/bin/env python3
"""Benchmark de2en against transformers (PyTorch) and CTranslate2 (fp32, int8) on a full-size model.

Every engine translates the same German sentences (scripts/bench/sentences.de.txt) with the same
random-weight model that has opus-mt-de-en's exact shape (scripts/bench/make_full_model.py), with
every hypothesis forced to exactly 32 new tokens so that speed does not depend on what a random
model happens to emit. Beam 1 and 4, batch 1 and 32, 2 threads each. Each (engine, beam, batch)
runs in its own process, which reports model load time, translation time and its peak RSS.

    scripts/bench/run_bench.sh            # everything: model, conversions, build, 500 sentences
    scripts/bench/run_bench.sh --quick    # 100 sentences
    /work/pyenv/venv/bin/python scripts/bench/bench.py --help

How each engine is driven:
- de2en: `de2en translate --model DIR --input-format lines --beam-size B --max-length 32
  --min-length 32 --batch-tokens T --threads 2`, sentences on stdin. Load time = wall time of the
  same command on empty input; translation time = wall time on the sentences minus that.
  Batch 1 uses --batch-tokens 1 (one sentence per batch); batch 32 uses 32 × the mean padded source
  length, which packs about 32 sentences per batch (de2en packs by padded tokens, not sentences).
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
ENGINES = ["de2en", "de2en-rust-bert", "transformers", "ct2-fp32", "ct2-int8"]
PEERS = ["de2en-rust-bert", "transformers", "ct2-fp32", "ct2-int8"]


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


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

    start = time.perf_counter()
    outputs = [""] * len(sentences)
    tokens = 0
    with torch.inference_mode():
        lengths = [len(ids) for ids in tok(sentences).input_ids]
        for idx in batches_by_length(lengths, args.batch):
            enc = tok([sentences[i] for i in idx], return_tensors="pt", padding=True)
            gen = model.generate(
                **enc,
                num_beams=args.beam,
                min_new_tokens=NEW_TOKENS,
                max_new_tokens=NEW_TOKENS,
                early_stopping=False,
            )
            tokens += (gen.shape[1] - 1) * len(idx)
            for i, text in zip(idx, tok.batch_decode(gen, skip_special_tokens=True)):
                outputs[i] = text
    translate_s = time.perf_counter() - start
    return dict(load_s=load_s, translate_s=translate_s, tokens=tokens, peak_rss_mb=peak_rss_mb(), outputs=outputs)


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

    start = time.perf_counter()
    outputs = [""] * len(sentences)
    tokens = 0
    source = [tok.convert_ids_to_tokens(ids) for ids in tok(sentences).input_ids]
    for idx in batches_by_length([len(s) for s in source], args.batch):
        results = translator.translate_batch(
            [source[i] for i in idx],
            beam_size=args.beam,
            min_decoding_length=NEW_TOKENS,
            max_decoding_length=NEW_TOKENS,
            max_batch_size=args.batch,
        )
        for i, result in zip(idx, results):
            hyp = result.hypotheses[0]
            tokens += len(hyp)
            # transformers and de2en end with the forced </s> as token 32; CTranslate2 has no forced
            # EOS and emits a 32nd ordinary token instead: compare texts on the first 31.
            outputs[i] = tok.decode(tok.convert_tokens_to_ids(hyp[: NEW_TOKENS - 1]), skip_special_tokens=True)
    translate_s = time.perf_counter() - start
    return dict(load_s=load_s, translate_s=translate_s, tokens=tokens, peak_rss_mb=peak_rss_mb(), outputs=outputs)


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
        "--max-length", str(NEW_TOKENS),
        "--min-length", str(NEW_TOKENS),
        "--batch-tokens", str(batch_tokens),
        "--threads", str(args.threads),
    ]  # fmt: skip
    # Load: the same command on empty input (process start, model and tokenizer load, exit);
    # the faster of two runs, the first one also warms the page cache as the peers' loads are.
    load_runs = []
    for _ in range(2):
        start = time.perf_counter()
        empty = subprocess.run(cmd, input=b"", capture_output=True)
        load_runs.append(time.perf_counter() - start)
        if empty.returncode != 0:
            raise RuntimeError(
                f"de2en failed on empty input (exit {empty.returncode}): {empty.stderr.decode(errors='replace')[-2000:]}"
            )
    load_s = min(load_runs)
    data = "".join(s + "\n" for s in sentences).encode("utf-8")
    # Peak RSS through /usr/bin/time: ru_maxrss of our own children would count the moment between
    # fork and exec, when the child is still a copy of this (large) Python process.
    timer = ["/usr/bin/time", "-f", "DE2EN_MAXRSS_KB %M"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    run = subprocess.run(timer + cmd, input=data, capture_output=True)
    total_s = time.perf_counter() - start
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
    if total_s - load_s < 0.05 * total_s:
        raise RuntimeError(f"translation time ({total_s:.2f} s in all) too close to load time ({load_s:.2f} s): use more sentences")
    return dict(
        load_s=load_s,
        translate_s=total_s - load_s,
        tokens=NEW_TOKENS * len(sentences),  # forced by --min-length = --max-length
        peak_rss_mb=rss_mb,
        outputs=outputs,
        batch_tokens=batch_tokens,
        cmd=" ".join(cmd),
    )


def run_worker(args) -> int:
    sentences = read_sentences(Path(args.sentences), args.n)
    fn = {"transformers": worker_transformers, "de2en": worker_de2en, "de2en-rust-bert": worker_de2en}.get(
        args.engine, worker_ct2
    )
    result = fn(args, sentences)
    result.update(engine=args.engine, beam=args.beam, batch=args.batch, sentences=len(sentences))
    print("RESULT " + json.dumps(result, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def run_one(args, engine: str, beam: int, batch: int) -> dict:
    env = dict(os.environ)
    env.update(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    env.setdefault("RAYON_NUM_THREADS", str(args.threads))
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--worker", engine,
        "--beam", str(beam), "--batch", str(batch), "--n", str(args.n),
        "--threads", str(args.threads), "--sentences", str(args.sentences), "--de2en", args.de2en,
        "--de2en-rust-bert", args.de2en_rust_bert,
    ]  # fmt: skip
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


def report(results: list[dict], args) -> str:
    ok = {(r["engine"], r["beam"], r["batch"]): r for r in results if "error" not in r}
    lines = []
    lines.append(
        f"{args.n} sentences, exactly {NEW_TOKENS} new tokens each, {args.threads} threads, "
        f"model: opus-mt-de-en shape, random weights (`scripts/bench/make_full_model.py`)."
    )
    lines.append("")
    lines.append("| engine | beam | batch | sentences/s | target tokens/s | load s | peak RSS MB | same text as transformers |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "error" in r:
            error = r["error"].replace("|", "/")[:160]
            lines.append(f"| {r['engine']} | {r['beam']} | {r['batch']} | failed: {error} | | | | |")
            continue
        ref = ok.get(("transformers", r["beam"], r["batch"]))
        same = "–"
        if ref and r["engine"] != "transformers":
            n_same = sum(a == b for a, b in zip(r["outputs"], ref["outputs"]))
            same = f"{n_same}/{len(ref['outputs'])}"
        lines.append(
            f"| {r['engine']} | {r['beam']} | {r['batch']} | {fmt(r['sentences'] / r['translate_s'], 2)} | "
            f"{fmt(r['tokens'] / r['translate_s'], 0)} | {fmt(r['load_s'], 2)} | {fmt(r['peak_rss_mb'], 0)} | {same} |"
        )
    lines.append("")
    lines.append("de2en ÷ peer (speed: higher is better for de2en; RSS and load: lower is better for de2en):")
    lines.append("")
    lines.append("| beam | batch | peer | speed ratio | load ratio | peak RSS ratio |")
    lines.append("|---:|---:|---|---:|---:|---:|")
    any_ratio = False
    for beam in args.beams:
        for batch in args.batches:
            mine = ok.get(("de2en", beam, batch))
            for peer in PEERS:
                theirs = ok.get((peer, beam, batch))
                if not (mine and theirs):
                    continue
                any_ratio = True
                speed = theirs["translate_s"] / mine["translate_s"]
                load = mine["load_s"] / theirs["load_s"]
                rss = mine["peak_rss_mb"] / theirs["peak_rss_mb"]
                lines.append(f"| {beam} | {batch} | {peer} | {speed:.2f}× | {load:.2f}× | {rss:.2f}× |")
    if not any_ratio:
        lines.append("| – | – | – | no run with both de2en and a peer (see above) | | |")
    return "\n".join(lines) + "\n"


def ensure_python_with_packages() -> None:
    """Re-run under the project venv when this interpreter lacks transformers / ctranslate2."""
    # find_spec, not import: the driver stays small, so its forked workers start small too
    # (ru_maxrss keeps the high-water mark of the moment between fork and exec).
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("ctranslate2", "transformers", "torch")):
        venv = os.environ.get("PYTHON", "/work/pyenv/venv/bin/python")
        if Path(venv).exists() and not os.environ.get("DE2EN_BENCH_REEXEC"):
            os.environ["DE2EN_BENCH_REEXEC"] = "1"
            os.execv(venv, [venv, str(Path(__file__).resolve()), *sys.argv[1:]])
        sys.exit("bench.py needs torch, transformers, sentencepiece and ctranslate2: pip install -r scripts/requirements.txt")


def main() -> int:
    ensure_python_with_packages()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 sentences instead of 500")
    parser.add_argument("--n", type=int, default=None, help="number of sentences (default 500, --quick 100)")
    parser.add_argument("--sentences", default=str(HERE / "sentences.de.txt"))
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma list from {ENGINES}")
    parser.add_argument("--beams", default="1,4")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--threads", type=int, default=2)
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
    parser.add_argument("--results", default=str(OUT / "results.md"), help="markdown table written here too")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--beam", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.n is None:
        args.n = 100 if args.quick else 500

    if args.worker:
        args.engine = args.worker
        return run_worker(args)

    args.beams = [int(x) for x in args.beams.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; choose from {ENGINES}")
    if not (MODEL_DIR / "model.safetensors").exists():
        print(f"{MODEL_DIR} is missing: run scripts/bench/make_full_model.py first", file=sys.stderr)
        return 1
    for name, path in CT2_DIRS.items():
        if name in engines and not (path / "model.bin").exists():
            print(f"skipping {name}: {path} is missing (run make_full_model.py without --no-ct2)", file=sys.stderr)
            engines.remove(name)
    if "de2en" in engines and not (Path(args.de2en).is_file() and os.access(args.de2en, os.X_OK)):
        print(f"skipping de2en: no binary at {args.de2en} (cargo build --release, or pass --de2en)", file=sys.stderr)
        engines.remove("de2en")
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
                print(f"{engine:12s} beam {beam} batch {batch:2d} ...", end=" ", flush=True)
                start = time.perf_counter()
                r = run_one(args, engine, beam, batch)
                results.append(r)
                if "error" in r:
                    print(f"FAILED ({r['error'][:300]})", flush=True)
                else:
                    print(
                        f"{r['sentences'] / r['translate_s']:.2f} sent/s, load {r['load_s']:.2f} s, "
                        f"RSS {r['peak_rss_mb']:.0f} MB ({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
    if "de2en" not in engines:
        results.append(dict(engine="de2en", beam="–", batch="–", error="skipped: binary missing"))
    table = report(results, args)
    print()
    print(table)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(table, encoding="utf-8")
    with open(Path(args.results).with_suffix(".json"), "w", encoding="utf-8") as f:
        json.dump([{k: v for k, v in r.items() if k != "outputs"} for r in results], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
