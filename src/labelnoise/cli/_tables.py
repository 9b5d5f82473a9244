"""Console tables that several commands print."""

from __future__ import annotations

#: how many of the flagged examples a command prints under its summary
TOP_SUSPECTS = 5


def top_suspects(issues, example_ids=None, *, class_names=None, top: int = TOP_SUSPECTS):
    """A ``rich`` table of the first ``top`` flagged examples of the ranking (the first
    flagged rows of issues.csv): name (``example_ids``) or index, given and suggested
    label, label quality score; None when nothing is flagged.

    Args:
        issues: a :class:`labelnoise.LabelIssues`.
        example_ids: (N,) names of the examples, or None.
        class_names: the K class names (default ``issues``' own, else the indices).
        top: how many rows.
    """
    from rich.table import Table

    flagged = issues.is_label_issue
    rows = [int(i) for i in issues.ranking if flagged[i]][:top]
    if not rows:
        return None

    def name(c):
        return class_names[c] if class_names is not None else issues.class_name(c)

    table = Table(title="most likely wrong labels")  # a longer title wraps to the table
    for header in ("example" if example_ids is not None else "index", "given", "suggested",
                   "score"):
        table.add_column(header)
    for i in rows:
        table.add_row(str(example_ids[i] if example_ids is not None else i),
                      str(name(issues.labels[i])), str(name(issues.suggested_labels[i])),
                      f"{issues.label_quality_scores[i]:.4f}")
    return table
