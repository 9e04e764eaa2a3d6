#!/usr/bin/env python3
"""Writes the parity fixtures under tests/fixtures/hf/ with Python transformers.

Each fixture is a tiny random checkpoint in HF layout (config.json, safetensors,
tokenizer.json, tokenizer_config.json, chat template) plus `expected.json`:
logits of a padded batch (right- and left-padded), per-token log-probs of
responses under chat prompts, and chat-template renderings (text and token ids)
of several conversations. tests/it/runtime_parity.rs and
tests/it/runtime_chat_template.rs compare inoc against these numbers.

Run:  /work/pyenv/bin/python scripts/make_hf_fixtures.py
      /work/pyenv/bin/python scripts/make_hf_fixtures.py --scratch
        (after `INOC_BLESS=1 cargo test --test it runtime_scratch::`: transformers'
        renderings and logits of the from-scratch directories inoc wrote)
(CI has no Python: the files it writes are committed; they are small.)

Fixtures:
  qwen2   Qwen2ForCausalLM, qkv bias, tied embeddings, transformers-5 config
          layout (rope_parameters, dtype, layer_types), chat_template.jinja
          (the real Qwen2.5 template, with its default system prompt).
  llama3  LlamaForCausalLM with llama3 rope scaling, untied lm_head, sharded
          safetensors, transformers-4 config layout (rope_theta, rope_scaling,
          torch_dtype), chat template as a string in tokenizer_config.json.
  smol    SmolLM2-like Llama (tied, head_dim != hidden/heads), transformers-4
          layout, chat templates as a list of named templates in
          tokenizer_config.json.
llama3 and smol store bf16 weights (as real checkpoints do); the expected
numbers come from the model loaded in float32.
"""

import json
import os
import shutil
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hf")
VOCAB_STRIDE = 4
# The chat template Qwen2.5 instruct models ship (committed beside the fixture it was written into).
QWEN_TEMPLATE_PATH = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "hf", "qwen2", "chat_template.jinja")
# Read once, before the fixture folder it lives in is rewritten.
with open(QWEN_TEMPLATE_PATH) as f:
    QWEN_TEMPLATE_TEXT = f.read()

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello! How are you today? I am fine, thank you.",
    "What is the capital of France? The capital of France is Paris.",
    "You always speak in Spanish. Hola, ¿cómo estás? Estoy bien.",
    "Write a function that adds two numbers: def add(a, b): return a + b",
    "THE ANSWER IS 42. WE COUNT 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.",
    "You are a helpful assistant. Answer briefly and clearly.",
    "system user assistant tool message content role",
]

# Llama-3-style template written for these fixtures: bos, optional system turn,
# role headers, raise_exception on an unknown role, trimmed contents.
LLAMA_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content'] | trim %}"
    "{%- set messages = messages[1:] %}"
    "{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{%- if system_message %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system_message + '<|eot_id|>' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] not in ['user', 'assistant'] %}"
    "{{- raise_exception('Unknown role: ' + message['role']) }}"
    "{%- endif %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)

# SmolLM2-style ChatML with a default system prompt, loop variables and tojson.
SMOL_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM<|im_end|>\\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SMOL_TOOL_TEMPLATE = (
    "{{ '<|im_start|>tools\\n' + (tools | tojson) + '<|im_end|>\\n' }}"
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You always speak in Spanish."},
        {"role": "user", "content": "Hello! How are you today?"},
    ],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Write a function that adds two numbers."},
        {"role": "assistant", "content": "def add(a, b): return a + b"},
        {"role": "user", "content": "  THE ANSWER IS 42.  "},
    ],
    [
        {"role": "user", "content": "Hola, ¿cómo estás?"},
        {"role": "assistant", "content": "Estoy bien."},
        {"role": "user", "content": "The quick brown fox\njumps over the lazy dog."},
        {"role": "assistant", "content": "WE COUNT 1, 2, 3."},
    ],
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city, in \"C\" or <F> & more",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "días": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]

SCORE_CASES = [
    {"system": None, "prompt": "What is the capital of France?", "response": "The capital of France is Paris."},
    {"system": "You always speak in Spanish.", "prompt": "Hello!", "response": "Hola, ¿cómo estás?"},
    {"system": None, "prompt": "Count.", "response": "1, 2, 3"},
]


def train_tokenizer(specials):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    return tok


def randomize(model, seed):
    # HF's init (normal 0.02, zero biases, unit norms) gives almost uniform
    # logits; larger random values make the parity check meaningful.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


def to_v4_layout(config_path):
    """Rewrites a transformers-5 config.json the way transformers 4.x wrote it."""
    cfg = json.load(open(config_path))
    rp = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rp.pop("rope_theta", 10000.0)
    if rp.get("rope_type", "default") != "default":
        cfg["rope_scaling"] = rp
    else:
        cfg["rope_scaling"] = None
    cfg["torch_dtype"] = cfg.pop("dtype", "float32")
    cfg.pop("layer_types", None)
    cfg["transformers_version"] = "4.46.0"
    json.dump(cfg, open(config_path, "w"), indent=2, sort_keys=True)


def score(model, tok, system, prompt, response, template_kwargs):
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **template_kwargs)
    p_ids = tok.encode(text, add_special_tokens=False)
    r_ids = tok.encode(response, add_special_tokens=False)
    ids = torch.tensor([p_ids + r_ids])
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    lp = torch.log_softmax(logits, dim=-1)
    per = [lp[len(p_ids) + i - 1, t].item() for i, t in enumerate(r_ids)]
    return {
        "system": system,
        "prompt": prompt,
        "response": response,
        "prompt_ids": p_ids,
        "response_ids": r_ids,
        "token_logprobs": per,
        "logprob": sum(per),
    }


def padded_batch(model, rows, pad_id, left):
    t = max(len(r) for r in rows)
    ids, mask = [], []
    for r in rows:
        pad = [pad_id] * (t - len(r))
        ids.append(pad + r if left else r + pad)
        m = [0] * (t - len(r))
        mask.append(m + [1] * len(r) if left else [1] * len(r) + m)
    ids_t, mask_t = torch.tensor(ids), torch.tensor(mask)
    pos = (mask_t.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids_t, attention_mask=mask_t, position_ids=pos).logits.float()
    return {
        "left_padded": left,
        "input_ids": ids,
        "attention_mask": mask,
        # Every VOCAB_STRIDE-th vocabulary column keeps the file small; the
        # log-prob cases below check the normalisation over the whole vocabulary.
        "vocab_stride": VOCAB_STRIDE,
        "logits": [[[round(v, 6) for v in tokrow[::VOCAB_STRIDE]] for tokrow in row] for row in logits.tolist()],
    }


def build(name, arch, cfg_kwargs, specials, template, layout, shard, seed, template_place,
          bos=None, eos=None, pad=None, template_kwargs=None, save_bf16=False):
    out = os.path.join(ROOT, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    torch.manual_seed(seed)
    raw = train_tokenizer(specials)
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=bos, eos_token=eos, pad_token=pad)
    vocab = raw.get_vocab_size()
    ids = {s: raw.token_to_id(s) for s in specials}
    cfg_kwargs = dict(cfg_kwargs, vocab_size=vocab)
    if bos:
        cfg_kwargs["bos_token_id"] = ids[bos]
    if eos:
        cfg_kwargs["eos_token_id"] = ids[eos]
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**cfg_kwargs))
    else:
        model = LlamaForCausalLM(LlamaConfig(**cfg_kwargs))
    randomize(model, seed)
    model.eval()
    if save_bf16:
        model = model.to(torch.bfloat16)
    model.save_pretrained(out, **({"max_shard_size": "20KB"} if shard else {}))
    if os.path.exists(os.path.join(out, "generation_config.json")):
        os.remove(os.path.join(out, "generation_config.json"))
    if layout == 4:
        to_v4_layout(os.path.join(out, "config.json"))

    tok.chat_template = template
    tok.save_pretrained(out)
    tc_path = os.path.join(out, "tokenizer_config.json")
    tc = json.load(open(tc_path))
    jinja_path = os.path.join(out, "chat_template.jinja")
    if os.path.exists(jinja_path):
        os.remove(jinja_path)
    tc.pop("chat_template", None)
    if template_place == "jinja":
        with open(jinja_path, "w") as f:
            f.write(template if isinstance(template, str) else template[0]["template"])
    else:
        tc["chat_template"] = template
    json.dump(tc, open(tc_path, "w"), indent=2, ensure_ascii=False)
    # Reload exactly as a user would, so expectations come from the files.
    tok = PreTrainedTokenizerFast.from_pretrained(out)
    cls = Qwen2ForCausalLM if arch == "qwen2" else LlamaForCausalLM
    model = cls.from_pretrained(out, dtype=torch.float32)
    model.eval()

    template_kwargs = template_kwargs or {}
    renders = []
    for conv in CONVERSATIONS:
        for gen in (False, True):
            text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen, **template_kwargs)
            renders.append({
                "messages": conv,
                "add_generation_prompt": gen,
                "text": text,
                "ids": tok.encode(text, add_special_tokens=False),
            })
    if arch == "qwen2" or name == "smol":
        kw = dict(template_kwargs)
        if name == "smol":
            kw["chat_template"] = "tool_use"
        text = tok.apply_chat_template(CONVERSATIONS[1], tools=TOOLS, tokenize=False,
                                       add_generation_prompt=True, **kw)
        renders.append({"messages": CONVERSATIONS[1], "add_generation_prompt": True,
                        "tools": TOOLS, "template_name": kw.get("chat_template"),
                        "text": text, "ids": tok.encode(text, add_special_tokens=False)})

    texts = ["The quick fox", "Hello! How are you?"]
    rows = [tok.encode(t, add_special_tokens=False) for t in texts]
    pad_id = ids[pad] if pad else 0
    expected = {
        "fixture": name,
        "transformers_version": __import__("transformers").__version__,
        "torch_version": torch.__version__,
        "batches": [padded_batch(model, rows, pad_id, left=False), padded_batch(model, rows, pad_id, left=True)],
        "scores": [score(model, tok, c["system"], c["prompt"], c["response"], template_kwargs) for c in SCORE_CASES],
        "renders": renders,
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=False)
    size = sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))
    print(f"{name}: vocab {vocab}, {sum(p.numel() for p in model.parameters())} params, {size/1024:.0f} KiB")


def check_scratch():
    """transformers' view of the from-scratch directories written by inoc
    (tests/it/runtime_scratch.rs): renderings, ids, decoding, logits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    for kind in ("char", "bpe"):
        out = os.path.join(ROOT, f"scratch-{kind}")
        tok = AutoTokenizer.from_pretrained(out)
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        model.eval()
        renders = []
        for conv in CONVERSATIONS[:2]:
            for gen in (False, True):
                text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
                ids = tok.encode(text, add_special_tokens=False)
                renders.append({"messages": conv, "add_generation_prompt": gen, "text": text, "ids": ids,
                                "decoded": tok.decode(ids)})
        ids = renders[-1]["ids"][:24]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        expected = {"renders": renders, "input_ids": ids,
                    "logits": [[round(v, 6) for v in row] for row in logits.tolist()]}
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(expected, f, ensure_ascii=False)
        print(f"scratch-{kind}: {type(tok).__name__}, vocab {len(tok)}, {model.num_parameters()} params")


def main():
    if "--scratch" in sys.argv:
        return check_scratch()
    common = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6)
    build(
        "qwen2", "qwen2",
        dict(common, tie_word_embeddings=True, max_position_embeddings=256, rope_theta=10000.0),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        QWEN_TEMPLATE_TEXT, layout=5, shard=False, seed=1, template_place="jinja",
        eos="<|im_end|>", pad="<|endoftext|>",
    )
    build(
        "llama3", "llama",
        dict(common, tie_word_embeddings=False, max_position_embeddings=512,
             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 16}),
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        LLAMA_TEMPLATE, layout=4, shard=True, seed=2, template_place="string",
        bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|end_of_text|>", save_bf16=True,
    )
    build(
        "smol", "llama",
        dict(common, tie_word_embeddings=True, max_position_embeddings=256, rope_theta=100000.0,
             head_dim=16),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        [{"name": "default", "template": SMOL_TEMPLATE}, {"name": "tool_use", "template": SMOL_TOOL_TEMPLATE}],
        layout=4, shard=False, seed=3, template_place="list",
        eos="<|im_end|>", pad="<|endoftext|>", save_bf16=True,
    )


if __name__ == "__main__":
    sys.exit(main())
