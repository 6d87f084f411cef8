"""Click commands of the ``chipdse`` CLI, one module per family of commands."""
