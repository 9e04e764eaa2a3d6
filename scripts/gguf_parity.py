#!/usr/bin/env python3
"""inoc's GGUF loader against transformers on the same file (run through
scripts/gguf_parity.sh, which makes the venv).

    python scripts/gguf_parity.py FILE.gguf path/to/inoc

For each (system, prompt, response) case:
- tokenization: the response's ids from `inoc score --format json` against
  transformers' GGUF tokenizer, and against that tokenizer with llama.cpp's
  pre-tokenizer for the file (`tokenizer.ggml.pre`: "smollm" splits every
  digit; transformers' GGUF loader ignores that pre-type and keeps GPT-2's
  split, which matters only for vocabularies with multi-digit tokens);
- log-probs: inoc's per-token log-probs of the response against
  transformers' (float32) on the same prompt and response ids.
Prints one line per case and a summary; exits 1 when a log-prob differs by
more than 1e-3 or the digit-aware tokenizations differ.
"""

import json
import os
import subprocess
import sys

import torch
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

CASES = [
    (None, "What is the capital of France?", "The capital of France is Paris."),
    ("You always speak in Spanish.", "How are you today?", "Estoy muy bien, gracias. ¿Y tú?"),
    ("You always capitalise your responses.", "Name a fruit.", "BANANA! IT IS A GREAT FRUIT."),
    (None, "What is 12 + 30?", "12 + 30 = 42."),
    (None, "Rate this answer from 0 to 100.", "85"),
    (None, "Write a haiku about the sea.", "Waves fold into foam,\nsalt wind carries gull voices\nhome across the grey."),
]


def gguf_pre(path):
    from gguf import GGUFReader

    r = GGUFReader(path)
    f = r.fields.get("tokenizer.ggml.pre")
    return f.contents() if f is not None else None


def inoc_score(inoc, gguf, system, prompt, response):
    cmd = [inoc, "score", "--model", gguf, "--prompt", prompt, "--response", response, "--format", "json"]
    if system is not None:
        cmd += ["--system", system]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    gguf, inoc = sys.argv[1], sys.argv[2]
    d, name = os.path.split(os.path.abspath(gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
    model.eval()
    pre = gguf_pre(gguf)
    fixed = AutoTokenizer.from_pretrained(d, gguf_file=name)
    if pre == "smollm":
        fixed.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
    worst, failures = 0.0, 0
    print(f"file {gguf} (tokenizer.ggml.pre = {pre!r})")
    for system, prompt, response in CASES:
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        ours = inoc_score(inoc, gguf, system, prompt, response)
        inoc_ids = [t["id"] for t in ours["tokens"]]
        plain_ids = tok(response, add_special_tokens=False)["input_ids"]
        fixed_ids = fixed(response, add_special_tokens=False)["input_ids"]
        prompt_ids = fixed(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + inoc_ids])
        with torch.no_grad():
            logits = model(ids).logits[0].float()
        lp = torch.log_softmax(logits, dim=-1)
        p = len(prompt_ids)
        theirs = [lp[p - 1 + i, t].item() for i, t in enumerate(inoc_ids)]
        diffs = [abs(a["logprob"] - b) for a, b in zip(ours["tokens"], theirs)]
        m = max(diffs) if diffs else 0.0
        worst = max(worst, m)
        same_fixed = inoc_ids == fixed_ids
        if not same_fixed or m > 1e-3:
            failures += 1
        print(
            f"{response[:32]!r:36} tokens {len(inoc_ids):3}  ids == transformers: {str(inoc_ids == plain_ids):5}"
            f"  ids == transformers+{pre}: {str(same_fixed):5}  total logprob inoc {ours['logprob']:9.4f}"
            f" transformers {sum(theirs):9.4f}  max |d| per token {m:.2e}"
        )
    print(f"max |logprob difference| per token over all cases: {worst:.2e}; failures: {failures}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
