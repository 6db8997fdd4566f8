"""Zebra grid verifier: JSON in text, grid forms, cell accuracy, bad input, reward modes."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.domains.zebra import find_answer_grid, gold_grid
from services.scoring import score_item

MODES = ("binary", "partial", "format", "rescaled", "logic-rl")
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GRID = {
    "House 1": {"Name": "Arnold", "Pet": "cat", "Drink": "tea"},
    "House 2": {"Name": "Bob", "Pet": "dog", "Drink": "milk"},
}
LABEL = {"domain": "zebra", "solution": GRID}
LABEL_ROWS = {
    "domain": "zebra",
    "header": ["House", "Name", "Pet", "Drink"],
    "rows": [["1", "Arnold", "cat", "tea"], ["2", "Bob", "dog", "milk"]],
}


def tagged(answer: str) -> str:
    return f"<think>reasoning</think>\n<answer>\n{answer}\n</answer>"


def zebra_score(answer: str, label=LABEL, mode: str = "partial") -> dict:
    return score_item(tagged(answer), label, layers=({"mode": mode},))


# --------------------------------------------------------------------------- properties

CHARACTERISTICS = {
    "Name": ["Arnold", "Bob", "Carol", "David", "Eric", "Peter"],
    "Pet": ["cat", "dog", "bird", "fish", "horse", "rabbit"],
    "Drink": ["tea", "coffee", "milk", "water", "juice", "root beer"],
    "Color": ["red", "green", "blue", "yellow", "white", "purple"],
    "Hobby": ["chess", "painting", "gardening", "reading", "cooking", "hiking"],
}


@st.composite
def grids(draw):
    houses = draw(st.integers(2, 6))
    count = draw(st.integers(1, len(CHARACTERISTICS)))
    names = ["Name", *draw(st.permutations(list(CHARACTERISTICS)[1:]))[: count - 1]]
    grid: dict[str, dict[str, str]] = {f"House {h}": {} for h in range(1, houses + 1)}
    for attribute in names:
        values = draw(st.permutations(CHARACTERISTICS[attribute]))[:houses]
        for h, value in enumerate(values, start=1):
            grid[f"House {h}"][attribute] = value
    return grid


def as_header_rows(grid: dict[str, dict[str, str]]) -> dict:
    attributes = list(next(iter(grid.values())))
    return {
        "header": ["House", *attributes],
        "rows": [[house.split()[1], *(cells[a] for a in attributes)] for house, cells in grid.items()],
    }


def restyle(grid: dict, rnd, style: int) -> str:
    """The same grid as a model might write it: key styles, case, spacing, wrappers, fences."""

    def house_key(house: str) -> str:
        number = house.split()[1]
        return rnd.choice([f"House {number}", f"house {number}", f"house_{number}", number, f"HOUSE{number}"])

    def value_style(value: str) -> str:
        return rnd.choice([value, value.upper(), value.lower(), f"  {value} ", value.title()])

    def key_style(key: str) -> str:
        return rnd.choice([key, key.lower(), key.upper(), f" {key}"])

    answer = {
        house_key(house): {key_style(k): value_style(v) for k, v in cells.items()}
        for house, cells in grid.items()
    }
    if style == 0:
        return json.dumps(answer)
    if style == 1:
        return "```json\n" + json.dumps(answer, indent=2) + "\n```"
    if style == 2:
        return "Here is the solution:\n" + json.dumps({"solution": answer}) + "\nDone."
    if style == 3:
        return json.dumps({"reasoning": "step by step {not json}", "solution": answer})
    if style == 4:  # an earlier draft, then the final grid: the last one counts
        draft = {house: {k: "?" for k in cells} for house, cells in grid.items()}
        return json.dumps(draft) + "\nWait, fixing it:\n" + json.dumps(answer)
    if style == 5:  # trailing commas
        text = json.dumps(answer, indent=1)
        return text.replace('"\n', '",\n').replace("}\n", "},\n")
    return json.dumps(as_header_rows(grid))


@PROPERTY
@given(grids(), st.integers(0, 6), st.booleans(), st.randoms(use_true_random=False))
def test_correct_grid_in_any_surface_form_scores_one(grid, style, gold_as_rows, rnd):
    label = {"domain": "zebra", "solution": as_header_rows(grid) if gold_as_rows else grid}
    answer = restyle(grid, rnd, style)
    result = zebra_score(answer, label)
    assert result["score"] == 1.0, (answer, result["details"])
    assert result["details"]["puzzle_accuracy"] == 1
    assert result["details"]["cell_accuracy"] == 1.0


@PROPERTY
@given(grids(), st.data())
def test_changing_k_cells_lowers_partial_score_by_k_over_total(grid, data):
    cells = [(house, attribute) for house, row in grid.items() for attribute in row]
    total = len(cells)
    changed = data.draw(st.sets(st.sampled_from(cells), max_size=total), label="changed")
    removed = data.draw(
        st.sets(st.sampled_from(sorted(changed)), max_size=len(changed)) if changed else st.just(set())
    )
    answer = {house: dict(row) for house, row in grid.items()}
    for house, attribute in changed:
        if (house, attribute) in removed:
            del answer[house][attribute]  # a missing cell is wrong too
        else:
            answer[house][attribute] = "not-" + answer[house][attribute]
    result = zebra_score(json.dumps(answer), {"domain": "zebra", "solution": grid}, mode="partial")
    assert result["score"] == pytest.approx(1 - len(changed) / total)
    assert result["reward"] == pytest.approx(1 - len(changed) / total)
    assert result["details"]["cells_right"] == total - len(changed)
    assert result["details"]["cells_total"] == total


@PROPERTY
@given(grids())
def test_extra_houses_and_attributes_earn_nothing(grid):
    answer = {house: {**row, "Extra": "x"} for house, row in grid.items()}
    answer["House 99"] = {"Name": "Zed"}
    result = zebra_score(json.dumps(answer), {"domain": "zebra", "solution": grid})
    assert result["score"] == 1.0
    assert result["details"]["extra_houses"] == [99]
    assert result["details"]["extra_attributes"] == ["Extra"]
    half = {house: row for i, (house, row) in enumerate(answer.items()) if i % 2 == 0 and house != "House 99"}
    partial = zebra_score(json.dumps(half), {"domain": "zebra", "solution": grid})
    right = sum(len(grid[h]) for h in half)
    assert partial["score"] == pytest.approx(right / sum(len(r) for r in grid.values()))


# --------------------------------------------------------------------------- examples


def test_gold_forms_agree():
    assert gold_grid(GRID) == gold_grid(as_header_rows(GRID))
    answer = json.dumps(GRID)
    assert zebra_score(answer, LABEL)["score"] == 1.0
    assert zebra_score(answer, LABEL_ROWS)["score"] == 1.0
    wrapped = {"domain": "zebra", "solution": {"solution": GRID}}
    assert zebra_score(answer, wrapped)["score"] == 1.0


def test_details_name_wrong_cells():
    answer = json.dumps({"House 1": {"Name": "Bob", "Pet": "cat"}, "House 2": GRID["House 2"]})
    result = zebra_score(answer)
    assert result["score"] == pytest.approx(4 / 6)
    details = result["details"]
    assert details["cells_right"] == 4 and details["cells_total"] == 6 and details["puzzle_accuracy"] == 0
    assert "House 1 Name: 'bob', expected 'arnold'" in details["wrong_cells"]
    assert "House 1 Drink: missing" in details["wrong_cells"]
    assert "4 of 6 cells right" in details["reason"]


def test_two_values_for_one_cell_is_wrong():
    answer = (
        '{"House 1": {"Name": "Arnold", "Pet": "cat", "Drink": "tea"}, "house 1": {"Name": "Bob"},'
        ' "House 2": {"Name": "Bob", "Pet": "dog", "Drink": ["milk", "tea"]}}'
    )
    result = zebra_score(answer)
    assert result["score"] == pytest.approx(4 / 6)
    assert any("more than one value" in w for w in result["details"]["wrong_cells"])


def test_last_grid_in_the_answer_counts():
    wrong = json.dumps({"House 1": {"Name": "Bob"}, "House 2": {"Name": "Arnold"}})
    right = json.dumps(GRID)
    assert zebra_score(wrong + "\n" + right)["score"] == 1.0
    assert zebra_score(right + "\n" + wrong)["score"] == 0.0
    # a trailing object that is not a grid does not hide the grid
    assert zebra_score(right + '\n{"confidence": "high"}')["score"] == 1.0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("response", "verdict", "reason"),
    [
        (tagged(""), "format_error", "empty"),
        (tagged("Arnold lives in house 1 with the cat."), "format_error", "no JSON"),
        (tagged('{"House 1": {"Name": "Arnold", "Pet": "cat"'), "format_error", "broken JSON"),
        (tagged('{"House 1": {"Name": Arnold}}'), "format_error", "broken JSON"),
        (tagged('{"answer": 42}'), "format_error", "not a grid"),
        (tagged('{"House 1": "Arnold", "House 2": "Bob"}'), "format_error", "not a grid"),
        (tagged('["Arnold", "Bob"]'), "format_error", "no JSON"),
        (tagged('{"header": "House", "rows": 3}'), "format_error", "not a grid"),
        (tagged('{"House 1": {"Name": null, "Pet": {"a": 1}}}'), "wrong", "expected"),
        (f"<think>{json.dumps(GRID)}</think>", "format_error", "no answer"),
        (f"<think>{json.dumps(GRID)}</think><answer>I give up</answer>", "format_error", "no JSON"),
        (tagged("{" * 5000 + '"' * 5000), "format_error", "broken JSON"),
        (tagged("[" * 100000), "format_error", "no JSON"),
        (tagged('{"a":' * 3000 + "1" + "}" * 3000), "format_error", ""),
    ],
)
def test_bad_answers_get_a_verdict_with_a_reason(response, verdict, reason):
    result = score_item(response, LABEL, layers=({"mode": "logic-rl"},))
    assert result["verdict"] == verdict, result
    assert (
        reason.lower()
        in (result["details"].get("reason", "") + result["details"].get("format_reason", "")).lower()
    )


@pytest.mark.parametrize(
    "label",
    [
        {"domain": "zebra"},
        {"domain": "zebra", "solution": {}},
        {"domain": "zebra", "solution": {"a": 1}},
        {"domain": "zebra", "solution": {"House 1": {"Name": ["Arnold", "Bob"]}}},
        {"domain": "zebra", "header": ["House", "Name"], "rows": "no"},
        {"domain": "zebra", "solution": {"House 1": {}}},
    ],
)
def test_bad_labels_are_errors_not_exceptions(label):
    result = zebra_score(json.dumps(GRID), label)
    assert result["verdict"] == "error"
    assert "label" in result["details"]["reason"]


def test_find_answer_grid_on_fenced_json_with_text_around():
    text = 'The grid:\n```json\n{"solution": {"House 1": {"Name": "Arnold"},}}\n```\nThat is all.'
    grid, _, why = find_answer_grid(text)
    assert why is None and grid == {1: {"name": ["arnold"]}}


# --------------------------------------------------------------------------- reward modes

RIGHT = json.dumps(GRID)
HALF = json.dumps({"House 1": GRID["House 1"], "House 2": {"Name": "Arnold", "Pet": "cat", "Drink": "tea"}})
# (case, response, expected reward per mode: binary, partial, format, rescaled, logic-rl)
MODE_TABLE = [
    ("all cells right", tagged(RIGHT), (1, 1, 1, 1, 3)),
    ("3 of 6 cells right", tagged(HALF), (0, 0.5, 0, 0, -0.5)),
    ("no cell right", tagged('{"House 1": {"Name": "Bob"}}'), (0, 0, 0, -1, -0.5)),
    ("broken JSON", tagged('{"House 1": {"Name": "Arnold"'), (0, 0, 0, -1, -1)),
    ("right, no think block", f"<answer>{RIGHT}</answer>", (1, 1, -1, 1, -3)),
    ("only in think", f"<think>{RIGHT}</think>", (0, 0, -1, -1, -3)),
]


@pytest.mark.parametrize(("case", "response", "rewards"), MODE_TABLE, ids=[row[0] for row in MODE_TABLE])
def test_reward_mode_table(case, response, rewards):
    for mode, expected in zip(MODES, rewards, strict=True):
        result = score_item(response, LABEL, layers=({"mode": mode},))
        assert result["reward"] == pytest.approx(expected), (case, mode, result)


def test_format_mode_can_pay_partial_credit():
    result = score_item(tagged(HALF), LABEL, layers=({"mode": "format", "format_base": "partial"},))
    assert result["reward"] == 0.5


# --------------------------------------------------------------------------- association grids (Logic Puzzle Baron)

LPB = {
    "House 1": {"Ages": "230,000 years", "Names": "Peanut", "Locations": "Scotland"},
    "House 2": {"Ages": "200,000 years", "Names": "Thumper", "Locations": "Siberia"},
    "House 3": {"Ages": "170,000 years", "Names": "Fang", "Locations": "Alaska"},
    "House 4": {"Ages": "140,000 years", "Names": "Snuffles", "Locations": "Norway"},
}
LPB_LABEL = {"domain": "zebra", "solution": LPB, "row_order": "any"}


def grid_answer(rows: list[dict]) -> str:
    return json.dumps(
        {"reasoning": "...", "solution": {f"House {i}": r for i, r in enumerate(rows, start=1)}}
    )


def test_association_rows_in_any_order_score_one():
    rows = list(LPB.values())
    for order in ([3, 2, 1, 0], [1, 0, 3, 2], [2, 3, 0, 1]):
        result = zebra_score(grid_answer([rows[i] for i in order]), LPB_LABEL)
        assert result["score"] == 1.0 and result["verdict"] == "correct", result
    # With fixed row order (ZebraLogic houses) the same answer is mostly wrong.
    fixed = zebra_score(grid_answer([rows[i] for i in (3, 2, 1, 0)]), {**LPB_LABEL, "row_order": "fixed"})
    assert fixed["score"] < 0.5


def test_one_wrong_cell_in_shuffled_rows_scores_cells_minus_one():
    rows = [dict(r) for r in reversed(LPB.values())]
    rows[0]["Locations"] = "Alaska"  # Snuffles was found in Norway
    result = zebra_score(grid_answer(rows), LPB_LABEL)
    assert result["score"] == pytest.approx(11 / 12) and result["details"]["cells_right"] == 11


def test_association_cells_ignore_case_and_spaces():
    rows = [{k: f"  {v.upper()} " for k, v in r.items()} for r in LPB.values()]
    assert zebra_score(grid_answer(rows[::-1]), LPB_LABEL)["score"] == 1.0


def test_extra_rows_cannot_buy_a_match():
    rows = list(LPB.values())
    every_pairing = rows + [{**rows[0], "Names": r["Names"]} for r in rows[1:]]
    result = zebra_score(grid_answer(every_pairing), LPB_LABEL)
    assert result["score"] == 0.0 and "extra rows" in result["details"]["reason"]


def test_fewer_rows_count_the_missing_cells_wrong():
    rows = list(LPB.values())[:3]
    assert zebra_score(grid_answer(rows[::-1]), LPB_LABEL)["score"] == pytest.approx(9 / 12)


def test_row_order_must_be_fixed_or_any():
    result = score_item(tagged(grid_answer(list(LPB.values()))), {**LPB_LABEL, "row_order": "sorted"})
    assert result["verdict"] == "error" and "row_order" in result["details"]["reason"]


# --------------------------------------------------------------------------- grids by column

COLUMN_GOLD = {
    "House 1": {"Food": "kale", "Hobby": "chess", "Car": "tesla"},
    "House 2": {"Food": "rice", "Hobby": "rowing", "Car": "ford"},
    "House 3": {"Food": "plum", "Hobby": "poetry", "Car": "bmw"},
}
COLUMN_LABEL = {"domain": "zebra", "solution": COLUMN_GOLD}
COLUMNS = {
    "Food": ["kale", "rice", "plum"],
    "Hobby": ["chess", "rowing", "poetry"],
    "Car": ["tesla", "ford", "bmw"],
}


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(COLUMNS),
        str(COLUMNS),  # Python's own print: single quotes
        f"Here's the grid:\n```python\n{COLUMNS!r}\n```",
        json.dumps({"House": [1, 2, 3], **COLUMNS}),
        json.dumps(
            {
                "House": ["House 3", "House 1", "House 2"],
                **{k: [v[2], v[0], v[1]] for k, v in COLUMNS.items()},
            }
        ),
    ],
)
def test_a_grid_by_columns_is_read_by_house(answer):
    result = zebra_score(answer, COLUMN_LABEL, mode="binary")
    assert result["verdict"] == "correct", result
    assert result["details"]["cells_right"] == 9


@pytest.mark.parametrize("quote", [json.dumps, str])
def test_a_column_with_two_values_swapped_scores_less(quote):
    swapped = {**COLUMNS, "Hobby": ["rowing", "chess", "poetry"]}
    result = zebra_score(quote(swapped), COLUMN_LABEL)
    assert result["verdict"] == "partial"
    assert result["details"]["cells_right"] == 7
    assert zebra_score(quote(swapped), COLUMN_LABEL, mode="binary")["reward"] == 0.0


def test_columns_of_unequal_or_nested_values_are_no_grid():
    assert zebra_score(json.dumps({"Food": [["kale"], ["rice"]]}), COLUMN_LABEL)["verdict"] == "format_error"
    assert (
        zebra_score(json.dumps({"Food": ["kale", "rice", "plum"], "note": "x"}), COLUMN_LABEL)["verdict"]
        == "format_error"
    )
    short = zebra_score(json.dumps({"Food": ["kale", "rice"], "Hobby": ["chess"]}), COLUMN_LABEL)
    assert short["verdict"] == "partial" and short["details"]["cells_right"] == 3
