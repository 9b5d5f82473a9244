"""The audit report: one self-contained HTML file with embedded plots and images.

* :class:`ReportData` (a :class:`labelnoise.issues.LabelIssues` and what the audit knows
  about the data), :func:`render_report`, :func:`write_report`: the page;
* :mod:`labelnoise.report.plots`: noise-matrix heatmap, per-class issue rates,
  precision-recall curve (matplotlib, base64 PNG);
* :mod:`labelnoise.report.images`: thumbnails for the grid of suspected examples.
"""

from labelnoise.report.html import ReportData, render_report, write_report

__all__ = ["ReportData", "render_report", "write_report"]
