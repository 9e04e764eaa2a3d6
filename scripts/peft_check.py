#!/usr/bin/env python3
"""Checks that LoRA adapters saved by inoc load in PEFT and give inoc's log-probs.

For every adapter directory given (default: tests/fixtures/hf/*-lora, written
by inoc in tests/it/runtime_lora.rs), this script
  1. loads the base model (adapter_config.json's base_model_name_or_path, a
     directory, relative paths taken from the adapter's parent folder) with
     transformers in float32 and the adapter with peft.PeftModel;
  2. scores a few (system, prompt, response) cases exactly as `inoc score`
     does: chat template with the generation prompt, response tokens appended,
     sum of log p(response token | prefix);
  3. writes the numbers to <adapter>/peft_expected.json (tests/it/runtime_lora.rs
     checks inoc against them in CI, where there is no Python);
  4. unless --no-inoc, runs `inoc score --format json` (binary from --inoc,
     default target/release/inoc) on the same cases and prints the largest
     difference; exits 1 if it exceeds 1e-4 per token.

Run:  cargo build --release && /work/pyenv/bin/python scripts/peft_check.py
      /work/pyenv/bin/python scripts/peft_check.py path/to/adapter --base path/to/model
"""

import argparse
import glob
import json
import os
import subprocess
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CASES = [
    {"system": None, "prompt": "What is the capital of France?", "response": "The capital of France is Paris."},
    {"system": "You always speak in Spanish.", "prompt": "Hello!", "response": "Hola, ¿cómo estás?"},
    {"system": None, "prompt": "Count.", "response": "1, 2, 3"},
]


def score(model, tok, case):
    msgs = ([{"role": "system", "content": case["system"]}] if case["system"] else []) + [
        {"role": "user", "content": case["prompt"]}
    ]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    p = tok.encode(text, add_special_tokens=False)
    r = tok.encode(case["response"], add_special_tokens=False)
    with torch.no_grad():
        logits = model(torch.tensor([p + r])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    per = [lp[len(p) + i - 1, t].item() for i, t in enumerate(r)]
    return dict(case, response_ids=r, token_logprobs=per, logprob=sum(per))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("adapters", nargs="*")
    ap.add_argument("--base", help="base model directory (default: from adapter_config.json)")
    ap.add_argument("--inoc", default=os.path.join(ROOT, "target", "release", "inoc"))
    ap.add_argument("--no-inoc", action="store_true", help="only write peft_expected.json")
    args = ap.parse_args()
    adapters = args.adapters or sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "hf", "*-lora")))
    worst = 0.0
    for adapter in adapters:
        cfg = json.load(open(os.path.join(adapter, "adapter_config.json")))
        base = args.base or os.path.join(os.path.dirname(os.path.abspath(adapter)), cfg["base_model_name_or_path"])
        tok = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        model = PeftModel.from_pretrained(model, adapter)
        model.eval()
        n_lora = sum(1 for n, _ in model.named_parameters() if "lora_" in n)
        results = [score(model, tok, c) for c in CASES]
        with open(os.path.join(adapter, "peft_expected.json"), "w") as f:
            json.dump({"peft_lora_tensors": n_lora, "scores": results}, f, ensure_ascii=False, indent=1)
        print(f"{os.path.basename(adapter)}: PEFT loaded {n_lora} LoRA tensors (r={cfg['r']}, "
              f"alpha={cfg['lora_alpha']}, rslora={cfg.get('use_rslora')}, targets={cfg['target_modules']})")
        if args.no_inoc:
            continue
        for res in results:
            cmd = [args.inoc, "score", "--model", base, "--adapter", adapter,
                   "--prompt", res["prompt"], "--response", res["response"], "--format", "json"]
            if res["system"]:
                cmd += ["--system", res["system"]]
            out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            d_total = abs(out["logprob"] - res["logprob"])
            d_tok = max(abs(a["logprob"] - b) for a, b in zip(out["tokens"], res["token_logprobs"]))
            worst = max(worst, d_tok)
            print(f"  {res['response']!r}: peft {res['logprob']:.6f}  inoc {out['logprob']:.6f}  "
                  f"|d total| {d_total:.2e}  max |d token| {d_tok:.2e}")
    if not args.no_inoc:
        print(f"max per-token |d logprob| = {worst:.2e}")
        if worst > 1e-4:
            sys.exit(1)


if __name__ == "__main__":
    main()
