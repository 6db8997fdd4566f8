"""Training data: converters from public formats, offline generators, mixing and splits.

``python -m trainer.data --source deepscaler=deepscaler.parquet --source gen:kk=2000 --out data/``
"""

from trainer.data.build import DatasetFiles, DataSpecError, SourceSpec, build_dataset, parse_ratios
from trainer.data.converters import CONVERTERS, SkipRow
from trainer.data.generated import GeneratorsUnavailable, generated_tasks
from trainer.data.tasks import Task

__all__ = [
    "CONVERTERS",
    "DataSpecError",
    "DatasetFiles",
    "GeneratorsUnavailable",
    "SkipRow",
    "SourceSpec",
    "Task",
    "build_dataset",
    "generated_tasks",
    "parse_ratios",
]
