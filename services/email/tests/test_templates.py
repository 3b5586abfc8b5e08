"""Email templates rendered with Jinja2 (no server needed)."""

from __future__ import annotations

import pytest

from services.email import TemplateError, TemplateRenderer


@pytest.fixture
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


class TestTemplateRenderer:
    def test_templates_are_listed(self, renderer: TemplateRenderer) -> None:
        """Every template with a subject, a text and an HTML part is known."""
        assert {"welcome", "digest", "announcement"} <= set(renderer.names)

    def test_welcome_has_subject_text_and_html(self, renderer: TemplateRenderer) -> None:
        """The welcome email greets the user by name in every part."""
        email = renderer.render("welcome", {"name": "Ada"})
        assert email.subject == "Welcome to nestq, Ada!"
        assert "Hello Ada," in email.text
        assert "<p>Hello Ada,</p>" in email.html

    def test_html_is_escaped_text_is_not(self, renderer: TemplateRenderer) -> None:
        """Markup in data is escaped in the HTML part only (the text part is not HTML)."""
        email = renderer.render("welcome", {"name": "<script>x</script>"})
        assert "&lt;script&gt;" in email.html and "<script>" not in email.html
        assert "Hello <script>x</script>," in email.text

    def test_subject_is_one_line(self, renderer: TemplateRenderer) -> None:
        """A newline in data cannot end the subject header early."""
        email = renderer.render("welcome", {"name": "Ada\nBcc: eve@example.com"})
        assert "\n" not in email.subject

    def test_digest_lists_reports(self, renderer: TemplateRenderer) -> None:
        """The digest counts the reports in its subject and lists them."""
        report = {
            "report_id": "7",
            "generated_at": "2026-01-01T00:00:00Z",
            "totals": {"jobs": 3},
            "queues": {},
        }
        email = renderer.render("digest", {"name": "Ada", "since": "today", "reports": [report]})
        assert email.subject == "Your digest: 1 new report"
        assert "report 7" in email.text and "<strong>7</strong>" in email.html
        empty = renderer.render("digest", {"name": "Ada", "since": "today", "reports": []})
        assert empty.subject == "Your digest: 0 new reports"
        assert "no new reports since today" in empty.text

    def test_missing_variable_is_an_error(self, renderer: TemplateRenderer) -> None:
        """Data without a variable the template uses fails, naming it (never a blank greeting)."""
        with pytest.raises(TemplateError, match="name"):
            renderer.render("welcome", {})

    def test_unknown_template(self, renderer: TemplateRenderer) -> None:
        """An unknown template name fails, listing the known ones."""
        with pytest.raises(TemplateError, match=r"unknown email template .nope.*welcome"):
            renderer.render("nope", {})
