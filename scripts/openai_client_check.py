"""The official `openai` Python client against `inoc serve` (run by
scripts/openai_client_check.sh, which starts the server on a tiny model).

    python openai_client_check.py BASE_URL MODEL_ID

Exercises what clients use: the model list, chat completions with n, seed,
max_tokens, stop, logprobs and top_logprobs, usage, streaming (with the
usage chunk), and the client's typed errors for bad requests. Exits
non-zero at the first check that fails.
"""

import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base, api_key="unused-by-inoc", max_retries=0)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        sys.exit(f"FAIL: {what}")
    checks += 1


ids = [m.id for m in client.models.list()]
check(ids == [model], f"models.list() is [{model}]: {ids}")
check(client.models.retrieve(model).id == model, "models.retrieve")

msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}]
r = client.chat.completions.create(model=model, messages=msgs, n=3, seed=7, max_tokens=12, temperature=0.8)
check(len(r.choices) == 3, "n=3 gives three choices")
check([c.index for c in r.choices] == [0, 1, 2], "choice indices")
check(all(c.finish_reason in ("stop", "length") for c in r.choices), "finish reasons")
check(r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage")
again = client.chat.completions.create(model=model, messages=msgs, n=3, seed=7, max_tokens=12, temperature=0.8)
check([c.message.content for c in again.choices] == [c.message.content for c in r.choices], "a seed repeats its choices")

# max_completion_tokens (newer clients) as well as max_tokens.
r = client.chat.completions.create(model=model, messages=msgs, max_completion_tokens=3, temperature=0)
check(r.usage.completion_tokens <= 3, "max_completion_tokens bounds the reply")

r = client.chat.completions.create(
    model=model, messages=msgs, max_tokens=5, temperature=0, logprobs=True, top_logprobs=20
)
content = r.choices[0].logprobs.content
check(len(content) >= 1, "logprobs.content has the tokens")
for t in content:
    check(len(t.top_logprobs) == 20, "20 top logprobs")
    lps = [x.logprob for x in t.top_logprobs]
    check(lps == sorted(lps, reverse=True), "top logprobs sorted")
    check(t.token == t.top_logprobs[0].token, "greedy picks the most likely token")
check("".join(t.token for t in content) == r.choices[0].message.content, "tokens spell the reply")

full = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0)
text = full.choices[0].message.content
if len(text) >= 4:
    stop = text[2:4]
    cut = client.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0, stop=[stop])
    check(cut.choices[0].message.content == text[: text.find(stop)], "stop ends the reply before the stop string")
    check(cut.choices[0].finish_reason == "stop", "stop's finish reason")

stream = client.chat.completions.create(
    model=model, messages=msgs, n=2, seed=3, max_tokens=10, stream=True, stream_options={"include_usage": True}
)
parts, finished, usage = ["", ""], [None, None], None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for c in chunk.choices:
        parts[c.index] += c.delta.content or ""
        if c.finish_reason:
            finished[c.index] = c.finish_reason
whole = client.chat.completions.create(model=model, messages=msgs, n=2, seed=3, max_tokens=10)
check(parts == [c.message.content for c in whole.choices], "streamed deltas add up to the reply")
check(all(f in ("stop", "length") for f in finished), "each streamed choice finishes")
check(usage is not None and usage.completion_tokens == whole.usage.completion_tokens, "stream usage chunk")

errors = [
    (openai.BadRequestError, dict(n=0), "n"),
    (openai.BadRequestError, dict(logprobs=True, top_logprobs=100), "top_logprobs"),
    (openai.BadRequestError, dict(temperature=3), "temperature"),
    (openai.BadRequestError, dict(extra_body={"not_a_parameter": 1}), None),
    (openai.NotFoundError, dict(model="gpt-4o"), "model"),
]
for kind, kwargs, param in errors:
    args = dict(model=model, messages=msgs, max_tokens=2)
    args.update(kwargs)
    try:
        client.chat.completions.create(**args)
        check(False, f"{kwargs} is refused")
    except kind as e:
        check(isinstance(e.body, dict) and e.body.get("message"), f"{kwargs}: an OpenAI error body")
        if param:
            check(e.body.get("param") == param, f"{kwargs}: param {param}: {e.body}")
ok = client.chat.completions.create(model=model, messages=msgs, max_tokens=2)
check(len(ok.choices) == 1, "the server still serves after the errors")

print(f"openai {openai.__version__} against inoc serve at {base}: {checks} checks passed")
