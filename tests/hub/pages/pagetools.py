"""What the pages' HTTP tests read from an answer: its addresses, forms and fields."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

_ADDRESSES = {"href", "action", "src", "formaction", "data-receipts"}


class Parsed(HTMLParser):
    """Every element's attributes, in order, and the forms' fields by form id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.fields: dict[str, list[str]] = {}
        self.options: dict[str, list[str]] = {}
        self._form: str | None = None
        self._select: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append((tag, values))
        if tag == "form":
            self._form = values.get("id", "")
            self.fields.setdefault(self._form, [])
        elif tag in {"input", "select", "textarea"} and self._form is not None and "name" in values:
            self.fields[self._form].append(values["name"])
        if tag == "select":
            self._select = f"{self._form}/{values.get('name', '')}"
            self.options[self._select] = []
        elif tag == "option" and self._select is not None:
            self.options[self._select].append(values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None

    def addresses(self) -> list[str]:
        return [v for _, attrs in self.elements for k, v in attrs.items() if k in _ADDRESSES]

    def links(self, starting: str) -> list[str]:
        return [
            a["href"]
            for t, a in self.elements
            if t == "a" and a.get("href", "").startswith(starting)
        ]


def parsed(response: httpx.Response) -> Parsed:
    assert response.headers["content-type"].startswith("text/html"), response.text
    return Parsed(response.text)


def no_number_in_addresses(response: httpx.Response, v_number: str) -> None:
    """The v-number in no address of the page, nor in the answer's headers."""
    assert all(v_number not in address for address in parsed(response).addresses())
    assert all(v_number not in value for value in response.headers.values())
    assert v_number not in str(response.url)
