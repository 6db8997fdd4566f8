"""The public model generations the real-generations bench reads: repository, commit, file, licence.

Every source is a file of a public GitHub repository, kept under ``DATA/raw/<owner>+<name>/``
(the layout ``SOURCES`` names). Each row of the corpus is one generation as the model wrote it,
the label the service needs for its problem, and the source's own verdict (``expected``): the
flag its authors stored, or a reference grader re-run where they stored only the extracted
answer (ToRA: its ``pred`` against ``gt`` as numbers, as its ``math_equal`` does for GSM8K's
integer answers; ZeroEval: Math-Verify on the reply's answer field).

:mod:`bench.realgens.readers` turns each file into rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOT = "princeton-nlp+tree-of-thought-llm"
TORA = "microsoft+ToRA"
REFLEXION = "noahshinn+reflexion"
ZEROEVAL = "yuchenlin+ZeroEval"
GSM8K = "openai+grade-school-math"
SKYTHOUGHT = "NovaSky-AI+SkyThought"
SKYTHOUGHT_COMMIT = "6840eb7df638ab178d20122099286db08e376851"
SKYTHOUGHT_OUTPUTS = "skythought/Qwen2.5-Math/evaluation/outputs"
# (source name, the run's directory under the outputs, benchmark, prompt type, model, form)
SKYTHOUGHT_RUNS = (
    (
        "sky-t1-27b-math500",
        "home/ubuntu/skyov1-dl/Sky-T1-math-correct-5K-27B",
        "math500",
        "Sky-T1",
        "Sky-T1 (Gemma-2-27B, long-reasoning SFT)",
        "long reasoning between thought and solution markers, boxed",
    ),
    (
        "sky-t1-32b-short-math500",
        "icml_models/Sky-T1-math-correct-5K-32B-short-ckpts",
        "math500",
        "Sky-T1",
        "Sky-T1 (Qwen2.5-32B, short-reasoning SFT)",
        "reasoning between thought and solution markers, boxed",
    ),
    (
        "sky-t1-14b-aime24",
        "home/ubuntu/skyov1-dl/Sky-T1-math-correct-5K-14B",
        "aime24",
        "Sky-T1",
        "Sky-T1 (Qwen2.5-14B, long-reasoning SFT)",
        "long reasoning between thought and solution markers, boxed",
    ),
    (
        "sky-t1-14b-amc23",
        "home/ubuntu/skyov1-dl/Sky-T1-math-correct-5K-14B",
        "amc23",
        "Sky-T1",
        "Sky-T1 (Qwen2.5-14B, long-reasoning SFT)",
        "long reasoning between thought and solution markers, boxed",
    ),
    (
        "qwen25-14b-instruct-math500",
        "Qwen/Qwen2.5-14B-Instruct",
        "math500",
        "qwen25-math-cot",
        "Qwen2.5-14B-Instruct",
        "chat markdown, boxed",
    ),
    (
        "gemma2-27b-it-math500",
        "google/gemma-2-27b-it",
        "math500",
        "qwen25-math-cot",
        "gemma-2-27b-it",
        "chat markdown, boxed",
    ),
    (
        "qwen25-math-7b-math500",
        "Qwen/Qwen2.5-Math-7B",
        "math500",
        "qwen25-math-cot",
        "Qwen2.5-Math-7B (base)",
        "base-model chain of thought, boxed, often run on past the answer",
    ),
)
GSM8K_RUNS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
ZEROEVAL_COMMIT = "570c6269a2e4930ee06a17e713fece1ba52cf1dd"


@dataclass(frozen=True)
class Source:
    name: str
    domain: str
    repo: str
    commit: str
    path: str
    """the file under ``raw/<repo>/`` (where it sits in the repository: see ``upstream``)."""
    upstream: str
    licence: str
    model: str
    form: str
    reader: str


SOURCES: tuple[Source, ...] = (
    Source(
        "tot-game24-cot",
        "countdown",
        TOT,
        "ab400345c5ea39d28ea6d7d3be0e417b11113c87",
        "gpt-4_0.7_naive_cot_sample_100_start900_end1000.json",
        "logs/game24/gpt-4_0.7_naive_cot_sample_100_start900_end1000.json",
        "MIT",
        "gpt-4",
        "Game of 24: steps with (left: ...) then Answer: expr = 24",
        "tot",
    ),
    Source(
        "tot-game24-standard",
        "countdown",
        TOT,
        "ab400345c5ea39d28ea6d7d3be0e417b11113c87",
        "gpt-4_0.7_naive_standard_sample_100_start900_end1000.json",
        "logs/game24/gpt-4_0.7_naive_standard_sample_100_start900_end1000.json",
        "MIT",
        "gpt-4",
        "Game of 24: Answer: expr = 24",
        "tot",
    ),
    Source(
        "tot-game24-bfs",
        "countdown",
        TOT,
        "ab400345c5ea39d28ea6d7d3be0e417b11113c87",
        "gpt-4_0.7_propose1_value3_greedy5_start900_end1000.json",
        "logs/game24/gpt-4_0.7_propose1_value3_greedy5_start900_end1000.json",
        "MIT",
        "gpt-4",
        "Game of 24: tree-of-thought step chains, with or without an Answer line",
        "tot",
    ),
    Source(
        "tora-70b-gsm8k",
        "math",
        TORA,
        "213c1c995038c73fab10343814df7a42f990f026",
        "tora-70b-v1.0-gsm8k.jsonl",
        "src/outputs/llm-agents/tora-70b-v1.0/gsm8k/test_tora_-1_seed0_t0.0_s0_e1319.jsonl",
        "MIT",
        "ToRA-70B",
        "tool-integrated: python blocks, their output, then a boxed answer",
        "tora",
    ),
    Source(
        "tora-code-34b-gsm8k",
        "math",
        TORA,
        "213c1c995038c73fab10343814df7a42f990f026",
        "tora-code-34b-v1.0-gsm8k.jsonl",
        "src/outputs/llm-agents/tora-code-34b-v1.0/gsm8k/test_tora_-1_seed0_t0.0_s0_e1319.jsonl",
        "MIT",
        "ToRA-Code-34B",
        "tool-integrated: python blocks, their output, then a boxed answer",
        "tora",
    ),
    Source(
        "reflexion-humaneval-gpt4",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_test_run/simple_1_gpt-4_pass_at_k_1.jsonl",
        "programming_runs/root/simple_test_run/simple_1_gpt-4_pass_at_k_1.jsonl",
        "MIT",
        "gpt-4",
        "HumanEval completion (function body)",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-gpt35",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_test_run/simple_1_gpt-3.5-turbo_pass_at_k_1.jsonl",
        "programming_runs/root/simple_test_run/simple_1_gpt-3.5-turbo_pass_at_k_1.jsonl",
        "MIT",
        "gpt-3.5-turbo",
        "HumanEval completion (function body)",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-davinci",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_test_run/simple_1_text-davinci-003_pass_at_k_1.jsonl",
        "programming_runs/root/simple_test_run/simple_1_text-davinci-003_pass_at_k_1.jsonl",
        "MIT",
        "text-davinci-003",
        "HumanEval completion (function body)",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-gpt4-full",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_human_eval_py_logging/humaneval-py..gz_simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "programming_runs/root/simple_human_eval_py_logging/humaneval-py..gz_simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "MIT",
        "gpt-4",
        "HumanEval: the whole function",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-gpt4-reflexion",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "reflexion_humaneval_py_pass_at_1/reflexion_humaneval_py_pass_at_1.jsonl",
        "programming_runs/root/reflexion_humaneval_py_pass_at_1/reflexion_humaneval_py_pass_at_1.jsonl",
        "MIT",
        "gpt-4",
        "HumanEval: the whole function after self-reflection",
        "reflexion",
    ),
    Source(
        "reflexion-mbpp-gpt4",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_mbpp_py/mbpp-py._simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "programming_runs/root/simple_mbpp_py/mbpp-py._simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "MIT",
        "gpt-4",
        "MBPP (MultiPL-E typed prompts): the whole function",
        "reflexion",
    ),
    Source(
        "reflexion-mbpp-gpt4-reflexion",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "reflexion_mbpp_py/mbpp-py._reflexion_5_gpt-4_pass_at_k_1_py.jsonl",
        "programming_runs/root/reflexion_mbpp_py/mbpp-py._reflexion_5_gpt-4_pass_at_k_1_py.jsonl",
        "MIT",
        "gpt-4",
        "MBPP: the whole function after self-reflection",
        "reflexion",
    ),
)
SOURCES += tuple(
    Source(
        f"zeroeval-math-l5-{short}",
        "math",
        ZEROEVAL,
        ZEROEVAL_COMMIT,
        f"math-l5-{model}.json",
        f"result_dirs/math-l5/{model}.json",
        "Apache-2.0",
        model,
        "chat markdown reasoning in a JSON object with an answer field (MATH level 5)",
        "zeroeval",
    )
    for short, model in (
        ("gpt4o", "gpt-4o-2024-08-06"),
        ("claude35", "claude-3-5-sonnet-20240620"),
        ("qwen25-7b", "Qwen2.5-7B-Instruct"),
        ("llama31-8b", "Meta-Llama-3.1-8B-Instruct"),
    )
)
SOURCES += tuple(
    Source(
        f"gsm8k-gpt3-{run.replace('_', '-')}",
        "math",
        GSM8K,
        "3101c7d5072418e28b9008a6636bde82a006892c",
        "example_model_solutions.jsonl",
        "grade_school_math/data/example_model_solutions.jsonl",
        "MIT",
        f"GPT-3 {run.split('_')[0].upper()} ({run.split('_')[1]})",
        "chain of thought with calculator annotations, the last line A: answer",
        "gsm8k",
    )
    for run in GSM8K_RUNS
)
SOURCES += tuple(
    Source(
        f"skythought-{name}",
        "math",
        SKYTHOUGHT,
        SKYTHOUGHT_COMMIT,
        f"{name}.jsonl",
        f"{SKYTHOUGHT_OUTPUTS}/{run}/{bench}_eval/{bench}/test_{prompt}_-1_seed0_t0.0_s0_e-1.jsonl",
        "Apache-2.0",
        model,
        form,
        "qwen25math",
    )
    for name, run, bench, prompt, model, form in SKYTHOUGHT_RUNS
)
# Game of 24's puzzles, which the logs name by index only.
GAME24_PUZZLES = ("24.csv", "src/tot/data/24/24.csv")


def raw_path(data: Path, source: Source) -> Path:
    return data / "raw" / source.repo / source.path


def missing(data: Path) -> list[str]:
    """What the raw layout lacks, as paths under DATA."""
    paths = [raw_path(data, s) for s in SOURCES] + [data / "raw" / TOT / GAME24_PUZZLES[0]]
    return [str(p.relative_to(data)) for p in paths if not p.is_file()]
