"""What a trivial program costs in each language, in the sandbox against the same commands
run bare (no sandbox), side by side.

Per installed language: the compile step of a fresh program (a distinct source each time,
so the cache answers none) and a run of the compiled program (the cache's), in the sandbox
(a pool of one slot: every layer on) and bare (the same commands and flags in a temporary
directory, the runtime directory's parts at their host paths). Rounds alternate the two;
medians. The ratios say what the sandbox adds to each step.

Run: ``.venv/bin/python -m bench.bench_languages`` (part of ``make bench``).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from sandbox import RunRequest, SandboxPool, get_language, installed_languages
from sandbox.languages import RUNTIME_IN_ROOT, Language

console = Console()
RESULTS = Path(__file__).resolve().parent / "results"
HELLO = {
    "python": 'print("hello {n}")',
    "c": '#include <stdio.h>\nint main(void) {{ puts("hello {n}"); return 0; }}',
    "cpp": '#include <iostream>\nint main() {{ std::cout << "hello {n}" << std::endl; }}',
    "java": 'public class Main {{ public static void main(String[] a) {{ System.out.println("hello {n}"); }} }}',
    "javascript": 'console.log("hello {n}");',
    "typescript": 'const greeting: string = "hello {n}";\nconsole.log(greeting);',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("hello {n}") }}',
    "rust": 'fn main() {{ println!("hello {n}"); }}',
    "bash": 'echo "hello {n}"',
}


def _bare(language: Language, source: str, runtime_dir: str) -> tuple[float, float]:
    """Seconds of the compile step (0 without one) and of the run, bare."""
    host = lambda text: text.replace(RUNTIME_IN_ROOT, runtime_dir)  # noqa: E731
    with tempfile.TemporaryDirectory() as work:
        Path(work, language.file_name(source)).write_text(source)
        compile_s = 0.0
        if language.compiled:
            argv = [host(a) for a in language.expand(language.compile_argv or (), source=source, memory_mb=512)]
            extra = [host(a) for a in (language.compile_extra(runtime_dir) if language.compile_extra else ())]
            env = {k: host(v) for k, v in language.environment(compile_step=True).items()}
            started = time.perf_counter()
            done = subprocess.run([*argv, *extra], cwd=work, env=env, capture_output=True, timeout=120)
            compile_s = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"{language.name}: bare compile failed: {done.stderr.decode()[-500:]}")
        if language.in_process:
            argv = [sys.executable, "-I", "-S", language.source_file]
        else:
            argv = [host(a) for a in language.expand(language.run_argv or (), source=source, memory_mb=512)]
        env = {k: host(v) for k, v in language.environment().items()}
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, timeout=60)
        run_s = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{language.name}: bare run failed: {done.stderr.decode()[-500:]}")
    return compile_s, run_s


def _sandboxed(pool: SandboxPool, language: Language, source: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = pool.run(RunRequest(source=source, language=language.name, time_limit_s=10))
    first_s = time.perf_counter() - started
    if first.status != "ok":
        raise RuntimeError(f"{language.name}: {first.status} {first.reason}")
    started = time.perf_counter()
    again = pool.run(RunRequest(source=source, language=language.name, time_limit_s=10))
    run_s = time.perf_counter() - started
    if again.status != "ok":
        raise RuntimeError(f"{language.name}: {again.status} {again.reason}")
    return max(0.0, first_s - run_s) if language.compiled else 0.0, run_s


def main(quick: bool = False) -> dict[str, Any]:
    rounds = 3 if quick else 7
    installed = [name for name, info in installed_languages().items() if info["installed"] and name in HELLO]
    figures: dict[str, Any] = {}
    ratios = []
    with SandboxPool(size=1) as pool, Progress(console=console) as progress:
        task = progress.add_task("languages", total=len(installed) * rounds)
        for name in installed:
            language = get_language(name)
            samples: dict[str, list[float]] = {"bare_compile": [], "bare_run": [], "sandbox_compile": [], "sandbox_run": []}
            for r in range(rounds):
                source = HELLO[name].format(n=f"{r}-{time.monotonic_ns()}")
                sides = ["bare", "sandbox"] if r % 2 == 0 else ["sandbox", "bare"]
                for side in sides:
                    if side == "bare":
                        compile_s, run_s = _bare(language, source, pool.runtime.directory)
                    else:
                        compile_s, run_s = _sandboxed(pool, language, source)
                    samples[f"{side}_compile"].append(compile_s)
                    samples[f"{side}_run"].append(run_s)
                progress.advance(task)
            medians = {key: statistics.median(values) for key, values in samples.items()}
            figures[name] = {key: round(value * 1000, 1) for key, value in medians.items()} | {
                "version": installed_languages()[name]["version"]
            }
            run_ratio = round(medians["sandbox_run"] / medians["bare_run"], 2) if medians["bare_run"] else None
            ratios.append({"name": f"{name}: a trivial program's run, sandbox / bare", "value": run_ratio,
                           "baseline": f"the same command bare, {medians['bare_run'] * 1000:.1f} ms", "target": "report"})  # fmt: skip
            if language.compiled and medians["bare_compile"]:
                ratios.append({"name": f"{name}: its compile step, sandbox / bare",
                               "value": round(medians["sandbox_compile"] / medians["bare_compile"], 2),
                               "baseline": f"the same compiler bare, {medians['bare_compile'] * 1000:.0f} ms", "target": "report"})  # fmt: skip
    table = Table(title="a trivial program per language, ms (medians)")
    for column in ("language", "compile bare", "compile sandbox", "run bare", "run sandbox"):
        table.add_column(column, justify="right" if column != "language" else "left")
    for name, f in figures.items():
        table.add_row(name, f"{f['bare_compile']:.0f}", f"{f['sandbox_compile']:.0f}", f"{f['bare_run']:.1f}", f"{f['sandbox_run']:.1f}")
    console.print(table)
    plots = [_plot(figures)]
    return {"languages": figures, "rounds": rounds, "ratios": ratios, "plots": [p for p in plots if p]}


def _plot(figures: dict[str, Any]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(figures)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, step in zip(axes, ("compile", "run"), strict=True):
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [figures[n][f"bare_{step}"] for n in names], 0.4, label="bare")
        ax.bar([x + 0.2 for x in xs], [figures[n][f"sandbox_{step}"] for n in names], 0.4, label="sandbox")
        ax.set_xticks(list(xs), names, rotation=30)
        ax.set_ylabel("ms")
        ax.set_title(f"a trivial program's {step}")
        ax.legend()
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "languages.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return str(out)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
