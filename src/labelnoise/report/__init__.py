"""The audit report: one self-contained HTML file with embedded plots and images.

* :class:`ReportData` (a :class:`labelnoise.issues.LabelIssues` and what the audit knows
  about the data, with its :class:`labelnoise.data_issues.DataIssues`),
  :func:`render_report`, :func:`write_report`: the page, with one section per data-issue
  check (outliers and duplicate sets with thumbnails where images exist; a check that did
  not run says why);
* :mod:`labelnoise.report.plots`: noise-matrix heatmap, per-class issue rates,
  precision-recall curve (matplotlib, base64 PNG);
* :mod:`labelnoise.report.images`: thumbnails for the grids of examples.
"""

from labelnoise.report.html import ReportData, render_report, write_report

__all__ = ["ReportData", "render_report", "write_report"]
