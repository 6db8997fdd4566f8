"""Knights-and-Knaves verifier: answer forms, partial credit, hedging, label forms, reward modes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.domains.kk import KNOWN_ROLE_PAIRS, gold_of
from services.labels import parse_label
from services.scoring import score_item

NAMES = (
    "Zoey", "Oliver", "Ethan", "Emma", "Liam", "Ava", "Noah", "Sofia", "Mason", "Grace",
    "Aurora", "Jackson", "Penelope", "Samuel", "Harper", "Benjamin",
)
LABEL3 = {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave", "Ethan": "knight"}}
MODES = ("binary", "partial", "format", "rescaled", "logic-rl")
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tagged(answer: str) -> str:
    return f"<think>reasoning</think>\n<answer>\n{answer}\n</answer>"


def kk_score(answer: str, label=LABEL3, mode: str = "partial") -> dict:
    return score_item(tagged(answer), label, layers=({"mode": mode},))


def article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# --------------------------------------------------------------------------- surface forms


def render(people: list[tuple[str, bool]], roles: tuple[str, str], form: int, upper: bool, bold: bool) -> str:
    """One correct answer for ``people`` in one of the forms models write."""

    def role(t: bool) -> str:
        word = roles[0] if t else roles[1]
        return word.capitalize() if upper else word

    def name(n: str) -> str:
        return f"**{n}**" if bold else n

    if form == 0:
        return "\n".join(f"({i}) {name(n)} is {article(role(t))}" for i, (n, t) in enumerate(people, 1))
    if form == 1:
        return "\n".join(f"{name(n)}: {role(t)}" for n, t in people)
    if form == 2:
        return "\n".join(f"- {name(n)}: {role(t)}" for n, t in people)
    if form == 3:
        return "\n".join(f"{i}. {name(n)} is {article(role(t))}." for i, (n, t) in enumerate(people, 1))
    if form == 4:
        parts = [f"{name(n)} is {article(role(t))}" for n, t in people]
        return (", ".join(parts[:-1]) + ", and " + parts[-1] + ".") if len(parts) > 1 else parts[0] + "."
    if form == 5:
        return " and ".join(f"{name(n)} is {article(role(t))}" for n, t in people)
    if form == 6:
        rows = "\n".join(f"| {name(n)} | {role(t)} |" for n, t in people)
        return "| Person | Role |\n|---|---|\n" + rows
    if form == 7:  # grouped predicates: "Zoey and Ethan are knights, Oliver is a knave"
        clauses = []
        for truthful in (True, False):
            group = [name(n) for n, t in people if t == truthful]
            if not group:
                continue
            joined = group[0] if len(group) == 1 else ", ".join(group[:-1]) + " and " + group[-1]
            word = roles[0] if truthful else roles[1]
            clauses.append(f"{joined} is {article(word)}" if len(group) == 1 else f"{joined} are {word}s")
        return "; ".join(clauses) + "."
    if form == 8:  # headers: "Knights: Zoey, Ethan"
        lines = []
        for truthful in (True, False):
            group = [name(n) for n, t in people if t == truthful]
            if group:
                lines.append(f"{role(truthful)}s: {', '.join(group)}")
        return "\n".join(lines)
    if form == 9:  # negations: "Zoey is not a knave"
        return "\n".join(f"{name(n)} is not {article(role(not t))}." for n, t in people)
    if form == 10:
        return "{" + ", ".join(f'"{n}": "{role(t)}"' for n, t in people) + "}"
    return "\n".join(f"{name(n)} - {role(t)}" for n, t in people)


N_FORMS = 12


@st.composite
def puzzles(draw):
    count = draw(st.integers(min_value=2, max_value=7))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=count, max_size=count, unique=True))
    truth = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    roles = draw(st.sampled_from(KNOWN_ROLE_PAIRS[:7]))
    return list(zip(names, truth, strict=True)), roles


def label_for(people: list[tuple[str, bool]], roles: tuple[str, str]) -> dict:
    return {
        "domain": "kk",
        "solution": {n: roles[0] if t else roles[1] for n, t in people},
        "roles": list(roles),
    }


@PROPERTY
@given(puzzles(), st.integers(0, N_FORMS - 1), st.booleans(), st.booleans(), st.randoms(use_true_random=False))
def test_correct_answer_in_any_surface_form_scores_one(puzzle, form, upper, bold, rnd):
    people, roles = puzzle
    shown = list(people)
    rnd.shuffle(shown)  # the answer may list people in any order
    answer = render(shown, roles, form, upper, bold)
    result = kk_score(answer, label_for(people, roles))
    assert result["score"] == 1.0, (answer, result["details"])
    assert result["verdict"] == "correct"


@PROPERTY
@given(puzzles(), st.integers(0, N_FORMS - 1), st.data())
def test_flipping_k_people_lowers_partial_score_by_k_over_n(puzzle, form, data):
    people, roles = puzzle
    n = len(people)
    flipped = data.draw(st.sets(st.integers(0, n - 1), max_size=n), label="flipped")
    answered = [(name, (not t) if i in flipped else t) for i, (name, t) in enumerate(people)]
    answer = render(answered, roles, form, upper=False, bold=False)
    result = kk_score(answer, label_for(people, roles), mode="partial")
    assert result["score"] == pytest.approx(1 - len(flipped) / n), (answer, result["details"])
    assert result["reward"] == pytest.approx(1 - len(flipped) / n)
    assert result["details"]["people_right"] == n - len(flipped)
    assert result["details"]["people_wrong"] == len(flipped)
    assert result["details"]["people_total"] == n


@PROPERTY
@given(puzzles(), st.data())
def test_giving_a_person_both_roles_makes_that_person_wrong(puzzle, data):
    people, roles = puzzle
    n = len(people)
    hedged = data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n), label="hedged")
    lines = []
    for i, (name, truthful) in enumerate(people):
        lines.append(f"{name} is {article(roles[0] if truthful else roles[1])}")
        if i in hedged:
            lines.append(f"{name} is {article(roles[1] if truthful else roles[0])}")
    result = kk_score("\n".join(lines), label_for(people, roles))
    assert result["score"] == pytest.approx(1 - len(hedged) / n)
    assert result["details"]["people_contradictory"] == len(hedged)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(
    "answer",
    [
        "Zoey is a knight/knave, Oliver is a knight/knave, and Ethan is a knight/knave",
        "Zoey is either a knight or a knave, Oliver is a knight or knave, Ethan is a knight or a knave",
        "Zoey is a knight and a knave. Oliver is a knave and a knight. Ethan is a knave or a knight.",
    ],
)
def test_hedging_between_roles_scores_nothing(answer):
    result = kk_score(answer)
    assert result["score"] == 0.0 and result["verdict"] == "wrong"
    assert result["details"]["people_contradictory"] == 3
    assert "both roles" in result["details"]["reason"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Zoey is a knight, Oliver is a knave and Ethan is a knight.", 1.0),
        ("**Zoey** is a **Knight**\n**Oliver** is a **Knave**\n**Ethan** is a **Knight**", 1.0),
        ("ZOEY: KNIGHT, oliver: knave, ethan: knight", 1.0),
        ("\\boxed{Zoey is a knight, Oliver is a knave, Ethan is a knight}", 1.0),
        ("Zoey (knight), Oliver (knave), Ethan (knight)", 1.0),
        ("Zoey = knight; Oliver = knave; Ethan = knight", 1.0),
        ("Zoey isn't a knave, Oliver isn't a knight, Ethan is definitely a knight", 1.0),
        ("Zoey is a truth-teller, Oliver is a liar, Ethan is a truth-teller", 1.0),
        ("Knights: Zoey and Ethan. Knaves: Oliver.", 1.0),
        ("The knights are Zoey and Ethan, and the knave is Oliver.", 1.0),
        ("Zoey is a knight and Oliver is a knave", 2 / 3),  # Ethan missing
        ("Zoey is a knave, Oliver is a knave, Ethan is a knight", 2 / 3),
        ("Zoey is a knave, Oliver is a knight, Ethan is a knave", 0.0),
    ],
)
def test_answer_examples(answer, expected):
    assert kk_score(answer)["score"] == pytest.approx(expected)


def test_role_words_from_the_label():
    label = {"domain": "kk", "solution": {"Zoey": "hero", "Oliver": "villain"}, "roles": ["hero", "villain"]}
    assert kk_score("Zoey is a hero and Oliver is a villain", label)["score"] == 1.0
    assert kk_score("Heroes: Zoey. Villains: Oliver.", label)["score"] == 1.0
    assert kk_score("Zoey is a villain and Oliver is a villain", label)["score"] == 0.5
    # the genre's own words still mean truth-teller / liar
    assert kk_score("Zoey is a knight and Oliver is a knave", label)["score"] == 1.0


def test_names_not_in_the_puzzle_are_ignored_and_reported():
    result = kk_score("Zoey is a knight, Oliver is a knave, Ethan is a knight, Mallory is a knave")
    assert result["score"] == 1.0
    assert result["details"]["unknown_names"] == ["Mallory"]
    only_strangers = kk_score("Mallory is a knight and Trent is a knave")
    assert only_strangers["verdict"] == "format_error"
    assert only_strangers["details"]["unknown_names"] == ["Mallory", "Trent"]


def test_details_name_each_person():
    details = kk_score("Zoey is a knave, Oliver is a knave")["details"]
    assert details["people_right"] == 1 and details["people_total"] == 3
    assert details["people"]["Zoey"] == {"expected": "knight", "answered": "knave", "status": "wrong"}
    assert details["people"]["Ethan"]["status"] == "missing"
    assert "Zoey: answered knave, expected knight" in details["reason"]
    assert "Ethan: no role given" in details["reason"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("response", "verdict"),
    [
        (tagged(""), "format_error"),
        (tagged("I could not work it out."), "format_error"),
        ("<think>Zoey is a knight, Oliver is a knave, Ethan is a knight</think>", "format_error"),
        ("<think>Zoey is a knight, Oliver is a knave, Ethan is a knight</think><answer></answer>", "format_error"),
        (tagged("{\"Zoey\": \"knight\""), "partial"),
        (tagged("Zoey is a wizard, Oliver is a knave"), "partial"),
        (tagged("Mallory is a knight"), "format_error"),
        (tagged("knight " * 5000 + "Zoey " * 5000), "format_error"),
        ("", "format_error"),
        (tagged("\x00\ud7ff" * 100), "format_error"),
    ],
)
def test_bad_answers_get_a_verdict_with_a_reason(response, verdict):
    result = score_item(response, LABEL3, layers=({"mode": "logic-rl"},))
    assert result["verdict"] == verdict
    if verdict != "correct":
        assert result["details"].get("reason")


@pytest.mark.parametrize(
    "label",
    [
        {"domain": "kk"},
        {"domain": "kk", "solution": {}},
        {"domain": "kk", "solution": {"Zoey": "wizard"}},
        {"domain": "kk", "solution": [True, False]},
        {"domain": "kk", "solution": [True], "names": ["Zoey", "Oliver"]},
        {"domain": "kk", "solution": {"Zoey": "knight"}, "roles": ["knight"]},
        {"domain": "kk", "solution": "nobody here"},
        {"domain": "kk", "solution": {"Zoey": 3}},
    ],
)
def test_bad_labels_are_errors_not_exceptions(label):
    result = kk_score("Zoey is a knight", label)
    assert result["verdict"] == "error"
    assert "label" in result["details"]["reason"]


# --------------------------------------------------------------------------- label forms


@pytest.mark.parametrize(
    "label",
    [
        {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave"}},
        {"domain": "kk", "solution": {"Zoey": True, "Oliver": False}},
        {"domain": "kk", "solution": {"Zoey": "a knight", "Oliver": "A Knave"}},
        {"domain": "kk", "names": ["Zoey", "Oliver"], "solution": [True, False]},
        {"domain": "kk", "solution_text_format": "(1) Zoey is a knight\n(2) Oliver is a knave"},
        {"domain": "kk", "solution": "(1) Zoey is a knight\n(2) Oliver is a knave"},
        {"domain": "kk", "solution_text": "Zoey is a knight, and Oliver is a knave."},
        {"domain": "kk", "solution": ["Zoey is a knight", "Oliver is a knave"]},
        {
            "domain": "kk",
            "names": ["Zoey", "Oliver"],
            "solution": [True, False],
            "knight_knave": {"knight": "saint", "knave": "sinner", "a_knight": "a saint", "a_knave": "a sinner"},
        },
        {"domain": "kk", "solution": {"Zoey": "saint", "Oliver": "sinner"}},
        '{"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave"}}',
    ],
)
def test_label_forms_normalise_to_the_same_gold(label):
    gold = gold_of(parse_label(label))
    assert gold.people == {"Zoey": True, "Oliver": False}
    answer = f"Zoey is {article(gold.roles[0])}, Oliver is {article(gold.roles[1])}"
    assert kk_score(answer, label)["score"] == 1.0
    assert kk_score("Zoey is a knight, Oliver is a knave", label)["score"] == 1.0


# --------------------------------------------------------------------------- reward modes

# (answer response, expected reward per mode: binary, partial, format, rescaled, logic-rl)
MODE_TABLE = [
    ("all right", tagged("Zoey is a knight, Oliver is a knave, Ethan is a knight"), (1, 1, 1, 1, 3)),
    ("2 of 3 right", tagged("Zoey is a knight, Oliver is a knight, Ethan is a knight"), (0, 2 / 3, 0, 1 / 3, -0.5)),
    ("all wrong", tagged("Zoey is a knave, Oliver is a knight, Ethan is a knave"), (0, 0, 0, -1, -0.5)),
    ("hedged", tagged("Zoey is a knight/knave, Oliver is a knight/knave, Ethan is a knight/knave"), (0, 0, 0, -1, -0.5)),
    ("unreadable", tagged("no idea"), (0, 0, 0, -1, -1)),
    ("right, no think block", "<answer>Zoey is a knight, Oliver is a knave, Ethan is a knight</answer>", (1, 1, -1, 1, -3)),
    ("only in think", "<think>Zoey is a knight, Oliver is a knave, Ethan is a knight</think>", (0, 0, -1, -1, -3)),
]


@pytest.mark.parametrize(("case", "response", "rewards"), MODE_TABLE, ids=[row[0] for row in MODE_TABLE])
def test_reward_mode_table(case, response, rewards):
    for mode, expected in zip(MODES, rewards, strict=True):
        result = score_item(response, LABEL3, layers=({"mode": mode},))
        assert result["reward"] == pytest.approx(expected), (case, mode, result)


def test_label_reward_options_apply():
    label = {**LABEL3, "reward": {"mode": "logic-rl"}}
    assert score_item(tagged("Zoey is a knight, Oliver is a knave, Ethan is a knight"), label)["reward"] == 3.0
