#!/usr/bin/env python3
"""Group a `perf report --no-children --sort sym` listing into the phases of a decoder step.

    perf record -F 999 -o perf.data -- target/release/de2en translate ... < sentences
    perf report -i perf.data --no-children --sort sym | scripts/bench/profile_phases.py

Prints each phase's share of the samples, largest first, then the largest symbols left in
"other". Shares, not times: on a shared machine only the split is comparable between runs.
"""

import re
import sys

# (phase, patterns on the symbol), first match wins.
PHASES = [
    ("GEMM kernels", [r"rten_gemm::kernels::.*::kernel", r"int8_widened::avx2::tile", r"rten_gemm::gemm_block", r"gemm_impl"]),
    ("gemm: packing A (rten)", [r"pack_a_impl"]),
    ("gemm: packing B (rten)", [r"pack_b_impl"]),
    ("attention", [r"attend_row", r"model::attend"]),
    ("logits: log-softmax + top-k scan (decode.rs)", [r"engine::decode::"]),
    ("int8 quantise/dequantise (linear.rs)", [r"quantize", r"dequantize", r"roundf", r"interleave_rows"]),
    ("activation (SiLU) and exp", [r"silu", r"expf"]),
    ("layer norm (+ residual)", [r"residual_norm", r"LayerNorm"]),
    ("candle ops (embeddings, copies)", [r"candle_core::"]),
    ("memcpy/memset", [r"memmove", r"memcpy", r"memset"]),
    ("allocation", [r"malloc", r"_int_free", r"cfree", r"unlink_chunk", r"realloc"]),
    ("rayon (hand-offs, spinning)", [r"rayon", r"crossbeam", r"sched_yield", r"Mutex"]),
    ("kernel (scheduler, page faults)", [r"\[k\]"]),
]


def main() -> None:
    shares: dict[str, float] = {}
    other: list[tuple[float, str]] = []
    for line in sys.stdin:
        m = re.match(r"\s*([\d.]+)%\s+(.*)$", line)
        if not m or line.lstrip().startswith("#"):
            continue
        share, symbol = float(m.group(1)), m.group(2).strip()
        for phase, patterns in PHASES:
            if any(re.search(p, symbol) for p in patterns):
                shares[phase] = shares.get(phase, 0.0) + share
                break
        else:
            shares["other"] = shares.get("other", 0.0) + share
            other.append((share, symbol))
    for phase, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"{share:6.2f}%  {phase}")
    print("--- largest 'other':")
    for share, symbol in sorted(other, reverse=True)[:6]:
        print(f"{share:6.2f}%  {symbol[:100]}")


if __name__ == "__main__":
    main()
