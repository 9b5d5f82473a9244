"""Test helper: what the report tests read from a rendered HTML page."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportPage(HTMLParser):
    """Collects the tags, the attributes of every <img>, and the text of every element
    with an id (``ids[id] = text``) of an HTML page."""

    def __init__(self, html: str):
        super().__init__()
        self.imgs, self.ids, self.tags, self._cur = [], {}, [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a)
        if "id" in a:
            self._cur = a["id"]
            self.ids[self._cur] = ""

    def handle_data(self, data):
        if self._cur is not None:
            self.ids[self._cur] += data

    def handle_endtag(self, tag):
        self._cur = None

    @property
    def n_png(self) -> int:
        """Number of <img> elements embedding a PNG as a data URI."""
        return sum(a.get("src", "").startswith("data:image/png;base64,") for a in self.imgs)
