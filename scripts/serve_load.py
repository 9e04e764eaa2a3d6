"""A bounded load test of an OpenAI-compatible server (BENCHMARKS.md's
`inoc serve` rows). Python standard library only.

    python3 scripts/serve_load.py BASE_URL MODEL [--clients 32] [--requests 4] [--max-tokens 32]

Each client sends its requests one after another (different prompts,
seeded, temperature 1); all clients start together. Prints requests/s,
completion tokens/s, latency percentiles, failures, and inoc's scheduler
counters (GET /inoc/stats) when the server has them. Exits 1 if any request
failed. It asserts no time.
"""

import argparse
import json
import threading
import time
import urllib.error
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("base")
p.add_argument("model")
p.add_argument("--clients", type=int, default=32)
p.add_argument("--requests", type=int, default=4)
p.add_argument("--max-tokens", type=int, default=32)
a = p.parse_args()


def post(body):
    req = urllib.request.Request(
        a.base + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


results, lock = [], threading.Lock()
start = threading.Barrier(a.clients + 1)


def client(i):
    start.wait()
    for j in range(a.requests):
        body = {
            "model": a.model,
            "messages": [{"role": "user", "content": f"Question {j} from client {i}: tell me about your day."}],
            "max_tokens": a.max_tokens,
            "seed": i * 1000 + j,
        }
        t = time.perf_counter()
        try:
            r = post(body)
            out = (time.perf_counter() - t, r["usage"]["completion_tokens"], None)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
            out = (time.perf_counter() - t, 0, repr(e))
        with lock:
            results.append(out)


threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
for t in threads:
    t.start()
start.wait()
t0 = time.perf_counter()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
lat = sorted(r[0] for r in results)
failed = [r[2] for r in results if r[2]]
tokens = sum(r[1] for r in results)
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(
    f"{a.clients} clients x {a.requests} requests, max_tokens {a.max_tokens}: {len(results)} done, "
    f"{len(failed)} failed, {wall:.2f} s, {len(results) / wall:.2f} requests/s, "
    f"{tokens / wall:.1f} completion tokens/s, latency p50 {pct(0.5):.2f} s p90 {pct(0.9):.2f} s"
)
try:
    with urllib.request.urlopen(a.base.rsplit("/v1", 1)[0] + "/inoc/stats", timeout=10) as r:
        print("scheduler:", r.read().decode())
except (urllib.error.URLError, OSError):
    pass
if failed:
    print("first failure:", failed[0])
    raise SystemExit(1)
