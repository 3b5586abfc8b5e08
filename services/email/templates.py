"""Email templates: `<name>.subject.txt`, `<name>.txt` and `<name>.html` in `templates/`, rendered by Jinja2.

HTML is autoescaped (a user's name cannot inject markup); text and subject are not (they are not HTML).
A variable the template uses but the data lacks is an error, not a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from services.email.schemas import RenderedEmail

TEMPLATES_DIR = Path(__file__).parent / "templates"
_PARTS = ("subject.txt", "txt", "html")


class TemplateError(Exception):
    """An unknown template, or data that does not fit it (retrying cannot help)."""


class TemplateRenderer:
    """Renders the email templates of a folder (default: this package's `templates/`)."""

    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.directory = directory
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    @property
    def names(self) -> list[str]:
        """The templates that have all three parts."""
        stems = {p.name.split(".", 1)[0] for p in self.directory.iterdir() if p.is_file()}
        return sorted(s for s in stems if all((self.directory / f"{s}.{part}").is_file() for part in _PARTS))

    def check(self, name: str) -> None:
        """Raise `TemplateError` unless `name` is a known template."""
        if name not in self.names:
            raise TemplateError(f"unknown email template {name!r} (templates: {', '.join(self.names)})")

    def render(self, name: str, data: Mapping[str, Any]) -> RenderedEmail:
        """Render the three parts of template `name` with `data`.

        Raises:
            TemplateError: unknown template, or a variable missing from `data` (named in the message).
        """
        self.check(name)
        try:
            subject, text, html = (self._env.get_template(f"{name}.{part}").render(data) for part in _PARTS)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"email template {name!r}: {exc}") from exc
        # A header is one line: a newline in data must not end the subject early (or add a header).
        return RenderedEmail(subject=" ".join(subject.split()), text=text, html=html)
