"""TRL adapter: the reward service as a ``GRPOTrainer(reward_funcs=...)`` reward function.

TRL calls ``f(prompts=..., completions=..., completion_ids=..., trainer_state=..., **columns)``
where every other dataset column arrives as a keyword list, one entry per completion.
Completions are strings (standard format) or lists of ``{"role", "content"}`` messages
(conversational format); prompts likewise. The function returns one float per
completion: the service's reward under the chosen mode, or ``None`` for a sample the
service did not score (verdict ``unscored``: it was busy past its deadline; and, with
``error_as_none=True``, verdict ``error``). TRL (1.16) turns ``None`` into NaN and leaves
the sample out: a completion that no reward function scored gets no share of its group's
baseline and an advantage of 0, so a failure of the service never teaches the policy.

Where the label comes from, per row:

1. the ``label_column`` (default ``label``): a label object, or a string holding one, as
   the project's converters write it; a plain ground truth there is mapped like 2.
2. else a ground-truth column (``answer_column``; by default the first of
   ``ground_truth``, ``answer``, ``solution`` that exists), mapped onto a label by
   ``domain`` (fixed for the run) or by the row's ``data_source`` column.

::

    from reward_client.trl import make_trl_reward_func
    reward = make_trl_reward_func(url="http://reward:8000", mode="format")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=ds, args=GRPOConfig(...))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reward_client.labels import UnmappableDataSource, as_label_object, label_for
from reward_client.results import ItemResult
from reward_client.shared import shared_client

_GROUND_TRUTH_COLUMNS = ("ground_truth", "answer", "solution")
# Keywords TRL passes that are not dataset columns.
_TRL_KEYWORDS = ("completion_ids", "trainer_state", "log_extra", "log_metric")


def message_text(value: Any) -> str:
    """Text of a completion or prompt: a string, or conversational messages (assistant turns for completions)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return _content_text(value.get("content"))
    if isinstance(value, Sequence):
        messages = [m for m in value if isinstance(m, Mapping)]
        return "\n".join(_content_text(m.get("content")) for m in messages)
    raise TypeError(f"expected a string or a list of {{'role', 'content'}} messages, got {type(value).__name__}")


def _completion_text(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        assistant = [m for m in value if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"]
        if assistant:
            return "\n".join(_content_text(m.get("content")) for m in assistant)
    return message_text(value)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type", "text") == "text")
    return str(content)


class TRLRewardFunc:
    """A TRL reward function backed by the reward service (build it with :func:`make_trl_reward_func`)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        label_column: str = "label",
        answer_column: str | None = None,
        domain: str | None = None,
        data_source_column: str = "data_source",
        mode: str | None = None,
        options: Mapping[str, Any] | None = None,
        api_key: str | None = None,
        name: str | None = None,
        unscored_as_none: bool = True,
        error_as_none: bool = False,
        **client_settings: Any,
    ) -> None:
        self.url = url
        self.left_out = {"unscored"} if unscored_as_none else set()
        if error_as_none:
            self.left_out.add("error")
        self.label_column = label_column
        self.answer_column = answer_column
        self.domain = domain
        self.data_source_column = data_source_column
        request_options = dict(options or {})
        if mode is not None:
            request_options["mode"] = mode
        self.options = request_options or None
        self.api_key = api_key
        self.client_settings = client_settings
        # TRL logs each reward function under its __name__ (rewards/<name>/mean).
        self.__name__ = name or (f"reward_service_{mode}" if mode else "reward_service")
        self.last_results: list[ItemResult] = []

    def __repr__(self) -> str:
        return f"<TRL reward function {self.__name__} -> {self.url or '$REWARD_URL'}>"

    def _labels(self, n: int, columns: Mapping[str, Any]) -> list[Any]:
        data_sources = columns.get(self.data_source_column)
        if self.label_column in columns:
            values, source = columns[self.label_column], self.label_column
        else:
            candidates = (self.answer_column,) if self.answer_column else _GROUND_TRUTH_COLUMNS
            source = next((c for c in candidates if c in columns), None)
            if source is None:
                raise ValueError(
                    f"no label for the completions: the dataset needs a {self.label_column!r} column or a ground-truth "
                    f"column ({', '.join(candidates)}); columns given: {sorted(k for k in columns if k not in _TRL_KEYWORDS)}"
                )
            values = columns[source]
        if len(values) != n:
            raise ValueError(f"column {source!r} has {len(values)} entries for {n} completions")
        labels = []
        for i, value in enumerate(values):
            label = as_label_object(value)
            if label is None:
                data_source = data_sources[i] if data_sources is not None else (self.domain or source)
                try:
                    label = label_for(data_source, value, domain=self.domain)
                except UnmappableDataSource as exc:
                    raise UnmappableDataSource(
                        exc.data_source,
                        f"{exc} (column {source!r} holds no label object; pass domain= to make_trl_reward_func "
                        f"or add a {self.data_source_column!r} column)",
                    ) from None
            labels.append(label)
        return labels

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **columns: Any
    ) -> list[float | None]:
        if completions is None:
            raise TypeError("the reward function needs completions=[...]")
        n = len(completions)
        if prompts is not None and len(prompts) != n:
            raise ValueError(f"{len(prompts)} prompts for {n} completions")
        labels = self._labels(n, columns)
        items = []
        for i, completion in enumerate(completions):
            item: dict[str, Any] = {"response": _completion_text(completion), "label": labels[i]}
            if prompts is not None:
                item["prompt"] = message_text(prompts[i])
            items.append(item)
        client = shared_client(self.url, self.api_key, **self.client_settings)
        self.last_results = client.score(items, self.options)
        return [None if r.verdict in self.left_out else r.reward for r in self.last_results]


def make_trl_reward_func(
    url: str | None = None,
    *,
    label_column: str = "label",
    answer_column: str | None = None,
    domain: str | None = None,
    mode: str | None = None,
    options: Mapping[str, Any] | None = None,
    api_key: str | None = None,
    name: str | None = None,
    unscored_as_none: bool = True,
    error_as_none: bool = False,
    **client_settings: Any,
) -> TRLRewardFunc:
    """A reward function for ``GRPOTrainer(reward_funcs=[...])`` that scores with the service.

    ``url`` defaults to ``$REWARD_URL``; ``mode`` (binary, partial, format, rescaled,
    logic-rl) and ``options`` are the request's reward options; ``client_settings`` go to
    :class:`reward_client.RewardClient` (``batch_size``, ``deadline_s``, ``max_retries``, ...).
    ``unscored_as_none`` (default on) / ``error_as_none`` (default off): a sample with that
    verdict gets ``None``, which TRL leaves out, instead of the failure reward.
    """
    return TRLRewardFunc(
        url,
        label_column=label_column,
        answer_column=answer_column,
        domain=domain,
        mode=mode,
        options=options,
        api_key=api_key,
        name=name,
        unscored_as_none=unscored_as_none,
        error_as_none=error_as_none,
        **client_settings,
    )
