"""OpenRLHF's own reward client against the real service.

openrlhf 0.11.2 is installed without its dependencies; its package ``__init__`` imports
torch, so the client module (``openrlhf/utils/agent.py``, which needs only aiohttp) and
the logging helper it imports are loaded by file path.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import json
import random
import sys
import types
from pathlib import Path

import pytest


def load_openrlhf_agent_module():
    spec = importlib.util.find_spec("openrlhf")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("openrlhf==0.11.2 is a dev dependency: run `make install`")
    root = Path(next(iter(spec.submodule_search_locations)))
    names = ("openrlhf", "openrlhf.utils", "openrlhf.utils.logging_utils", "openrlhf.utils.agent")
    saved = {name: sys.modules.get(name) for name in names}
    try:
        # Bare parent packages, so the two modules load without openrlhf/__init__ (torch).
        for name, path in (("openrlhf", root), ("openrlhf.utils", root / "utils")):
            package = types.ModuleType(name)
            package.__path__ = [str(path)]
            package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
            sys.modules[name] = package
        for name, path in (("openrlhf.utils.logging_utils", root / "utils/logging_utils.py"),
                           ("openrlhf.utils.agent", root / "utils/agent.py")):
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        return sys.modules["openrlhf.utils.agent"]
    finally:
        # Leave the import system as it was for the other tests.
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


R1 = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags.\n"
    "User: {question}\nAssistant: <think>"
)


def make_batch(n: int, seed: int = 0):
    """A mixed math and CountDown rollout batch: (prompt, query, label, expected reward)."""
    rng = random.Random(seed)
    batch = []
    for i in range(n):
        if i % 2 == 0:
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            prompt = R1.format(question=f"What is {a} times {b}?")
            label = json.dumps({"domain": "math", "answer": str(a * b)})
            right = rng.random() < 0.5
            answer = a * b if right else a * b + 1
            response = f" {a} times {b}.</think> <answer>\\boxed{{{answer}}}</answer><|im_end|>"
        else:
            x, y, z = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9)
            target = x * y + z
            prompt = R1.format(question=f"Using {x}, {y}, {z} once each, make {target}.")
            label = json.dumps({"domain": "countdown", "target": target, "numbers": [x, y, z]})
            right = rng.random() < 0.5
            equation = f"{x} * {y} + {z}" if right else f"{x} + {y} + {z} + 1000"
            response = f" try it</think> <answer>{equation}</answer><|im_end|>"
        batch.append((prompt, prompt + response, label, 1.0 if right else 0.0))
    return batch


def test_openrlhf_single_sample_requests_all_at_once(service_url):
    agent = load_openrlhf_agent_module()
    executor = agent.SingleTurnAgentExecutor(remote_rm_url=f"{service_url}/reward")
    batch = make_batch(256)

    async def run():
        return await asyncio.gather(
            *(executor._fetch_rewards_via_http([query], [prompt], [label]) for prompt, query, label, _ in batch)
        )

    answers = asyncio.run(run())
    assert len(answers) == len(batch)
    for (_, _, label, expected), answer in zip(batch, answers, strict=True):
        info = answer[0]
        assert info["rewards"] == [expected], (label, info)
        assert info["scores"] == [expected]
        assert info["extra_logs"]["correct"] == [expected]
        assert info["extra_logs"]["format_ok"] == [1.0]
        domain = json.loads(label)["domain"]
        other = "countdown" if domain == "math" else "math"
        assert info["extra_logs"][f"n_{domain}"] == [1.0] and info["extra_logs"][f"n_{other}"] == [0.0]
        assert info["extra_logs"][f"correct_{domain}"] == [expected]
        assert info["extra_logs"][f"correct_{other}"] == [0.0]
    # Every sample carries the same keys, as OpenRLHF's batch averaging needs.
    assert len({tuple(sorted(answer[0]["extra_logs"])) for answer in answers}) == 1
