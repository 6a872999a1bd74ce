"""CSV inspection, preview and profiling for uploaded datasets.

Pure functions over a blocking binary file-like (anything with `.read(n)`): no network, no
database. `inspect_csv` reads an upload once, in bounded memory, and either describes its table
or refuses it with a `CsvRejected` the gateway turns into a 422 problem document; `preview_csv`,
`profile_csv` and `read_frame` read a file that passed, with the encoding and delimiter the
inspection reported.

`read_frame` (the whole file as a pandas DataFrame, for training) is in `tabular.frame`, so that
services which only inspect uploads do not import pandas.
"""

from .errors import CsvRejected, WrongEncoding
from .inspection import inspect_csv
from .preview import preview_csv
from .profiling import profile_csv
from .report import ColumnSummary, ColumnType, CsvLimits, CsvReport

__all__ = [
    "ColumnSummary",
    "ColumnType",
    "CsvLimits",
    "CsvRejected",
    "CsvReport",
    "WrongEncoding",
    "inspect_csv",
    "preview_csv",
    "profile_csv",
]
