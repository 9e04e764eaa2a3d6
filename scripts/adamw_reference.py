#!/usr/bin/env python3
"""Reference numbers for src/runtime/optim.rs and schedule.rs unit tests (PyTorch / transformers).

Run: /work/pyenv/bin/python scripts/adamw_reference.py
Prints the parameter after three AdamW steps and HF scheduler learning rates;
paste them into the constants of the tests if the test inputs change.
"""
import torch
from transformers import get_linear_schedule_with_warmup, get_cosine_with_min_lr_schedule_with_warmup

p = torch.nn.Parameter(torch.tensor([[0.5, -1.0], [2.0, 0.0]]))
opt = torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
for g in ([0.1, -0.2, 0.3, 0.0], [0.05, 0.4, -0.3, 1e-3], [-0.5, 0.1, 0.2, 2.0]):
    p.grad = torch.tensor(g).reshape(2, 2)
    opt.step()
print("adamw", [float(x) for x in p.detach().flatten()])


def lrs(make, steps):
    q = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.SGD([q], lr=1.0)
    s = make(o)
    out = []
    for _ in range(steps):
        out.append(o.param_groups[0]["lr"])
        o.step()
        s.step()
    return out


print("linear", lrs(lambda o: get_linear_schedule_with_warmup(o, 3, 10), 10))
print("cosine", lrs(lambda o: get_cosine_with_min_lr_schedule_with_warmup(o, 2, 10, min_lr_rate=0.1), 10))
