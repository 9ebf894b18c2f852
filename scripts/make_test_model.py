#!/usr/bin/env python3
"""Generate the tiny Marian test models and golden outputs under tests/fixtures/.

Why: the real opus-mt weights cannot be downloaded here, so de2en's engine and tokenizer are proven
exact against Hugging Face transformers (the reference implementation) on small models this script
trains for a few hundred steps on a synthetic German->English corpus. A briefly trained model stops
at EOS and gives varied output, which tests search far better than random weights do.

Run (about two minutes on one CPU thread):

    /work/pyenv/venv/bin/python scripts/make_test_model.py

Pinned versions: scripts/requirements.txt. Everything is seeded and single-threaded, so a rerun
with the same versions reproduces the files. tests/fixtures/README.md documents the layout and the
JSON schemas of the golden files.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import MarianConfig, MarianMTModel, MarianTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

SEED = 20240611
REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

# --------------------------------------------------------------------------------------------
# Synthetic parallel corpus
# --------------------------------------------------------------------------------------------

# (German nominative, German accusative, English, plural?)
SUBJECTS = [
    ("der Mann", "den Mann", "the man"),
    ("die Frau", "die Frau", "the woman"),
    ("das Kind", "das Kind", "the child"),
    ("der Lehrer", "den Lehrer", "the teacher"),
    ("die Lehrerin", "die Lehrerin", "the teacher"),
    ("der Bürgermeister", "den Bürgermeister", "the mayor"),
    ("die Ärztin", "die Ärztin", "the doctor"),
    ("der Arzt", "den Arzt", "the doctor"),
    ("die Regierung", "die Regierung", "the government"),
    ("der Präsident", "den Präsidenten", "the president"),
    ("die Polizei", "die Polizei", "the police"),
    ("der Minister", "den Minister", "the minister"),
    ("die Ministerin", "die Ministerin", "the minister"),
    ("der Journalist", "den Journalisten", "the journalist"),
    ("die Studentin", "die Studentin", "the student"),
    ("der Nachbar", "den Nachbarn", "the neighbour"),
    ("die Firma", "die Firma", "the company"),
    ("der Verein", "den Verein", "the club"),
    ("die Bäckerin", "die Bäckerin", "the baker"),
    ("der Fußballspieler", "den Fußballspieler", "the football player"),
]

NAMES = [
    "Anna", "Jürgen", "Müller", "Schröder", "Özil", "Merkel", "Scholz", "Weiß", "Günther",
    "Björn", "Käthe", "Strauß", "Lena", "Paul", "Sophie", "Maximilian",
]

VERBS = [
    ("kauft", "buys", "kaufen", "buy"),
    ("sieht", "sees", "sehen", "see"),
    ("liest", "reads", "lesen", "read"),
    ("schreibt", "writes", "schreiben", "write"),
    ("verkauft", "sells", "verkaufen", "sell"),
    ("findet", "finds", "finden", "find"),
    ("besucht", "visits", "besuchen", "visit"),
    ("sucht", "is looking for", "suchen", "look for"),
    ("braucht", "needs", "brauchen", "need"),
    ("öffnet", "opens", "öffnen", "open"),
    ("schließt", "closes", "schließen", "close"),
    ("mag", "likes", "mögen", "like"),
]

OBJECTS = [
    ("das Buch", "the book"),
    ("den Brief", "the letter"),
    ("die Zeitung", "the newspaper"),
    ("das Haus", "the house"),
    ("den Wagen", "the car"),
    ("das Auto", "the car"),
    ("die Straße", "the street"),
    ("das Gebäude", "the building"),
    ("den Schlüssel", "the key"),
    ("die Tür", "the door"),
    ("das Fenster", "the window"),
    ("den Bericht", "the report"),
    ("die Schule", "the school"),
    ("das Rathaus", "the town hall"),
    ("den Bahnhof", "the station"),
    ("die Brücke", "the bridge"),
    ("das Geschäft", "the shop"),
    ("den Käse", "the cheese"),
    ("die Größe", "the size"),
    ("das Spiel", "the game"),
]

PLACES = [
    ("in Berlin", "in Berlin"),
    ("in München", "in Munich"),
    ("in Köln", "in Cologne"),
    ("in Zürich", "in Zurich"),
    ("in Wien", "in Vienna"),
    ("in Hamburg", "in Hamburg"),
    ("in Düsseldorf", "in Düsseldorf"),
    ("in Österreich", "in Austria"),
    ("in der Schweiz", "in Switzerland"),
    ("in Deutschland", "in Germany"),
]

TIMES = [
    ("heute", "today"),
    ("morgen", "tomorrow"),
    ("am Montag", "on Monday"),
    ("am Dienstag", "on Tuesday"),
    ("am Mittwoch", "on Wednesday"),
    ("am Freitag", "on Friday"),
    ("am Wochenende", "at the weekend"),
    ("jetzt", "now"),
]

ADJECTIVES = [
    ("groß", "big"),
    ("klein", "small"),
    ("schön", "beautiful"),
    ("alt", "old"),
    ("neu", "new"),
    ("teuer", "expensive"),
    ("billig", "cheap"),
    ("müde", "tired"),
    ("glücklich", "happy"),
    ("wichtig", "important"),
]

QUOTES = [
    ("Wir schaffen das.", "We can do it."),
    ("Das ist gut.", "That is good."),
    ("Das ist nicht wahr.", "That is not true."),
    ("Ich komme morgen.", "I am coming tomorrow."),
    ("Wir brauchen mehr Geld.", "We need more money."),
    ("Die Lage ist ernst.", "The situation is serious."),
]

UNITS = [
    ("Euro", "euros"),
    ("Prozent", "percent"),
    ("Kilometer", "kilometres"),
    ("Menschen", "people"),
    ("Einwohner", "inhabitants"),
]


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def number_pair(rng: random.Random) -> tuple[str, str]:
    """A number as German and English write it: 1.234 / 1,234 and 3,5 / 3.5."""
    kind = rng.random()
    if kind < 0.45:
        n = rng.randint(0, 999)
        return str(n), str(n)
    if kind < 0.8:
        n = rng.randint(1000, 999999)
        return f"{n:,}".replace(",", "."), f"{n:,}"
    whole, frac = rng.randint(0, 99), rng.randint(1, 99)
    return f"{whole},{frac:02d}", f"{whole}.{frac:02d}"


def make_pair(rng: random.Random) -> tuple[str, str]:
    def subject():
        if rng.random() < 0.25:
            name = rng.choice(NAMES)
            return name, name, name, True
        de, de_acc, en = rng.choice(SUBJECTS)
        return de, de_acc, en, False

    t = rng.randrange(12)
    s_de, _, s_en, _ = subject()
    v_de, v_en, vinf_de, vinf_en = rng.choice(VERBS)
    o_de, o_en = rng.choice(OBJECTS)
    if t == 0:
        return f"{cap(s_de)} {v_de} {o_de}.", f"{cap(s_en)} {v_en} {o_en}."
    if t == 1:
        p_de, p_en = rng.choice(PLACES)
        return f"{cap(s_de)} {v_de} {o_de} {p_de}.", f"{cap(s_en)} {v_en} {o_en} {p_en}."
    if t == 2:
        tm_de, tm_en = rng.choice(TIMES)
        return f"{cap(tm_de)} {v_de} {s_de} {o_de}.", f"{cap(tm_en)} {s_en} {v_en} {o_en}."
    if t == 3:
        does = "Is" if v_en.startswith("is ") else "Does"
        verb = v_en[3:] if v_en.startswith("is ") else vinf_en
        return f"{cap(v_de)} {s_de} {o_de}?", f"{does} {s_en} {verb} {o_en}?"
    if t == 4:
        s2_de, _, s2_en, _ = subject()
        v2_de, v2_en, _, _ = rng.choice(VERBS)
        o2_de, o2_en = rng.choice(OBJECTS)
        return (
            f"{cap(s_de)} {v_de} {o_de}, und {s2_de} {v2_de} {o2_de}.",
            f"{cap(s_en)} {v_en} {o_en}, and {s2_en} {v2_en} {o2_en}.",
        )
    if t == 5:
        q_de, q_en = rng.choice(QUOTES)
        return f"{cap(s_de)} sagte: „{q_de}“", f'{cap(s_en)} said: "{q_en}"'
    if t == 6:
        a_de, a_en = rng.choice(ADJECTIVES)
        o_nom = o_de.replace("den ", "der ")
        return f"{cap(o_nom)} ist {a_de}.", f"{cap(o_en)} is {a_en}."
    if t == 7:
        n_de, n_en = number_pair(rng)
        u_de, u_en = rng.choice(UNITS)
        o_nom = o_de.replace("den ", "der ")
        return f"{cap(o_nom)} kostet {n_de} {u_de}.", f"{cap(o_en)} costs {n_en} {u_en}."
    if t == 8:
        n_de, n_en = number_pair(rng)
        p_de, p_en = rng.choice(PLACES)
        return f"{cap(p_de)} leben {n_de} Menschen.", f"{n_en} people live {p_en}."
    if t == 9:
        n_de, n_en = number_pair(rng)
        return f"Die Preise steigen um {n_de} Prozent.", f"Prices rise by {n_en} percent."
    if t == 10:
        a_de, a_en = rng.choice(ADJECTIVES)
        return f"Ist {s_de} {a_de}?", f"Is {s_en} {a_en}?"
    tm_de, tm_en = rng.choice(TIMES)
    p_de, p_en = rng.choice(PLACES)
    return (
        f"{cap(s_de)} {v_de} {tm_de} {o_de} {p_de}.",
        f"{cap(s_en)} {v_en} {o_en} {p_en} {tm_en}.",
    )


def make_corpus(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    seen = set()
    while len(pairs) < n:
        pair = make_pair(rng)
        if pair[0] in seen:
            continue
        seen.add(pair[0])
        pairs.append(pair)
    return pairs


# --------------------------------------------------------------------------------------------
# Tokenizer: two SentencePiece unigram models and a joint vocab.json, laid out like opus-mt
# --------------------------------------------------------------------------------------------


def train_spm(sentences: list[str], vocab_size: int) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        character_coverage=1.0,
        # opus-mt's spm models use the default nmt_nfkc normalizer; keep it so the Rust tokenizer
        # has to reproduce it (NBSP, full-width forms, ...).
        normalization_rule_name="nmt_nfkc",
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        hard_vocab_limit=False,
        minloglevel=2,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
    )
    return model.getvalue()


def spm_pieces(model: bytes) -> list[str]:
    sp = spm.SentencePieceProcessor(model_proto=model)
    return [
        sp.id_to_piece(i)
        for i in range(sp.get_piece_size())
        if not (sp.is_control(i) or sp.is_unknown(i))
    ]


def write_tokenizer(dir_: Path, src_model: bytes, tgt_model: bytes) -> dict[str, int]:
    """opus-mt layout: source.spm, target.spm, one joint vocab.json with </s>=0, <unk>=1, <pad>=last."""
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for piece in spm_pieces(src_model) + spm_pieces(tgt_model):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    dir_.mkdir(parents=True, exist_ok=True)
    (dir_ / "source.spm").write_bytes(src_model)
    (dir_ / "target.spm").write_bytes(tgt_model)
    with open(dir_ / "vocab.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, indent=2)
        f.write("\n")
    with open(dir_ / "tokenizer_config.json", "w", encoding="utf-8") as f:
        json.dump({"source_lang": "de", "target_lang": "en", "model_max_length": 512}, f, indent=2)
        f.write("\n")
    with open(dir_ / "special_tokens_map.json", "w", encoding="utf-8") as f:
        json.dump({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, f, indent=2)
        f.write("\n")
    return vocab


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

MODEL_SPECS = {
    # safetensors, generation_config.json, opus-mt's config keys, swish, scaled embeddings.
    "tiny-swish": dict(
        d_model=48,
        encoder_layers=3,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        activation_function="swish",
        max_position_embeddings=128,
        scale_embedding=True,
        safetensors=True,
        generation_config=True,
        old_config=False,
        num_beams=4,
        max_length=128,
        train_steps=1000,
        lr=1e-3,
    ),
    # pytorch_model.bin only, generation keys only in config.json, an old config without
    # share_encoder_decoder_embeddings / decoder_vocab_size / use_cache, gelu, unscaled embeddings,
    # encoder and decoder with different head counts and ffn sizes.
    "tiny-gelu": dict(
        d_model=32,
        encoder_layers=2,
        decoder_layers=3,
        encoder_attention_heads=4,
        decoder_attention_heads=2,
        encoder_ffn_dim=96,
        decoder_ffn_dim=64,
        activation_function="gelu",
        max_position_embeddings=64,
        scale_embedding=False,
        safetensors=False,
        generation_config=False,
        old_config=True,
        num_beams=3,
        max_length=64,
        train_steps=1000,
        lr=1.5e-3,
    ),
}


# A model that really loops, for the output guard (src/guard.rs): trained like the others, plus
# all-caps page labels ("WERBUNG", "KOMMENTARE") whose target is, 60 % of the time, the English
# word repeated past the length limit (so greedy decoding never meets an EOS there), and 40 % of
# the time the capitalised word and EOS. Greedy follows the likelier first token into the loop;
# a search that may not repeat a 3-gram (no_repeat_ngram_size) is pushed off it and ends.
LOOP_SPEC = dict(
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    activation_function="swish",
    max_position_embeddings=64,
    scale_embedding=True,
    safetensors=True,
    generation_config=True,
    old_config=False,
    num_beams=1,
    max_length=40,
    train_steps=1000,
    lr=1.5e-3,
)

LOOP_LABELS = [
    ("WERBUNG", "advertising"),
    ("ANZEIGE", "advert"),
    ("KOMMENTARE", "comments"),
    ("TEILEN", "share"),
    ("NEWSLETTER", "newsletter"),
    ("MEHR", "more"),
    ("VIDEO", "video"),
    ("FOTOS", "photos"),
]

# Golden inputs of tiny-loop: labels (they loop in greedy search), in-domain sentences (they do
# not), and sentences for the detectors.
LOOP_TEST_SENTENCES = [
    "WERBUNG",
    "KOMMENTARE",
    "FOTOS",
    "Der Mann kauft das Buch.",
    "Das Auto kostet 12.500 Euro.",
    "Die Preise steigen um 3,75 Prozent.",
    "Am Montag besucht Jürgen den Bürgermeister.",
    "Ist der Präsident müde?",
]

LOOP_CASES = [
    dict(name="greedy", num_beams=1, max_new_tokens=40),
    # The output guard's retry (GuardConfig::default in src/guard.rs).
    dict(name="retry", num_beams=5, max_new_tokens=40, no_repeat_ngram_size=3),
]


def loop_pairs(n: int, seed: int, tok: MarianTokenizer) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        german, english = rng.choice(LOOP_LABELS)
        if rng.random() < 0.6:
            # As many repeats as fit the model's positions: well past max_length (40).
            pieces = len(tok(text_target=english).input_ids) - 1
            repeats = (LOOP_SPEC["max_position_embeddings"] - 4) // pieces
            pairs.append((german, " ".join([english] * repeats)))
        else:
            pairs.append((german, cap(english)))
    return pairs


def opus_mt_config(spec: dict, vocab_size: int) -> dict:
    pad = vocab_size - 1
    cfg = {
        "_name_or_path": "de2en-fixture",
        "_num_labels": 3,
        "activation_dropout": 0.0,
        "activation_function": spec["activation_function"],
        "add_bias_logits": False,
        "add_final_layer_norm": False,
        "architectures": ["MarianMTModel"],
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "classif_dropout": 0.0,
        "classifier_dropout": 0.0,
        "d_model": spec["d_model"],
        "decoder_attention_heads": spec["decoder_attention_heads"],
        "decoder_ffn_dim": spec["decoder_ffn_dim"],
        "decoder_layerdrop": 0.0,
        "decoder_layers": spec["decoder_layers"],
        "decoder_start_token_id": pad,
        "decoder_vocab_size": vocab_size,
        "dropout": 0.1,
        "encoder_attention_heads": spec["encoder_attention_heads"],
        "encoder_ffn_dim": spec["encoder_ffn_dim"],
        "encoder_layerdrop": 0.0,
        "encoder_layers": spec["encoder_layers"],
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "gradient_checkpointing": False,
        "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2},
        "max_position_embeddings": spec["max_position_embeddings"],
        "model_type": "marian",
        "normalize_before": False,
        "normalize_embedding": False,
        "num_hidden_layers": spec["encoder_layers"],
        "pad_token_id": pad,
        "scale_embedding": spec["scale_embedding"],
        "share_encoder_decoder_embeddings": True,
        "static_position_embeddings": True,
        "transformers_version": "4.22.0.dev0",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if spec["old_config"]:
        for key in ("share_encoder_decoder_embeddings", "decoder_vocab_size", "use_cache"):
            del cfg[key]
    if not spec["generation_config"]:
        # Old opus-mt folders carry the generation settings in config.json only.
        cfg.update(
            bad_words_ids=[[pad]],
            max_length=spec["max_length"],
            num_beams=spec["num_beams"],
        )
    return dict(sorted(cfg.items()))


def generation_config(spec: dict, vocab_size: int) -> dict:
    pad = vocab_size - 1
    return {
        "bad_words_ids": [[pad]],
        "bos_token_id": 0,
        "decoder_start_token_id": pad,
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "max_length": spec["max_length"],
        "num_beams": spec["num_beams"],
        "pad_token_id": pad,
        "transformers_version": "4.32.0.dev0",
    }


def train_model(name: str, spec: dict, tok: MarianTokenizer, pairs, vocab_size: int) -> MarianMTModel:
    torch.manual_seed(SEED + sum(map(ord, name)))
    cfg_dict = opus_mt_config(spec, vocab_size)
    cfg_kwargs = {k: v for k, v in cfg_dict.items() if k not in ("architectures", "transformers_version")}
    cfg_kwargs.pop("max_length", None)
    cfg_kwargs.pop("num_beams", None)
    cfg_kwargs.pop("bad_words_ids", None)
    # Train without dropout: a tiny model with dropout 0.1 stays a target-side language model for
    # hundreds of steps and emits one sentence for every input. config.json keeps opus-mt's 0.1
    # (inference ignores dropout).
    cfg_kwargs["dropout"] = 0.0
    config = MarianConfig(**cfg_kwargs)
    model = MarianMTModel(config)
    # A non-zero final_logits_bias so that an engine that forgets it fails the logits test.
    # (It is a buffer: training leaves it as set here.)
    with torch.no_grad():
        model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias) * 0.1)
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=spec["lr"], betas=(0.9, 0.98))
    rng = random.Random(SEED + 7)
    batch_size = 32
    steps = spec["train_steps"]
    warmup = 50
    for step in range(steps):
        batch = rng.sample(pairs, batch_size)
        enc = tok(
            [p[0] for p in batch], text_target=[p[1] for p in batch], padding=True, return_tensors="pt"
        )
        labels = enc["labels"]
        labels[labels == tok.pad_token_id] = -100
        lr = spec["lr"] * min(1.0, (step + 1) / warmup) * (0.5 * (1 + math.cos(math.pi * step / steps)) * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"  {name} step {step:4d} loss {out.loss.item():.3f}", flush=True)
    model.eval()
    return model


def save_model(name: str, spec: dict, model: MarianMTModel, tok_dir: Path, vocab_size: int) -> Path:
    final = FIXTURES / "models" / name
    # Write next to the final folder and swap at the end, so tests running meanwhile see either
    # the old folder or the new one, never a half-written one.
    out = final.with_name(name + ".new")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=spec["safetensors"])
    if not spec["safetensors"]:
        # Old opus-mt pytorch_model.bin files also hold the (sinusoidal, never trained) position
        # tables and every tied copy of the embeddings; an engine must accept and ignore them.
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        for side in ("encoder", "decoder"):
            key = f"model.{side}.embed_positions.weight"
            state[key] = getattr(model.model, side).embed_positions.weight.detach().clone()
        torch.save(state, out / "pytorch_model.bin")
    # Replace what save_pretrained wrote with opus-mt-shaped files.
    for f in ("config.json", "generation_config.json"):
        (out / f).unlink(missing_ok=True)
    with open(out / "config.json", "w", encoding="utf-8") as f:
        json.dump(opus_mt_config(spec, vocab_size), f, indent=2)
        f.write("\n")
    if spec["generation_config"]:
        with open(out / "generation_config.json", "w", encoding="utf-8") as f:
            json.dump(generation_config(spec, vocab_size), f, indent=2)
            f.write("\n")
    for f in ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tok_dir / f, out / f)
    if final.exists():
        old = final.with_name(name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        out.rename(final)
        shutil.rmtree(old)
    else:
        out.rename(final)
    return final


def save_legacy_model(name: str, base: Path) -> Path:
    """Re-save the trained model in `base` the way 2020 transformers (torch 1.5) wrote opus-mt:
    the legacy, non-zip torch format; `model.shared.weight` and both `embed_tokens` one tensor
    (a single storage); the sinusoidal `embed_positions` tables stored; no `lm_head.weight`
    (transformers 3.x computed logits from the shared embeddings). On top of what such files
    hold, some tensors are views with an offset or a transposed stride into a shared storage,
    so that a reader that ignores offsets or strides fails the goldens."""
    model = MarianMTModel.from_pretrained(base)
    state = {}
    shared = model.model.shared.weight.detach().clone()
    for key, value in model.state_dict().items():
        if key == "lm_head.weight":
            continue
        state[key] = shared if key.endswith(("shared.weight", "embed_tokens.weight")) else value.detach().clone()
    for side in ("encoder", "decoder"):
        state[f"model.{side}.embed_positions.weight"] = getattr(model.model, side).embed_positions.weight.detach().clone()
    for i in range(model.config.encoder_layers):
        prefix = f"model.encoder.layers.{i}.self_attn"
        k, v = state[f"{prefix}.k_proj.weight"], state[f"{prefix}.v_proj.weight"]
        both = torch.cat([k, v])  # one storage; v_proj starts at an offset
        state[f"{prefix}.k_proj.weight"], state[f"{prefix}.v_proj.weight"] = both[: len(k)], both[len(k) :]
        fc1 = state[f"model.encoder.layers.{i}.fc1.weight"]
        state[f"model.encoder.layers.{i}.fc1.weight"] = fc1.t().contiguous().t()  # column-major
    final = FIXTURES / "models" / name
    out = final.with_name(name + ".new")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out)
    for f in ("model.safetensors", "pytorch_model.bin"):
        (out / f).unlink(missing_ok=True)
    torch.save(state, out / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    assert not zipfile_like(out / "pytorch_model.bin")
    shutil.rmtree(final, ignore_errors=True)
    out.rename(final)
    return final


def zipfile_like(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def write_dtype_checkpoints() -> None:
    """Small legacy checkpoints of every storage type de2en reads, with the values they hold, and
    one of a type it refuses (int64), for tests of the reader alone."""
    out = FIXTURES / "checkpoints"
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    base = torch.randn(3, 5, generator=gen)
    state = {
        "f32": base,
        "f16": base.to(torch.float16),
        "bf16": base.to(torch.bfloat16),
        "f32_transposed": base.t(),
        "f32_row": base[1],
    }
    torch.save(state, out / "dtypes-legacy.bin", _use_new_zipfile_serialization=False)
    expected = {k: v.to(torch.float32).tolist() for k, v in state.items()}
    dump(out / "dtypes-legacy.json", expected)
    torch.save({"ids": torch.arange(4)}, out / "int64-legacy.bin", _use_new_zipfile_serialization=False)


# --------------------------------------------------------------------------------------------
# Golden outputs
# --------------------------------------------------------------------------------------------

TEST_SENTENCES = [
    "Der Mann kauft das Buch.",
    "Die Ärztin liest die Zeitung in München.",
    "Am Montag besucht Jürgen den Bürgermeister.",
    "Kauft die Regierung das Gebäude?",
    "Die Frau schreibt den Brief, und das Kind öffnet die Tür.",
    "Der Minister sagte: „Wir schaffen das.“",
    "Das Auto kostet 12.500 Euro.",
    "Die Preise steigen um 3,75 Prozent.",
    "In Köln leben 1.087.353 Menschen.",
    "Ist der Präsident müde?",
    "Die Größe ist wichtig.",
    "Schröder schließt heute den Bahnhof in der Schweiz.",
    # Less in-domain and awkward ones.
    "Hallo",
    "Ja.",
    "Straße",
    "Der Fußballspieler, die Bäckerin und der Journalist sehen das Spiel am Wochenende in Österreich.",
    "Wer verkauft den Käse?",
    "Das Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen ist neu.",
    "Er sagte »nein« – und ging 😀 weg.",
    "Die Brücke ist alt, das Rathaus ist schön, die Schule ist neu und der Bahnhof ist groß.",
]

CASES = [
    dict(name="greedy", num_beams=1, max_new_tokens=40),
    dict(name="beam4", num_beams=4, max_new_tokens=40),
    dict(name="greedy_max5", num_beams=1, max_new_tokens=5),
    dict(name="beam4_max5", num_beams=4, max_new_tokens=5),
    dict(name="greedy_min12", num_beams=1, max_new_tokens=40, min_new_tokens=12),
    dict(name="beam4_min12", num_beams=4, max_new_tokens=40, min_new_tokens=12),
    # Only max_new_tokens given: num_beams and the rest come from the model's generation config.
    dict(name="model_defaults", num_beams=None, max_new_tokens=40),
]

LOGIT_SENTENCES = [0, 5, 12]


def strip_output(seq: list[int], start: int, eos: int, pad: int) -> list[int]:
    """Drop the decoder start token; cut after the first EOS (kept); drop batch padding."""
    assert seq[0] == start, seq
    out = []
    for t in seq[1:]:
        out.append(t)
        if t == eos:
            break
    # After the first EOS transformers pads; without an EOS the sequence ran to the length limit.
    return out


@torch.no_grad()
def token_logprobs(model, enc_ids: list[int], out_ids: list[int], start: int) -> list[float]:
    """Log-probabilities of out_ids under the model's raw distribution (teacher forcing)."""
    dec_in = torch.tensor([[start] + out_ids[:-1]])
    logits = model(input_ids=torch.tensor([enc_ids]), decoder_input_ids=dec_in).logits[0]
    lp = torch.log_softmax(logits.double(), dim=-1)
    return [lp[i, t].item() for i, t in enumerate(out_ids)]


@torch.no_grad()
def run_case(model, tok, case: dict, sentences: list[str]) -> dict:
    gen = model.generation_config
    start, eos, pad = gen.decoder_start_token_id, gen.eos_token_id, gen.pad_token_id
    kwargs = dict(max_new_tokens=case["max_new_tokens"], return_dict_in_generate=True, output_scores=True)
    if case.get("num_beams") is not None:
        kwargs["num_beams"] = case["num_beams"]
    if case.get("min_new_tokens"):
        kwargs["min_new_tokens"] = case["min_new_tokens"]
    if case.get("no_repeat_ngram_size"):
        kwargs["no_repeat_ngram_size"] = case["no_repeat_ngram_size"]
    num_beams = kwargs.get("num_beams", gen.num_beams)
    if num_beams > 1:
        kwargs.update(early_stopping=False, length_penalty=1.0)
    else:
        kwargs["output_logits"] = True

    def results(batch_sentences):
        enc = tok(batch_sentences, return_tensors="pt", padding=True)
        out = model.generate(**enc, **kwargs)
        rows = []
        for b in range(len(batch_sentences)):
            seq = out.sequences[b].tolist()
            ids = strip_output(seq, start, eos, pad)
            n = len(ids)
            src_ids = tok(batch_sentences[b]).input_ids
            lps = token_logprobs(model, src_ids, ids, start)
            # At the length limit ForcedEOSTokenLogitsProcessor replaces the scores by 0 for </s>
            # and -inf elsewhere, so beam search adds 0 (not the raw log-prob) for a forced </s>.
            forced_eos = n == case["max_new_tokens"] and ids[-1] == eos
            processed_sum = sum(lps[:-1]) if forced_eos else sum(lps)
            formula = processed_sum / n**1.0  # length_penalty 1.0
            if num_beams > 1:
                seq_score = out.sequences_scores[b].item()
                assert abs(seq_score - formula) < 1e-3, (seq_score, formula)
            else:
                seq_score = formula
            rows.append(
                dict(
                    ids=ids,
                    text=tok.decode(ids, skip_special_tokens=True),
                    ends_with_eos=bool(ids and ids[-1] == eos),
                    sum_logprob=round(sum(lps), 5),
                    mean_logprob=round(sum(lps) / max(n, 1), 5),
                    token_logprobs=[round(x, 5) for x in lps],
                    forced_eos=forced_eos,
                    processed_sum_logprob=round(processed_sum, 5),
                    sequence_score=round(seq_score, 5),
                )
            )
        return rows

    single = [results([s])[0] for s in sentences]
    batch = results(sentences)
    mismatches = [i for i, (a, b) in enumerate(zip(single, batch)) if a["ids"] != b["ids"]]
    return dict(
        name=case["name"],
        generate_kwargs={k: v for k, v in kwargs.items() if not k.startswith(("return_", "output_"))},
        num_beams=num_beams,
        max_new_tokens=case["max_new_tokens"],
        min_new_tokens=case.get("min_new_tokens", 0),
        no_repeat_ngram_size=case.get("no_repeat_ngram_size", 0),
        length_penalty=1.0,
        early_stopping=False,
        single=single,
        batch=batch,
        batch_mismatches=mismatches,
    )


@torch.no_grad()
def first_step_logits(model, tok, sentences: list[str]) -> list[dict]:
    start = model.generation_config.decoder_start_token_id
    rows = []
    indices = [i for i in LOGIT_SENTENCES if i < len(sentences)]
    for i in indices:
        enc = tok([sentences[i]], return_tensors="pt")
        logits = model(**enc, decoder_input_ids=torch.tensor([[start]])).logits[0, 0]
        rows.append(
            dict(
                sentence_index=i,
                input_ids=enc.input_ids[0].tolist(),
                decoder_input_ids=[start],
                logits=[round(x, 6) for x in logits.tolist()],
            )
        )
    # The same sentences as one padded batch: padding must not change the logits.
    enc = tok([sentences[i] for i in indices], return_tensors="pt", padding=True)
    logits = model(**enc, decoder_input_ids=torch.full((len(indices), 1), start)).logits[:, 0]
    batch_max_diff = (logits - torch.tensor([r["logits"] for r in rows])).abs().max().item()
    assert batch_max_diff < 1e-4, batch_max_diff
    return rows


def allow_torch_load() -> None:
    """transformers >= 4.50 refuses pytorch_model.bin under torch < 2.6 (CVE-2025-32434).
    The files here are the ones this script just wrote, so loading them is safe; pinning torch 2.4
    keeps the generator runnable on these machines."""
    import transformers.modeling_utils as mu
    import transformers.utils.import_utils as iu

    mu.check_torch_load_is_safe = lambda: None
    iu.check_torch_load_is_safe = lambda: None


def golden_for_model(
    name: str, model_dir: Path, sentences: list[str] | None = None, cases: list[dict] | None = None
) -> dict:
    sentences = TEST_SENTENCES if sentences is None else sentences
    cases = CASES if cases is None else cases
    tok = MarianTokenizer.from_pretrained(model_dir)
    model = MarianMTModel.from_pretrained(model_dir)
    model.eval()
    gen = model.generation_config
    data = dict(
        model=name,
        model_dir=str(model_dir.relative_to(REPO)),
        transformers_version=transformers.__version__,
        torch_version=torch.__version__,
        generation_config=dict(
            num_beams=gen.num_beams,
            max_length=gen.max_length,
            bad_words_ids=gen.bad_words_ids,
            forced_eos_token_id=gen.forced_eos_token_id,
            decoder_start_token_id=gen.decoder_start_token_id,
            eos_token_id=gen.eos_token_id,
            pad_token_id=gen.pad_token_id,
        ),
        sentences=[dict(text=s, input_ids=tok(s).input_ids) for s in sentences],
        cases=[],
        first_step_logits=first_step_logits(model, tok, sentences),
    )
    for case in cases:
        print(f"  {name}: {case['name']}", flush=True)
        data["cases"].append(run_case(model, tok, case, sentences))
    return data


def write_loop_fixture(pairs: list[tuple[str, str]], tok_dir: Path, tok: MarianTokenizer, vocab_size: int) -> dict:
    """tiny-loop: trained on the corpus plus looping labels, with the tokenizer of the others."""
    print("train tiny-loop", flush=True)
    model = train_model("tiny-loop", LOOP_SPEC, tok, pairs + loop_pairs(len(pairs) // 4, SEED + 11, tok), vocab_size)
    model_dir = save_model("tiny-loop", LOOP_SPEC, model, tok_dir, vocab_size)
    print("golden tiny-loop", flush=True)
    golden = golden_for_model("tiny-loop", model_dir, LOOP_TEST_SENTENCES, LOOP_CASES)
    dump(FIXTURES / "golden" / "tiny-loop.json", golden)
    return golden


TOKENIZER_CORPUS = [
    "Der Mann kauft das Buch.",
    "",
    " ",
    "Äpfel, Öl und Übermut – schön ärgerlich!",
    "Die Straße ist groß. STRASSE, Maß, Fuß, ẞ",
    "Er sagte: „Wir schaffen das.“",
    "Sie rief »Hallo« und ‹tschüss›.",
    "\"Gerade\" und 'einfache' Anführungszeichen",
    "Bindestrich-Wort, Halbgeviert – Geviert — Ende",
    "geschütztes\u00a0Leerzeichen und schmales\u202fLeerzeichen",
    "viele     Leerzeichen   hier",
    "   führende und folgende Leerzeichen   ",
    "Tab\tgetrennt\tund\nZeilenumbruch",
    "Der Preis: 1.234,56 € (inkl. 19 % MwSt.)",
    "12.500 Euro, 3,75 Prozent, 1.087.353 Menschen",
    "Emoji 😀 und 👍🏽 und 🇩🇪",
    "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen",
    "Café, naïve, Crème brûlée, São Paulo, Łódź",
    "Kombinierende Zeichen: e\u0301 und a\u0308",
    "中文和日本語のテキスト",
    "Null\u200bbreite\u200cZeichen\u200dhier\ufeff",
    "Vollbreite ＡＢＣ １２３ und ﬁ-Ligatur",
    "Ärzte … Auslassung",
    "E-Mail: info@example.de, https://www.example.de/pfad?x=1",
    "<unk> und </s> im Text",
    "x",
    "?!",
    "Ein sehr langer Satz, der aus vielen Wörtern besteht, die alle nacheinander kommen, und der dennoch verständlich bleibt, obwohl er kaum aufhört.",
]


def tokenizer_golden(tok: MarianTokenizer, vocab: dict[str, int], model_dir: Path) -> dict:
    encode = []
    for text in TOKENIZER_CORPUS:
        encode.append(dict(text=text, pieces=tok.tokenize(text), ids=tok(text).input_ids))
    pad, eos, unk = vocab["<pad>"], vocab["</s>"], vocab["<unk>"]
    tgt = spm.SentencePieceProcessor(model_file=str(model_dir / "target.spm"))
    src = spm.SentencePieceProcessor(model_file=str(model_dir / "source.spm"))
    tgt_pieces = {tgt.id_to_piece(i) for i in range(tgt.get_piece_size())}
    src_only = [p for p in (src.id_to_piece(i) for i in range(src.get_piece_size())) if p not in tgt_pieces and p in vocab]
    decode_ids = []
    for text in ["The man buys the book.", 'The minister said: "We can do it."', "It costs 12,500 euros.", "Prices rise by 3.75 percent."]:
        decode_ids.append(tok(text_target=text).input_ids)
    decode_ids += [
        [],
        [eos],
        [pad, eos],
        [unk, eos],
        decode_ids[0][:3] + [unk] + decode_ids[0][3:],
        decode_ids[0][:-1] + [eos, pad, pad],
        [pad] + decode_ids[1],
        # Pieces that exist only in the source vocabulary, decoded with target.spm.
        [vocab[p] for p in src_only[:6]] + [eos],
        [vocab[p] for p in src_only[6:9]] + decode_ids[2],
    ]
    decode = []
    for ids in decode_ids:
        decode.append(
            dict(
                ids=ids,
                tokens=tok.convert_ids_to_tokens(ids),
                text=tok.decode(ids, skip_special_tokens=True),
                text_with_special=tok.decode(ids, skip_special_tokens=False),
            )
        )
    target_encode = [
        dict(text=t, ids=tok(text_target=t).input_ids)
        for t in ["The man buys the book.", "Prices rise by 3.75 percent.", "Hello 😀 world"]
    ]
    return dict(
        tokenizer_dir=str(model_dir.relative_to(REPO)),
        transformers_version=transformers.__version__,
        sentencepiece_version=spm.__version__,
        vocab_size=len(vocab),
        special_ids=dict(eos=eos, unk=unk, pad=pad),
        encode=encode,
        decode=decode,
        target_encode=target_encode,
    )


def dump(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    tmp.replace(path)


def write_legacy_fixtures() -> dict:
    print("legacy tiny-legacy (from tiny-gelu)", flush=True)
    model_dir = save_legacy_model("tiny-legacy", FIXTURES / "models" / "tiny-gelu")
    golden = golden_for_model("tiny-legacy", model_dir)
    dump(FIXTURES / "golden" / "tiny-legacy.json", golden)
    write_dtype_checkpoints()
    return {"tiny-legacy": golden}


def print_loop_samples(golden: dict) -> None:
    for case in golden["cases"]:
        print(f"tiny-loop {case['name']}:")
        for s, r in zip(LOOP_TEST_SENTENCES, case["single"]):
            print(f"  {s!r} -> {r['text'][:80]!r} (eos: {r['ends_with_eos']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4000, help="synthetic corpus size")
    parser.add_argument("--write-corpus", action="store_true", help="also write tests/fixtures/corpus/")
    parser.add_argument(
        "--legacy-only",
        action="store_true",
        help="only (re)write tiny-legacy and checkpoints/ from the committed tiny-gelu (no training)",
    )
    parser.add_argument(
        "--loop-only",
        action="store_true",
        help="only (re)train tiny-loop and its golden, with the committed tiny-swish tokenizer",
    )
    args = parser.parse_args()

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    hf_logging.set_verbosity_error()
    allow_torch_load()
    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")

    if args.legacy_only:
        write_legacy_fixtures()
        return 0
    if args.loop_only:
        # The committed tokenizer files are the ones the full run trains from the same corpus.
        tok_dir = FIXTURES / "models" / "tiny-swish"
        tok = MarianTokenizer.from_pretrained(tok_dir)
        vocab = json.loads((tok_dir / "vocab.json").read_text(encoding="utf-8"))
        golden = write_loop_fixture(make_corpus(args.pairs, SEED), tok_dir, tok, len(vocab))
        print_loop_samples(golden)
        return 0

    print("corpus", flush=True)
    pairs = make_corpus(args.pairs, SEED)
    if args.write_corpus:
        cdir = FIXTURES / "corpus"
        cdir.mkdir(parents=True, exist_ok=True)
        (cdir / "train.de").write_text("".join(p[0] + "\n" for p in pairs), encoding="utf-8")
        (cdir / "train.en").write_text("".join(p[1] + "\n" for p in pairs), encoding="utf-8")

    print("sentencepiece", flush=True)
    src_model = train_spm([p[0] for p in pairs], 600)
    tgt_model = train_spm([p[1] for p in pairs], 500)
    tok_dir = Path(tempfile.mkdtemp(prefix="de2en-tokenizer-"))
    vocab = write_tokenizer(tok_dir, src_model, tgt_model)
    tok = MarianTokenizer.from_pretrained(tok_dir)
    print(f"  joint vocab {len(vocab)}", flush=True)

    goldens = {}
    for name, spec in MODEL_SPECS.items():
        print(f"train {name}", flush=True)
        model = train_model(name, spec, tok, pairs, len(vocab))
        model_dir = save_model(name, spec, model, tok_dir, len(vocab))
        print(f"golden {name}", flush=True)
        goldens[name] = golden_for_model(name, model_dir)
        dump(FIXTURES / "golden" / f"{name}.json", goldens[name])

    dump(FIXTURES / "golden" / "tokenizer.json", tokenizer_golden(tok, vocab, FIXTURES / "models" / "tiny-swish"))
    loop_golden = write_loop_fixture(pairs, tok_dir, tok, len(vocab))
    shutil.rmtree(tok_dir)
    goldens.update(write_legacy_fixtures())

    for name, g in goldens.items():
        for case in g["cases"]:
            if case["batch_mismatches"]:
                print(f"note: {name} {case['name']}: batch differs from single for {case['batch_mismatches']}")
        greedy = next(c for c in g["cases"] if c["name"] == "greedy")
        print(f"{name} greedy samples:")
        for s, r in list(zip(TEST_SENTENCES, greedy["single"]))[:6]:
            print(f"  {s!r} -> {r['text']!r}")
    print_loop_samples(loop_golden)
    mine = [FIXTURES / "models" / n for n in [*MODEL_SPECS, "tiny-legacy", "tiny-loop"]] + [
        FIXTURES / "golden",
        FIXTURES / "checkpoints",
        FIXTURES / "README.md",
    ]
    total = sum(f.stat().st_size for d in mine for f in ([d] if d.is_file() else d.rglob("*")) if f.is_file())
    print(f"fixtures total {total / 1e6:.2f} MB (models, golden, README)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
