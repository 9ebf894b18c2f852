#!/usr/bin/env python3
"""Make a full-size random-weight model with exactly opus-mt-de-en's configuration, for benchmarks.

The real weights cannot be downloaded here; speed and memory depend only on the shapes, so a model
with Helsinki-NLP/opus-mt-de-en's config (vocab 58101, d_model 512, 6+6 layers, 8 heads, ffn 2048,
swish, 512 positions, tied embeddings) and random weights is timed instead. The tokenizer reuses
the fixture SentencePiece models (tests/fixtures/models/tiny-swish) with vocab.json padded to 58101
entries, so de2en, transformers and CTranslate2 all load the folder.

Writes (git-ignored, never commit):
    scripts/bench/out/opus-mt-de-en-random/      model.safetensors + opus-mt config files
    scripts/bench/out/opus-mt-de-en-random-legacy/  the same as a 2020-era legacy pytorch_model.bin
    scripts/bench/out/ct2-fp32/, ct2-int8/       CTranslate2 conversions (unless --no-ct2)

    /work/pyenv/venv/bin/python scripts/bench/make_full_model.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from transformers import MarianConfig, MarianMTModel  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = HERE / "out"
MODEL_DIR = OUT / "opus-mt-de-en-random"
# The same weights as a 2020-era checkpoint (legacy torch format, old keys): for load-time figures.
LEGACY_DIR = OUT / "opus-mt-de-en-random-legacy"
FIXTURE_TOKENIZER = REPO / "tests" / "fixtures" / "models" / "tiny-swish"

VOCAB_SIZE = 58101
PAD = VOCAB_SIZE - 1

# config.json of Helsinki-NLP/opus-mt-de-en as published on the hub.
OPUS_MT_DE_EN_CONFIG = {
    "_name_or_path": "Helsinki-NLP/opus-mt-de-en (random weights for benchmarks)",
    "_num_labels": 3,
    "activation_dropout": 0.0,
    "activation_function": "swish",
    "add_bias_logits": False,
    "add_final_layer_norm": False,
    "architectures": ["MarianMTModel"],
    "attention_dropout": 0.0,
    "bad_words_ids": [[PAD]],
    "bos_token_id": 0,
    "classif_dropout": 0.0,
    "classifier_dropout": 0.0,
    "d_model": 512,
    "decoder_attention_heads": 8,
    "decoder_ffn_dim": 2048,
    "decoder_layerdrop": 0.0,
    "decoder_layers": 6,
    "decoder_start_token_id": PAD,
    "decoder_vocab_size": VOCAB_SIZE,
    "dropout": 0.1,
    "encoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "encoder_layerdrop": 0.0,
    "encoder_layers": 6,
    "eos_token_id": 0,
    "forced_eos_token_id": 0,
    "gradient_checkpointing": False,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
    "init_std": 0.02,
    "is_encoder_decoder": True,
    "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2},
    "max_length": 512,
    "max_position_embeddings": 512,
    "model_type": "marian",
    "normalize_before": False,
    "normalize_embedding": False,
    "num_beams": 4,
    "num_hidden_layers": 6,
    "pad_token_id": PAD,
    "scale_embedding": True,
    "share_encoder_decoder_embeddings": True,
    "static_position_embeddings": True,
    "transformers_version": "4.22.0.dev0",
    "use_cache": True,
    "vocab_size": VOCAB_SIZE,
}

GENERATION_CONFIG = {
    "bad_words_ids": [[PAD]],
    "bos_token_id": 0,
    "decoder_start_token_id": PAD,
    "eos_token_id": 0,
    "forced_eos_token_id": 0,
    "max_length": 512,
    "num_beams": 4,
    "pad_token_id": PAD,
    "transformers_version": "4.32.0.dev0",
}


def padded_vocab() -> dict[str, int]:
    """The fixture vocab with filler pieces so that <pad> lands on id 58100, as in opus-mt-de-en."""
    with open(FIXTURE_TOKENIZER / "vocab.json", encoding="utf-8") as f:
        small = json.load(f)
    vocab = {piece: i for piece, i in small.items() if piece != "<pad>"}
    assert sorted(vocab.values()) == list(range(len(vocab))), "fixture vocab ids must be dense"
    n = len(vocab)
    while len(vocab) < PAD:
        vocab[f"▁filler{len(vocab) - n:05d}"] = len(vocab)
    vocab["<pad>"] = PAD
    assert len(vocab) == VOCAB_SIZE
    return vocab


def write_json(path: Path, data) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.write("\n")


def make_model(seed: int) -> None:
    if MODEL_DIR.exists():
        shutil.rmtree(MODEL_DIR)
    MODEL_DIR.mkdir(parents=True)
    torch.manual_seed(seed)
    kwargs = {
        k: v
        for k, v in OPUS_MT_DE_EN_CONFIG.items()
        if k not in ("architectures", "transformers_version", "bad_words_ids", "max_length", "num_beams", "forced_eos_token_id")
    }
    model = MarianMTModel(MarianConfig(**kwargs)).eval()
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(MODEL_DIR, safe_serialization=True)
    (MODEL_DIR / "generation_config.json").unlink(missing_ok=True)
    write_json(MODEL_DIR / "config.json", OPUS_MT_DE_EN_CONFIG)
    write_json(MODEL_DIR / "generation_config.json", GENERATION_CONFIG)
    write_json(MODEL_DIR / "vocab.json", padded_vocab())
    for name in ("source.spm", "target.spm", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(FIXTURE_TOKENIZER / name, MODEL_DIR / name)
    size = (MODEL_DIR / "model.safetensors").stat().st_size
    print(f"wrote {MODEL_DIR} ({n_params / 1e6:.1f} M parameters, model.safetensors {size / 1e6:.0f} MB)")
    make_legacy_copy(model)


def make_legacy_copy(model: MarianMTModel) -> None:
    """pytorch_model.bin as transformers 3.x / torch 1.5 wrote opus-mt in 2020: legacy (non-zip)
    format, shared and embed_tokens one storage, embed_positions stored, no lm_head.weight."""
    if LEGACY_DIR.exists():
        shutil.rmtree(LEGACY_DIR)
    shutil.copytree(MODEL_DIR, LEGACY_DIR, ignore=shutil.ignore_patterns("model.safetensors"))
    shared = model.model.shared.weight.detach()
    state = {}
    for key, value in model.state_dict().items():
        if key == "lm_head.weight":
            continue
        state[key] = shared if key.endswith(("shared.weight", "embed_tokens.weight")) else value.detach()
    for side in ("encoder", "decoder"):
        state[f"model.{side}.embed_positions.weight"] = getattr(model.model, side).embed_positions.weight.detach()
    torch.save(state, LEGACY_DIR / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    size = (LEGACY_DIR / "pytorch_model.bin").stat().st_size
    print(f"wrote {LEGACY_DIR} (legacy pytorch_model.bin {size / 1e6:.0f} MB)")


def convert_ct2() -> None:
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    for quantization, name in ((None, "ct2-fp32"), ("int8", "ct2-int8")):
        out = OUT / name
        start = time.perf_counter()
        TransformersConverter(str(MODEL_DIR)).convert(str(out), quantization=quantization, force=True)
        print(f"wrote {out} (ctranslate2 {ctranslate2.__version__}, {time.perf_counter() - start:.1f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--no-ct2", action="store_true", help="skip the CTranslate2 conversions")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(2)
    if not (FIXTURE_TOKENIZER / "source.spm").exists():
        print(f"{FIXTURE_TOKENIZER} is missing: run scripts/make_test_model.py first", file=sys.stderr)
        return 1
    make_model(args.seed)
    if not args.no_ct2:
        convert_ct2()
    return 0


if __name__ == "__main__":
    sys.exit(main())
