"""Thai PDF pages: A4 set in Laksaman (TLWG's TH Sarabun, Debian's fonts-thai-tlwg), with Thai vowels and
tone marks placed by HarfBuzz shaping, and one digit system in the whole document."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fpdf import FPDF

# Formal dates and some names come with Thai digits, figures with Arabic ones: a document uses one system, and
# Arabic digits are the ones a clerk can copy into a spreadsheet or search for.
ARABIC_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


class _NoText(int):
    """A code point that writes as nothing in a ToUnicode map (`<0014> <>`): see ThaiPDF.output."""

    def __format__(self, spec: str) -> str:
        return ""


class ThaiPDF(FPDF):
    def normalize_text(self, text: str) -> str:
        return super().normalize_text(text.translate(ARABIC_DIGITS))

    def output(self, *args: Any, **kwargs: Any) -> Any:
        # HarfBuzz sets สระอำ (U+0E33) as two glyphs, นิคหิต and สระอา, and fpdf2 maps the text to the first and
        # leaves the second out of the ToUnicode map: readers then extract a stray control character ("อำ\x14เภอ"),
        # which breaks search and copy-paste. A glyph that carries no text of its own is mapped to nothing.
        for font in self.fonts.values():
            subset = getattr(font, "subset", None)
            for glyph, _ in subset.items() if subset is not None else ():
                if glyph is not None and glyph.unicode == ():
                    glyph.unicode = (_NoText(0),)
        return super().output(*args, **kwargs)


def thai_pdf(font_dir: str) -> FPDF:
    regular, bold = Path(font_dir) / "Laksaman.ttf", Path(font_dir) / "Laksaman-Bold.ttf"
    if not regular.exists():
        raise FileNotFoundError(f"{regular} is missing: install Debian's fonts-thai-tlwg (make fonts)")
    pdf = ThaiPDF(format="A4")
    pdf.add_font("Laksaman", "", str(regular))
    pdf.add_font("Laksaman", "B", str(bold))
    pdf.set_text_shaping(True)
    pdf.add_page()
    return pdf


def signature_kept(draw: Callable[[bool], tuple[FPDF, int, int]]) -> bytes:
    """The document with its signature line on the page where its last table ends: a signature alone on a page
    signs nothing. `draw(break_before_last)` sets the whole document, with a page break before its last section
    (or its last rows) when asked, and returns it with the page its last table ended on and the page the signature
    is on."""
    pdf, table_page, signature_page = draw(False)
    if signature_page != table_page:
        pdf, _, _ = draw(True)
    return bytes(pdf.output())
