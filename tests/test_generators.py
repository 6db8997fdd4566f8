"""Generators: unique solutions checked by their own solvers, determinism, labels, the CLI."""

from __future__ import annotations

import argparse
import itertools
import json
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators import cli as gen_cli
from generators import generate_countdown, generate_kk, generate_zebra
from generators.countdown import countdown_task
from generators.kk import kk_puzzle, solve_kk, statement_holds
from generators.zebra import Clue, ZebraSolver, positions_to_grid, zebra_puzzle
from services.domains.countdown import evaluate_equation
from services.labels import parse_label
from services.scoring import score_item

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answer_response(answer: str) -> str:
    return f"<think>worked it out</think>\n<answer>\n{answer}\n</answer>"


# --------------------------------------------------------------------------- Knights and Knaves


@PROPERTY
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(0, 3))
def test_kk_puzzles_have_exactly_one_solution(index, people, seed):
    puzzle = kk_puzzle(index, people=people, seed=seed)
    assert len(puzzle.names) == people == len(set(puzzle.names))
    assert solve_kk(puzzle.statements) == [puzzle.solution]
    # each person's statement is true exactly when that person tells the truth
    for i, statement in enumerate(puzzle.statements):
        assert statement_holds(statement, puzzle.solution) == puzzle.solution[i]


def test_kk_solver_on_known_puzzles():
    # A says "B is a knave"; B says "A and B are both knights": A knight, B knave.
    statements = (("lying", 1), ("and", ("telling-truth", 0), ("telling-truth", 1)))
    assert solve_kk(statements) == [(True, False)]
    # A says "I am a knight": both roles consistent, two solutions.
    assert len(solve_kk((("telling-truth", 0),))) == 2
    # A says "A is a knave and B is a knight"... with B saying nothing contradictory.
    assert solve_kk((("not", ("telling-truth", 0)), ("telling-truth", 1))) == []


def test_kk_rows_score_one_with_their_own_answer():
    rows = list(generate_kk(6, people=4, seed=7))
    for row in rows:
        label = parse_label(row["label"])
        assert label.roles and len(label.solution) == 4
        assert "<answer>" in row["prompt"] and "<think>" in row["prompt"]
        answer = "\n".join(
            f"({i}) {name} is a {role}" for i, (name, role) in enumerate(row["label"]["solution"].items(), 1)
        )
        for mode, reward in (("binary", 1.0), ("logic-rl", 3.0)):
            result = score_item(answer_response(answer), row["label"], prompt=row["prompt"], layers=({"mode": mode},))
            assert result["verdict"] == "correct" and result["format_ok"], result
            assert result["reward"] == reward
        # one answer format only: reasoning-gym's "X is a knight/knave" template is cut off
        roles = row["label"]["roles"]
        assert "Format your answer" not in row["prompt"] and "/".join(roles) not in row["prompt"]


def test_kk_generation_is_deterministic_by_seed():
    assert list(generate_kk(3, people=3, seed=5)) == list(generate_kk(3, people=3, seed=5))
    assert list(generate_kk(3, people=3, seed=5)) != list(generate_kk(3, people=3, seed=6))
    # neighbouring seeds do not share puzzles (reasoning-gym seeds item i with seed + i)
    first = [r["prompt"] for r in generate_kk(4, people=3, seed=0)]
    second = [r["prompt"] for r in generate_kk(4, people=3, seed=1)]
    assert not set(first) & set(second)


# --------------------------------------------------------------------------- Zebra


def brute_force_solutions(puzzle) -> list[list[list[int]]]:
    """Every grid satisfying the clues, by enumerating all permutations (small puzzles only)."""
    perms = list(itertools.permutations(range(puzzle.houses)))
    found = []
    for combo in itertools.product(perms, repeat=len(puzzle.characteristics)):
        positions = [list(p) for p in combo]
        if all(clue.holds(positions) for clue in puzzle.clues):
            found.append(positions)
    return found


@PROPERTY
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(1, 3))
def test_small_zebra_puzzles_have_exactly_one_solution_by_brute_force(index, houses, attributes):
    puzzle = zebra_puzzle(index, houses, attributes, seed=0)
    solutions = brute_force_solutions(puzzle)
    assert solutions == [[list(p) for p in puzzle.positions]]
    assert puzzle.solve(limit=5) == solutions


@PROPERTY
@given(st.integers(0, 10_000), st.integers(2, 5), st.integers(1, 5))
def test_zebra_puzzles_are_unique_and_every_clue_is_needed(index, houses, attributes):
    puzzle = zebra_puzzle(index, houses, attributes, seed=1)
    solver = puzzle.solver()
    assert solver.solve(list(puzzle.clues), limit=3) == [[list(p) for p in puzzle.positions]]
    for clue in puzzle.clues:
        assert clue.holds([list(p) for p in puzzle.positions])
    for dropped in range(len(puzzle.clues)):
        rest = [c for i, c in enumerate(puzzle.clues) if i != dropped]
        assert len(solver.solve(rest, limit=2)) == 2, "a clue that is not needed was kept"


def test_zebra_solver_counts_solutions():
    solver = ZebraSolver(houses=3, values_per_characteristic=3, characteristics=1)
    assert len(solver.solve([], limit=10)) == 6  # 3! orders of one characteristic
    assert len(solver.solve([Clue("at", (0, 0), house=0)], limit=10)) == 2
    assert solver.solve([Clue("at", (0, 0), house=0), Clue("left_of", (0, 2), (0, 1))], limit=10) == [[[0, 2, 1]]]
    assert solver.solve([Clue("at", (0, 0), house=0), Clue("at", (0, 1), house=0)], limit=10) == []


def test_zebra_rows_score_one_with_their_own_grid():
    for row in generate_zebra(4, houses=4, attributes=3, seed=3):
        label = parse_label(row["label"])
        assert len(label.solution) == 4
        assert "## Clues:" in row["prompt"] and "<answer>" in row["prompt"]
        answer = json.dumps(row["label"]["solution"])
        result = score_item(answer_response(answer), row["label"], prompt=row["prompt"], layers=({"mode": "format"},))
        assert result["verdict"] == "correct" and result["reward"] == 1.0, result
        assert result["details"]["cells_total"] == 12


def test_zebra_grid_matches_positions():
    puzzle = zebra_puzzle(0, 3, 2, seed=0)
    grid = positions_to_grid(puzzle, [list(p) for p in puzzle.positions])
    assert grid == puzzle.grid() and list(grid) == ["House 1", "House 2", "House 3"]
    assert all(list(cells) == [ch.name for ch in puzzle.characteristics] for cells in grid.values())


def test_zebra_generation_is_deterministic_by_seed():
    assert list(generate_zebra(3, 3, 3, seed=2)) == list(generate_zebra(3, 3, 3, seed=2))
    assert list(generate_zebra(3, 3, 3, seed=2)) != list(generate_zebra(3, 3, 3, seed=3))


@pytest.mark.parametrize(("houses", "attributes"), [(1, 3), (9, 3), (3, 0), (3, 13)])
def test_zebra_sizes_out_of_range_are_refused(houses, attributes):
    with pytest.raises(ValueError):
        generate_zebra(1, houses, attributes)


# --------------------------------------------------------------------------- CountDown


@PROPERTY
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(0, 3))
def test_countdown_tasks_are_solvable(index, numbers, seed):
    task = countdown_task(index, numbers=numbers, seed=seed)
    value, used = evaluate_equation(task.witness)
    assert value == task.target and 1 <= task.target <= 100
    assert Counter(used) == Counter(task.numbers) and len(task.numbers) == numbers
    label = parse_label(task.label())
    assert label.target == task.target and list(label.numbers) == list(task.numbers)


def test_countdown_rows_are_solved_by_their_witness():
    for index in range(5):
        task = countdown_task(index, numbers=4, seed=11)
        result = score_item(
            answer_response(task.witness), task.label(), prompt=task.prompt(), layers=({"mode": "format"},)
        )
        assert result["verdict"] == "correct" and result["reward"] == 1.0, (task, result)


def test_countdown_generation_is_deterministic_by_seed():
    assert list(generate_countdown(5, seed=4)) == list(generate_countdown(5, seed=4))
    assert list(generate_countdown(5, seed=4)) != list(generate_countdown(5, seed=5))


def test_evaluate_expression_is_exact_and_refuses_other_code():
    assert evaluate_equation("6 / (1 - 3 / 4)")[0] == 24
    assert evaluate_equation("(1 + 2) / 3") == (1, [1, 2, 3])
    with pytest.raises(ValueError):
        evaluate_equation("__import__('os')")
    with pytest.raises(ValueError):
        evaluate_equation("2 ** 10")


# --------------------------------------------------------------------------- reward gen


def gen_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reward gen")
    gen_cli.add_arguments(parser)
    return parser


@pytest.mark.parametrize(
    ("argv", "domain"),
    [
        (["kk", "--n", "3", "--people", "3", "--seed", "0"], "kk"),
        (["zebra", "--n", "3", "--houses", "3", "--attributes", "3"], "zebra"),
        (["countdown", "--n", "3", "--numbers", "3", "--max-target", "50"], "countdown"),
    ],
)
def test_reward_gen_writes_jsonl(tmp_path, argv, domain):
    out = tmp_path / "rows.jsonl"
    assert gen_cli.run(gen_parser().parse_args([*argv, "--out", str(out), "--no-progress"])) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row) == {"prompt", "label"} and row["label"]["domain"] == domain
        parse_label(row["label"])
    again = tmp_path / "again.jsonl"
    assert gen_cli.run(gen_parser().parse_args([*argv, "--out", str(again), "--no-progress"])) == 0
    assert again.read_text() == out.read_text()


def test_reward_gen_to_stdout_with_progress(capsys):
    assert gen_cli.run(gen_parser().parse_args(["countdown", "--n", "2", "--progress"])) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "2/2" in captured.err


@pytest.mark.parametrize(
    "argv",
    [["kk", "--people", "1"], ["zebra", "--houses", "20"], ["countdown", "--numbers", "30"], ["kk", "--n", "-1"]],
)
def test_reward_gen_bad_arguments_exit_2(argv, capsys):
    assert gen_cli.run(gen_parser().parse_args(argv)) == 2
    assert "must be" in capsys.readouterr().err


def test_reward_gen_unwritable_output_exits_2(tmp_path, capsys):
    args = gen_parser().parse_args(["kk", "--n", "1", "--out", str(tmp_path / "missing" / "x.jsonl")])
    assert gen_cli.run(args) == 2
    assert "cannot write" in capsys.readouterr().err


# --------------------------------------------------------------------------- every prompt's own format


def answer_as_the_prompt_asks(row: dict, witness: str | None) -> str:
    """A reply written from the prompt's instructions alone (the label supplies the facts)."""
    prompt, label = row["prompt"], row["label"]
    if label["domain"] == "kk":
        truth, liar = re.search(r'each line either "\(i\) NAME is (.+?)" or "\(i\) NAME is (.+?)"', prompt).groups()
        phrase = {label["roles"][0]: truth, label["roles"][1]: liar}
        lines = [f"({i}) {name} is {phrase[role]}" for i, (name, role) in enumerate(label["solution"].items(), 1)]
        return answer_response("\n".join(lines))
    if label["domain"] == "zebra":
        template = json.loads(re.search(r"like <answer>(\{.*?\}), \.\.\.\}</answer>", prompt).group(1) + "}")
        assert set(template["House 1"]) == set(label["solution"]["House 1"])
        return f"<think>worked it out</think> <answer>{json.dumps(label['solution'])}</answer>"
    assert "for example <answer> (1 + 2) / 3 </answer>" in prompt
    return f"<think>worked it out</think> <answer> {witness} </answer>"


@pytest.mark.parametrize("kind", ["kk", "zebra", "countdown"])
def test_an_answer_written_as_each_prompt_of_reward_gen_asks_scores_1(kind, tmp_path):
    parser = argparse.ArgumentParser()
    gen_cli.add_arguments(parser)
    out = tmp_path / "rows.jsonl"
    args = parser.parse_args([kind, "--n", "4", "--seed", "3", "--out", str(out), "--no-progress"])
    assert gen_cli.run(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    for i, row in enumerate(rows):
        task = countdown_task(i, seed=3) if kind == "countdown" else None
        assert task is None or task.row() == row
        witness = task.witness if task else None
        result = score_item(answer_as_the_prompt_asks(row, witness), row["label"], prompt=row["prompt"])
        assert (result["verdict"], result["reward"], result["format_ok"]) == ("correct", 1.0, True), result


def test_reward_gen_has_these_generators():
    """The test above covers every generator `reward gen` offers."""
    parser = argparse.ArgumentParser()
    gen_cli.add_arguments(parser)
    (kinds,) = parser._subparsers._group_actions
    assert set(kinds.choices) == {"kk", "zebra", "countdown"}
