"""The source formats, one module per kind of data (see :mod:`trainer.data.converters`)."""
