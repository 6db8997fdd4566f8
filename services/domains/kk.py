"""Knights-and-Knaves verifier: who is the truth-teller and who is the liar.

The gold answer (from any of the label forms below) is normalised in one place,
:func:`gold_of`, into ``{name: True for a truth-teller / False for a liar}`` plus the
puzzle's two role words:

- ``{"solution": {"Zoey": "knight", "Oliver": "knave"}}`` (values may also be booleans,
  True meaning the truth-teller), with optional ``"roles": ["hero", "villain"]``;
- Logic-RL / K&K rows: ``"names": [...]`` with ``"solution": [true, false, ...]``;
- ``solution_text_format`` lines ("(1) Zoey is a knave\\n(2) Oliver is a knight") or
  ``solution_text`` ("Zoey is a knave, and Oliver is a knight."), given as the
  solution or as extra fields;
- role words from ``roles``, else from a ``knight_knave`` mapping (K&K, reasoning-gym),
  else inferred from the words the solution uses (knight/knave, saint/sinner, ...).

The model's answer is read from the answer region in the forms models write: "(1) Zoey is
a knight", "Zoey: knave", bullets, tables, **bold**, one sentence with commas, "Zoey and
Oliver are knights", "Knights: Zoey, Oliver", "Zoey is not a knight". Each name
occurrence is bound to a role by the closest reading (a predicate after the name, then a
"Knights:" header before it, then a list joining it to a later name); a person given both
roles anywhere in the answer ("Zoey is a knight/knave", "a knight or a knave", two
contradicting lines) is wrong. The score is the fraction of the puzzle's people right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import PrivateAttr, model_validator

from services.core import DomainLabel, VerifierOutcome
from services.rewards import RewardOptions

# Role-word pairs (truth-teller, liar) that puzzles use; a label's own ``roles`` come first.
KNOWN_ROLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("knight", "knave"),
    ("pioneer", "laggard"),
    ("saint", "sinner"),
    ("hero", "villain"),
    ("angel", "devil"),
    ("altruist", "egoist"),
    ("sage", "fool"),
    ("truth-teller", "liar"),
)
# Words that mean the truth-teller / the liar in any puzzle of the genre.
GENERIC_TRUTH_WORDS = ("knight", "truth-teller", "truthteller", "truth teller")
GENERIC_LIAR_WORDS = ("knave", "liar")

MAX_ANSWER_CHARS = 20_000
"""Longer answer regions are cut to their last this-many characters (a real answer is short)."""


class KKLabelError(ValueError):
    """A Knights-and-Knaves label whose solution cannot be read."""


@dataclass(frozen=True, slots=True)
class KKGold:
    """The normalised gold answer of a Knights-and-Knaves puzzle."""

    people: dict[str, bool]
    """name -> True for the truth-teller role, False for the liar role (puzzle order)."""
    roles: tuple[str, str]
    """The puzzle's words for (truth-teller, liar)."""

    def role_word(self, truthful: bool) -> str:
        return self.roles[0] if truthful else self.roles[1]


class KKLabel(DomainLabel):
    """``solution`` {name: role}; or Logic-RL's ``names`` + boolean ``solution`` list, or
    ``solution_text_format`` / ``solution_text`` (given as the solution or as extra
    fields). ``roles`` = [truth-teller word, liar word] when not knight/knave. The gold
    answer is normalised once, when the label is read (:attr:`gold`)."""

    domain: Literal["kk"]
    solution: dict[str, Any] | list[Any] | str | None = None
    roles: list[str] | None = None
    _gold: KKGold | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _normalise_gold(self) -> KKLabel:
        self._gold = gold_of(self)
        return self

    @property
    def gold(self) -> KKGold:
        assert self._gold is not None
        return self._gold


Label = KKLabel


# --------------------------------------------------------------------------- gold


def _clean_role_word(word: str) -> str:
    word = " ".join(word.strip().lower().split())
    for article in ("a ", "an ", "the "):
        if word.startswith(article):
            word = word[len(article) :]
    return word


def _role_pair_from_label(label: KKLabel) -> tuple[str, str] | None:
    if label.roles is not None:
        if len(label.roles) != 2:
            raise KKLabelError(f"roles must name exactly two roles [truth-teller, liar], got {label.roles!r}")
        truth, liar = (_clean_role_word(str(r)) for r in label.roles)
        if not truth or not liar or truth == liar:
            raise KKLabelError(f"roles must be two different non-empty words, got {label.roles!r}")
        return truth, liar
    mapping = (label.model_extra or {}).get("knight_knave")
    if isinstance(mapping, dict) and isinstance(mapping.get("knight"), str) and isinstance(mapping.get("knave"), str):
        truth, liar = _clean_role_word(mapping["knight"]), _clean_role_word(mapping["knave"])
        if truth and liar and truth != liar:
            return truth, liar
    return None


def _infer_role_pair(words: set[str]) -> tuple[str, str]:
    """The known role pair that covers every role word a solution uses."""
    plain = {w for w in words if w not in GENERIC_TRUTH_WORDS + GENERIC_LIAR_WORDS}
    if not plain:
        return KNOWN_ROLE_PAIRS[0]
    for pair in KNOWN_ROLE_PAIRS:
        if plain <= set(pair):
            return pair
    raise KKLabelError(
        f"role words {sorted(plain)} are not a known pair; give \"roles\": [truth-teller, liar]"
    )


def _truth_value(value: Any, roles: tuple[str, str]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = _clean_role_word(value)
        if word == roles[0] or (word in GENERIC_TRUTH_WORDS and roles[1] != word):
            return True
        if word == roles[1] or (word in GENERIC_LIAR_WORDS and roles[0] != word):
            return False
        raise KKLabelError(f"role {value!r} is neither {roles[0]!r} nor {roles[1]!r}")
    raise KKLabelError(f"a role must be a word or a boolean (true = {roles[0]}), got {value!r}")


_GOLD_CLAIM = re.compile(
    r"(?P<name>[A-Z][\w'’-]*(?:[ ][A-Z][\w'’-]*)*)\s+is\s+(?P<neg>not\s+)?(?:an?\s+|the\s+)?"
    r"(?P<role>truth[- ]?teller|[A-Za-z]+)",
)


def _gold_from_text(text: str, roles: tuple[str, str] | None) -> KKGold:
    """Read "(1) Zoey is a knave\\n(2) Oliver is a knight" or "Zoey is a knave, and ..."."""
    claims: list[tuple[str, str, bool]] = []
    for m in _GOLD_CLAIM.finditer(text):
        claims.append((m.group("name").strip(), _clean_role_word(m.group("role")), bool(m.group("neg"))))
    if not claims:
        raise KKLabelError(f"no 'NAME is a ROLE' statements in the solution text {text[:120]!r}")
    if roles is None:
        roles = _infer_role_pair({role for _, role, _ in claims})
    people: dict[str, bool] = {}
    for name, role, negated in claims:
        truthful = _truth_value(role, roles) != negated
        if people.setdefault(name, truthful) != truthful:
            raise KKLabelError(f"the solution text gives {name} both roles")
    return KKGold(people=people, roles=roles)


def gold_of(label: KKLabel) -> KKGold:
    """Normalise every accepted label form into :class:`KKGold`; raise :class:`KKLabelError`."""
    extra = label.model_extra or {}
    roles = _role_pair_from_label(label)
    solution: Any = label.solution
    if solution is None:
        for key in ("solution_text_format", "solution_text"):
            if isinstance(extra.get(key), str):
                solution = extra[key]
                break
        else:
            raise KKLabelError("kk label needs a solution (or solution_text_format / solution_text)")

    if isinstance(solution, str):
        return _gold_from_text(solution, roles)

    if isinstance(solution, list):
        if solution and all(isinstance(v, str) for v in solution) and not isinstance(extra.get("names"), list):
            return _gold_from_text("\n".join(solution), roles)
        names = extra.get("names")
        if not isinstance(names, list) or len(names) != len(solution):
            raise KKLabelError("a list solution needs a 'names' list of the same length (Logic-RL form)")
        solution = dict(zip((str(n) for n in names), solution, strict=True))

    if not isinstance(solution, dict) or not solution:
        raise KKLabelError("kk solution must be a non-empty mapping of name to role")
    if roles is None:
        roles = _infer_role_pair({_clean_role_word(v) for v in solution.values() if isinstance(v, str)})
    people: dict[str, bool] = {}
    seen: set[str] = set()
    for name, value in solution.items():
        name = " ".join(str(name).split())
        if not name or name.casefold() in seen:
            raise KKLabelError(f"kk solution has an empty or repeated name {name!r}")
        seen.add(name.casefold())
        people[name] = _truth_value(value, roles)
    return KKGold(people=people, roles=roles)


# --------------------------------------------------------------------------- answer


@dataclass(slots=True)
class _Event:
    kind: str  # "name" or "role"
    start: int
    end: int
    value: Any  # canonical name (str) or truthfulness (bool)


@dataclass(slots=True)
class Claims:
    """What an answer says about each person of the puzzle."""

    roles_by_person: dict[str, set[bool]] = field(default_factory=dict)
    unknown_names: list[str] = field(default_factory=list)


_LIST_MARKER = re.compile(r"(?m)^[ \t]*(?:[-*+•·]|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])[ \t]+")
_MARKDOWN = re.compile(r"(?m)\*\*|__|`|^[ \t]*#+[ \t]*|\\text(?:bf)?\{|\\boxed\{")
_GAP_TOKEN = re.compile(r"[a-z]+|->|=>|→|[:=/&,;.!?|]|[-–—]")

_ARTICLES = {"a", "an", "the"}
_NEGATIONS = {"not", "never", "no", "t"}  # "isn't" -> "isn", "t"
_LINK_WORDS = {
    "is", "are", "was", "were", "be", "am", "s", "isn", "aren", "wasn", "must", "would", "will",
    "should", "has", "have", "to", "can", "could", "only", "being", "been", "as", "identified",
}
_ADVERBS = {
    "definitely", "therefore", "thus", "so", "also", "clearly", "certainly", "actually", "indeed",
    "really", "hence", "then", "surely", "truly", "in", "fact", "logically", "necessarily", "both",
    "all", "consequently", "each", "likewise", "too", "either",
}
_LINK_SYMBOLS = {":", "=", "-", "–", "—", "->", "=>", "→", "|", ","}
_BREAKS = {".", ";", "!", "?"}
_HEADER_LINKS = {":", "=", "-", "–", "—", "->", "=>", "→", "are", "is", "were", "was", "include", "includes"}
_LIST_SEPARATORS = {",", "and", "&", "as", "well", "plus", "both"}
_HEDGE_JOINERS = {"or", "/", "and", "nor"}
_HEDGE_FILLER = {"either", "neither", ",", "a", "an", "the", "maybe", "possibly", "perhaps"}

_NOT_NAMES = {
    "he", "she", "it", "they", "this", "that", "who", "each", "everyone", "there", "one", "both",
    "all", "only", "so", "then", "thus", "therefore", "hence", "and", "which", "answer", "person",
    "final", "the", "if", "we", "i", "but", "no", "none", "also", "clearly", "everybody", "nobody",
}


def _gap_tokens(gap: str) -> list[str]:
    gap = gap.lower().replace("’", "'").replace("n't", " not").replace("'s", " s")
    return _GAP_TOKEN.findall(gap)


def _is_predicate(tokens: list[str]) -> tuple[bool, bool]:
    """Whether the text between a name and a role word ties them ("is a", ":", "must be a", "-")
    and whether it negates ("is not a")."""
    if len(tokens) > 7 or any(t in _BREAKS for t in tokens):
        return False, False
    allowed = _ARTICLES | _NEGATIONS | _LINK_WORDS | _ADVERBS | _LINK_SYMBOLS
    if not all(t in allowed for t in tokens):
        return False, False
    return True, any(t in _NEGATIONS for t in tokens)


def _is_header_link(tokens: list[str]) -> bool:
    """Whether a role word introduces the names after it ("Knights: Zoey", "knaves are Oliver")."""
    tokens = [t for t in tokens if t not in _ARTICLES and t != "s"]
    return bool(tokens) and len(tokens) <= 3 and all(t in _HEADER_LINKS for t in tokens)


def _is_list_separator(tokens: list[str], gap: str, allow_newline: bool) -> bool:
    if not tokens:
        return allow_newline and "\n" in gap
    return len(tokens) <= 3 and all(t in _LIST_SEPARATORS for t in tokens)


def _is_hedge(tokens: list[str]) -> bool:
    """Whether two role words are offered as alternatives ("knight/knave", "a knight or a knave")."""
    return (
        bool(tokens)
        and any(t in _HEDGE_JOINERS for t in tokens)
        and all(t in _HEDGE_JOINERS | _HEDGE_FILLER for t in tokens)
    )


def _word_pattern(text: str, plural: bool) -> str:
    parts = [re.escape(p) for p in re.split(r"[\s-]+", text) if p]
    body = r"[\s-]*".join(parts)
    return rf"(?<![\w-]){body}{'(?:e?s)?' if plural else ''}(?![\w-])"


def _role_words(gold: KKGold) -> dict[str, bool]:
    words = {gold.roles[0]: True, gold.roles[1]: False}
    for word in GENERIC_TRUTH_WORDS:
        words.setdefault(word, True)
    for word in GENERIC_LIAR_WORDS:
        words.setdefault(word, False)
    return words


def _clean_answer(text: str) -> str:
    text = text[-MAX_ANSWER_CHARS:]
    text = _MARKDOWN.sub(" ", text)
    return _LIST_MARKER.sub(" ", text)


def read_claims(answer: str, gold: KKGold) -> Claims:
    """Every role the answer gives each person of the puzzle (a set: two roles = contradiction)."""
    text = _clean_answer(answer)
    names = sorted(gold.people, key=len, reverse=True)
    role_words = _role_words(gold)
    role_list = sorted(role_words, key=len, reverse=True)
    pattern = re.compile(
        "|".join(
            [f"(?P<n{i}>{_word_pattern(n, plural=False)})" for i, n in enumerate(names)]
            + [f"(?P<r{i}>{_word_pattern(r, plural=True)})" for i, r in enumerate(role_list)]
        ),
        re.IGNORECASE,
    )
    events: list[_Event] = []
    for m in pattern.finditer(text):
        group = m.lastgroup or ""
        index = int(group[1:])
        if group[0] == "n":
            events.append(_Event("name", m.start(), m.end(), names[index]))
        else:
            events.append(_Event("role", m.start(), m.end(), role_words[role_list[index]]))

    def gap(i: int) -> str:
        return text[events[i].end : events[i + 1].start]

    n = len(events)
    direct: dict[int, set[bool]] = {}
    header: dict[int, bool] = {}
    # 1. predicates: NAME <is a / : / - / must be a> ROLE, extended by hedges "ROLE or ROLE".
    for i in range(n - 1):
        if events[i].kind == "name" and events[i + 1].kind == "role":
            if "\n" in gap(i):  # a role on the next line starts a new entry ("Knaves: ...")
                continue
            ok, negated = _is_predicate(_gap_tokens(gap(i)))
            if not ok:
                continue
            given = {events[i + 1].value != negated}
            j = i + 1
            while j + 1 < n and events[j + 1].kind == "role" and _is_hedge(_gap_tokens(gap(j))):
                given.add(events[j + 1].value != negated)
                j += 1
            direct[i] = given
    # 2. headers: ROLE <: / are> NAME, NAME and NAME (a list may continue over lines).
    for j in range(n - 1):
        if events[j].kind != "role" or events[j + 1].kind != "name":
            continue
        if not _is_header_link(_gap_tokens(gap(j))):
            continue
        i = j + 1
        while i < n and events[i].kind == "name" and i not in direct:
            header.setdefault(i, events[j].value)
            if i + 1 < n and events[i + 1].kind == "name" and _is_list_separator(
                _gap_tokens(gap(i)), gap(i), allow_newline=True
            ):
                i += 1
            else:
                break
    # 3. lists before a predicate: "Zoey, Oliver and Ethan are knights".
    resolved: dict[int, set[bool]] = {}
    for i in range(n - 1, -1, -1):
        if events[i].kind != "name":
            continue
        if i in direct:
            resolved[i] = direct[i]
        elif i in header:
            resolved[i] = {header[i]}
        elif (
            i + 1 < n
            and events[i + 1].kind == "name"
            and i + 1 in resolved
            and i + 1 not in header
            and _is_list_separator(_gap_tokens(gap(i)), gap(i), allow_newline=False)
        ):
            resolved[i] = set(resolved[i + 1])

    claims = Claims()
    for i, given in resolved.items():
        claims.roles_by_person.setdefault(events[i].value, set()).update(given)
    claims.unknown_names = _unknown_names(text, gold, role_list)
    return claims


def _unknown_names(text: str, gold: KKGold, role_list: list[str]) -> list[str]:
    """Capitalised words given a role that are not people of the puzzle (reported, not scored)."""
    known = {n.casefold() for n in gold.people} | {p.casefold() for n in gold.people for p in n.split()}
    roles = "|".join(_word_pattern(r, plural=True) for r in role_list)
    claim = re.compile(
        rf"\b(?P<name>[A-Z][a-z][\w'-]*)\s+(?:is|was|must be)\s+(?:not\s+)?(?:an?\s+|the\s+)?(?:{roles})",
        re.IGNORECASE,
    )
    found: list[str] = []
    for m in claim.finditer(text):
        name = m.group("name")
        if not name[0].isupper():
            continue
        if name.casefold() in known or name.casefold() in _NOT_NAMES or name in found:
            continue
        found.append(name)
    return found[:20]


# --------------------------------------------------------------------------- verify


def verify(extracted: Any, label: KKLabel, options: RewardOptions) -> VerifierOutcome:
    """Score a Knights-and-Knaves answer: the fraction of the puzzle's people given the right role."""
    gold = label.gold
    total = len(gold.people)
    answer = extracted.answer_region
    if not answer.strip():
        return VerifierOutcome(
            score=0.0,
            parsed=False,
            reason="empty answer region: no answer to read",
            details={"people_right": 0, "people_total": total},
        )
    claims = read_claims(answer, gold)

    people: dict[str, dict[str, Any]] = {}
    counts = {"right": 0, "wrong": 0, "missing": 0, "contradictory": 0}
    problems: list[str] = []
    for name, truthful in gold.people.items():
        given = claims.roles_by_person.get(name, set())
        expected = gold.role_word(truthful)
        if not given:
            status, answered = "missing", None
            problems.append(f"{name}: no role given")
        elif len(given) > 1:
            status, answered = "contradictory", sorted(gold.role_word(v) for v in given)
            problems.append(f"{name}: given both roles")
        else:
            value = next(iter(given))
            answered = gold.role_word(value)
            status = "right" if value == truthful else "wrong"
            if status == "wrong":
                problems.append(f"{name}: answered {answered}, expected {expected}")
        counts[status] += 1
        people[name] = {"expected": expected, "answered": answered, "status": status}

    details: dict[str, Any] = {
        "people_right": counts["right"],
        "people_wrong": counts["wrong"],
        "people_missing": counts["missing"],
        "people_contradictory": counts["contradictory"],
        "people_total": total,
        "people": people,
    }
    if claims.unknown_names:
        details["unknown_names"] = claims.unknown_names
    if counts["missing"] == total:
        reason = f"no role could be read for any of the {total} people ({', '.join(gold.people)})"
        return VerifierOutcome(score=0.0, parsed=False, reason=reason, details=details)
    score = counts["right"] / total
    reason = None
    if problems:
        reason = f"{counts['right']} of {total} people right; " + "; ".join(problems[:8])
    return VerifierOutcome(score=score, parsed=True, reason=reason, details=details)
