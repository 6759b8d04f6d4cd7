"""Thai PDF pages: A4 set in Laksaman (TLWG's TH Sarabun, Debian's fonts-thai-tlwg), with Thai vowels and
tone marks placed by HarfBuzz shaping."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF


def thai_pdf(font_dir: str) -> FPDF:
    regular, bold = Path(font_dir) / "Laksaman.ttf", Path(font_dir) / "Laksaman-Bold.ttf"
    if not regular.exists():
        raise FileNotFoundError(f"{regular} is missing: install Debian's fonts-thai-tlwg (make fonts)")
    pdf = FPDF(format="A4")
    pdf.add_font("Laksaman", "", str(regular))
    pdf.add_font("Laksaman", "B", str(bold))
    pdf.set_text_shaping(True)
    pdf.add_page()
    return pdf
