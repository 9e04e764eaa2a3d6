#!/usr/bin/env python3
"""Writes tests/fixtures/hf/generation_templates.json: chat templates that
mark assistant text with `{% generation %}` blocks (transformers'
AssistantTracker extension), a few conversations, and what transformers
renders for each plus the character (code point) ranges it tracks for
`return_assistant_tokens_mask`. tests/it/runtime_chat_template.rs checks that
inoc renders the same text and takes the same ranges as its loss spans.

Run: /path/to/python-with-transformers scripts/make_generation_fixture.py
"""
import json
import os

from transformers.utils.chat_template_utils import render_jinja_template

# Whitespace control on the tags varies across real templates; each variant
# below exercises a different combination with trim_blocks/lstrip_blocks.
TEMPLATES = {
    # ChatML (Qwen-style) with the end-of-turn token inside the block.
    "chatml": (
        "{% for message in messages %}"
        "{% if message['role'] == 'assistant' %}"
        "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
        "{% else %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    # Multi-line with `-` on both sides and indentation (lstrip_blocks).
    "multiline": """{%- for message in messages %}
    {%- if message.role == 'assistant' %}
<|assistant|>
    {%- generation %}
{{ message.content | trim }}</s>
    {%- endgeneration %}

    {%- else %}
<|{{ message.role }}|>
{{ message.content }}</s>
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
<|assistant|>
{%- endif %}
""",
    # Bare tags at line starts: trim_blocks eats the newline after each tag.
    "bare": """{% for m in messages %}
{% if m.role == 'assistant' %}
A: {% generation %}
{{ m.content }}
{% endgeneration %}
{% else %}
{{ m.role[0] | upper }}: {{ m.content }}
{% endif %}
{% endfor %}
""",
}

CONVERSATIONS = [
    [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "HELLO THERE"}],
    [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": " 4 "},
        {"role": "user", "content": "and 3+3?"},
        {"role": "assistant", "content": "6\nsix"},
    ],
    [{"role": "user", "content": "no answer yet"}],
    [{"role": "user", "content": "¿Qué tal?"}, {"role": "assistant", "content": "¡MUY BIEN, SEÑOR! ✓"}],
]


def main():
    cases = []
    for name, template in TEMPLATES.items():
        for conv in CONVERSATIONS:
            for gen in (False, True):
                texts, indices = render_jinja_template(
                    conversations=[conv],
                    chat_template=template,
                    return_assistant_tokens_mask=True,
                    add_generation_prompt=gen,
                )
                cases.append({
                    "template": name,
                    "messages": conv,
                    "add_generation_prompt": gen,
                    "text": texts[0],
                    "spans": [list(s) for s in indices[0]],
                })
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "hf", "generation_templates.json")
    with open(out, "w") as f:
        json.dump({"templates": TEMPLATES, "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
