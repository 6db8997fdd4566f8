"""One GRPO step of code rollouts built from a converted code dataset, with known right rewards.

Per prompt, the samples are a realistic mix (by share of the whole step):

===========  =====  =========================================================  =========
kind         share  what the program does                                      reward
===========  =====  =========================================================  =========
correct      50 %   the reference solution, or an oracle of the tests          1
wrong        20 %   runs fine, gives a wrong answer                            0
crash        10 %   raises                                                     0
spin          5 %   ``while True: pass`` where the answer is computed          0
sleep         5 %   ``time.sleep(1000)`` where the answer is computed          0
no_code       5 %   prose, no code block                                       0
hostile       5 %   fork bomb, memory bomb, ``os._exit(0)``, forged ``__eq__``  0
===========  =====  =========================================================  =========

Rewards are binary: 1 for a fully right program, else 0, so a wrong reward is any
sample whose reward is not its kind's. No two samples are the same text (each program
carries its own comment), so the service's cache answers none of them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from bench.realdata.cases import call_oracle, prompt_text, response, stdio_oracle
from trainer.data.tasks import Task

MIX: dict[str, float] = {
    "correct": 0.50, "wrong": 0.20, "crash": 0.10, "spin": 0.05, "sleep": 0.05, "no_code": 0.05, "hostile": 0.05,
}  # fmt: skip
HOSTILE = (
    "import os\nwhile True:\n    os.fork()\n",
    "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 26))\n",
    "import os\nos._exit(0)\n",
    "class Everything:\n    def __eq__(self, other):\n        return True\n",
)
END_TOKEN = "<|im_end|>"


@dataclass(frozen=True)
class Sample:
    kind: str
    prompt: str
    response: str
    label: dict[str, Any]
    expected_reward: float
    style: str
    """The task's test style: ``functional`` (LeetCode, call-based TACO) or ``stdio``."""

    @property
    def query(self) -> str:
        """What OpenRLHF sends: prompt and decoded response, end token included."""
        return self.prompt + self.response + END_TOKEN


def _fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


_METHOD = re.compile(r"check\(\s*Solution\(\)\.(\w+)\s*\)")
_TACO_CALL = re.compile(r"assert\s+_deep_eq\((\w+)\(\*i\)")


def _right(task: Task) -> str | None:
    """A right answer by construction: an oracle of the tests where the tests are data
    (TACO), else the dataset's reference solution (LeetCode, MBPP)."""
    tests = task.label["tests"]
    if tests.get("inputs") is not None and not tests.get("fn_name"):
        return _fenced(stdio_oracle(tests["inputs"], tests["outputs"]))
    oracle = call_oracle(tests.get("functional") or "")
    if oracle:
        return _fenced(oracle)
    return task.reference


def _callable_body(task: Task, body: str) -> str:
    """A program whose entry point (the LeetCode method, the TACO function, or the stdin
    program) does ``body``."""
    check = task.label["tests"].get("functional") or ""
    method = _METHOD.search(check)
    if method:
        return f"class Solution:\n    def {method.group(1)}(self, *args, **kwargs):\n" + _indent(body, 8)
    function = _TACO_CALL.search(check)
    if function:
        return f"def {function.group(1)}(*args):\n" + _indent(body, 4)
    return body


def _indent(code: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in code.splitlines())


def answer_of(task: Task, kind: str, rng: random.Random) -> str | None:
    """The answer (what goes inside the answer tags) of one kind, or None when the task
    cannot have one (no reference and no oracle for a correct answer)."""
    if kind == "correct":
        return _right(task)
    if kind == "wrong":
        return _fenced(_callable_body(task, "print(-1)\nreturn -1" if _is_callable(task) else "print(-1)"))
    if kind == "crash":
        return _fenced(_callable_body(task, "raise RuntimeError('crash')"))
    if kind == "spin":
        return _fenced(_callable_body(task, "while True:\n    pass"))
    if kind == "sleep":
        return _fenced(_callable_body(task, "import time\ntime.sleep(1000)"))
    if kind == "no_code":
        return "I would read the input, compute the answer and print it."
    return _fenced(rng.choice(HOSTILE))


def _is_callable(task: Task) -> bool:
    check = task.label["tests"].get("functional") or ""
    return bool(_METHOD.search(check) or _TACO_CALL.search(check))


def build_step(tasks: list[Task], prompts: int, samples: int, seed: int = 0) -> list[Sample]:
    """``prompts`` x ``samples`` samples over tasks that have a right answer, kinds dealt
    by :data:`MIX` over the whole step and shuffled."""
    rng = random.Random(seed)
    usable = [t for t in tasks if _right(t) is not None]
    if not usable:
        raise ValueError("no task with a reference solution or an oracle")
    rng.shuffle(usable)
    chosen = [usable[i % len(usable)] for i in range(prompts)]
    total = prompts * samples
    kinds = [kind for kind, share in MIX.items() for _ in range(round(share * total))]
    kinds = (kinds + ["correct"] * total)[:total]
    rng.shuffle(kinds)
    step = []
    for index, kind in enumerate(kinds):
        task = chosen[index // samples]
        answer = answer_of(task, kind, rng)
        assert answer is not None
        # Every sample of a group is a generation of its own: no two are the same text, so
        # the service's cache answers none of them (as in a real step).
        answer = answer.replace("```python\n", f"```python\n# sample {index}\n", 1)
        answer = answer if answer.startswith("```") else f"{answer} (sample {index})"
        prompt = prompt_text(task)
        label = {**task.label, "reward": {"mode": "binary"}}
        style = "functional" if task.label["tests"].get("functional") else "stdio"
        step.append(Sample(kind, prompt, response(prompt, answer), label, 1.0 if kind == "correct" else 0.0, style))
    return step
