"""Workflows: the YAML language of train and predict workflows (`spec`), the expression language
of derived columns, filters and gates (`expressions`), and data preparation (`recipe`)."""
