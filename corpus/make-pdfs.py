#!/usr/bin/env python3
"""Writes files/addressProofDocument.pdf (a fictitious utility bill) and
verification-result.pdf (a report summarizing result.json), with reportlab.
invariant=1 pins the /ID and dates so reruns give byte-identical files."""
import json
import os

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(HERE, "files")
# Embed the JPEGs as raw binary DCT streams rather than ASCII85 text.
rl_config.useA85 = 0


def new_canvas(path, title, author):
    c = canvas.Canvas(path, pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(title)
    c.setAuthor(author)
    c.setCreator("authenteq-export corpus/make-pdfs.py (reportlab)")
    return c


def utility_bill():
    c = new_canvas(os.path.join(FILES, "addressProofDocument.pdf"),
                   "Stromrechnung 2020-03", "Example Energie GmbH")
    w, h = A4
    c.setFillColor(colors.HexColor("#1f5f8b"))
    c.rect(0, h - 28 * mm, w, 28 * mm, stroke=0, fill=1)
    c.setFillColor(colors.white)
    c.setFont("Helvetica-Bold", 20)
    c.drawString(20 * mm, h - 17 * mm, "Example Energie GmbH")
    c.setFont("Helvetica", 9)
    c.drawString(20 * mm, h - 23 * mm, "Beispielweg 1 · 10117 Berlin · www.example.invalid")

    c.setFillColor(colors.black)
    c.setFont("Helvetica", 7)
    c.drawString(20 * mm, h - 45 * mm, "Example Energie GmbH · Beispielweg 1 · 10117 Berlin")
    c.setFont("Helvetica", 11)
    y = h - 52 * mm
    for line in ("Frau", "Jane Example Doe", "Musterstraße 12", "10115 Berlin"):
        c.drawString(20 * mm, y, line)
        y -= 5 * mm

    c.setFont("Helvetica", 9)
    info = [("Rechnungsdatum", "02.03.2020"), ("Kundennummer", "4711-0815-42"),
            ("Vertragskonto", "200 391 774"), ("Zählernummer", "1EMH0012345678")]
    y = h - 52 * mm
    for k, v in info:
        c.drawString(120 * mm, y, k)
        c.drawRightString(190 * mm, y, v)
        y -= 5 * mm

    c.setFont("Helvetica-Bold", 14)
    c.drawString(20 * mm, h - 85 * mm, "Stromrechnung für den Zeitraum 01.02.2020 – 29.02.2020")
    c.setFont("Helvetica", 10)
    c.drawString(20 * mm, h - 92 * mm,
                 "Lieferstelle: Musterstraße 12, 10115 Berlin")

    rows = [("Position", "Menge", "Preis", "Betrag"),
            ("Arbeitspreis", "212 kWh", "0,2890 €/kWh", "61,27 €"),
            ("Grundpreis", "29 Tage", "0,3920 €/Tag", "11,37 €"),
            ("Netzentgelt und Umlagen", "", "", "9,84 €"),
            ("Zwischensumme (netto)", "", "", "82,48 €"),
            ("Umsatzsteuer 19 %", "", "", "15,67 €"),
            ("Rechnungsbetrag", "", "", "98,15 €")]
    y = h - 105 * mm
    xs = (20 * mm, 100 * mm, 135 * mm)
    for i, r in enumerate(rows):
        bold = i in (0, len(rows) - 1)
        c.setFont("Helvetica-Bold" if bold else "Helvetica", 10)
        for x, cell in zip(xs, r[:3]):
            c.drawString(x, y, cell)
        c.drawRightString(190 * mm, y, r[3])
        if i in (0, len(rows) - 2):
            c.setStrokeColor(colors.grey)
            c.line(20 * mm, y - 2 * mm, 190 * mm, y - 2 * mm)
        y -= 7 * mm

    c.setFont("Helvetica", 9)
    text = c.beginText(20 * mm, y - 8 * mm)
    text.setLeading(12)
    for line in ("Der Rechnungsbetrag wird am 16.03.2020 von Ihrem Konto",
                 "DE00 0000 0000 0000 0000 00 abgebucht (SEPA-Lastschrift).",
                 "",
                 "Dies ist ein fiktives Dokument für Testzwecke. Person, Firma",
                 "und alle Nummern sind frei erfunden."):
        text.textLine(line)
    c.drawText(text)

    c.setFont("Helvetica", 7)
    c.setFillColor(colors.grey)
    c.drawString(20 * mm, 15 * mm,
                 "Example Energie GmbH · Amtsgericht Beispielstadt HRB 000000 · USt-IdNr. DE000000000")
    c.showPage()
    c.save()


def label(doc_type):
    return {"PP": "Passport", "DL": "Driving licence", "NID": "National identity card"}[doc_type]


def report():
    with open(os.path.join(HERE, "result.json"), encoding="utf-8") as f:
        r = json.load(f)
    c = new_canvas(os.path.join(HERE, "verification-result.pdf"),
                   "Identity verification " + r["id"], "Authenteq export sample")
    w, h = A4

    def header(page):
        c.setFillColor(colors.HexColor("#16324f"))
        c.rect(0, h - 22 * mm, w, 22 * mm, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont("Helvetica-Bold", 16)
        c.drawString(18 * mm, h - 14 * mm, "Identity verification result")
        c.setFont("Helvetica", 8)
        c.drawRightString(w - 18 * mm, h - 14 * mm, "Page %d of 2" % page)
        c.setFillColor(colors.black)

    def kv(x, y, pairs, keyw=42 * mm):
        for k, v in pairs:
            c.setFont("Helvetica", 9)
            c.setFillColor(colors.HexColor("#555555"))
            c.drawString(x, y, k)
            c.setFillColor(colors.black)
            c.setFont("Helvetica-Bold", 9)
            c.drawString(x + keyw, y, v if v else "—")
            y -= 5.2 * mm
        return y

    # Page 1: summary, liveness face, first document.
    header(1)
    y = kv(18 * mm, h - 34 * mm, [
        ("Verification ID", r["id"]),
        ("Platform", r["platform"]),
        ("Started", r["startTime"]),
        ("Finished", r["endTime"]),
        ("NFC verified", "yes" if r["nfcVerified"] else "no"),
        ("Documents", ", ".join(r[k]["documentType"] for k in
                                ("documentData", "documentData2", "documentData3") if k in r)),
    ])
    c.drawImage(os.path.join(FILES, "livenessFaceImage.jpeg"),
                w - 18 * mm - 30 * mm, h - 72 * mm, 30 * mm, 40 * mm)
    c.setFont("Helvetica", 7)
    c.drawCentredString(w - 33 * mm, h - 76 * mm, "Liveness face")

    def document(key, suffix, y):
        d = r[key]
        c.setFont("Helvetica-Bold", 12)
        c.drawString(18 * mm, y, "%s (%s, %s)" % (label(d["documentType"]),
                                                  d["documentType"], d["issuingCountry"]))
        c.setStrokeColor(colors.HexColor("#16324f"))
        c.line(18 * mm, y - 2 * mm, w - 18 * mm, y - 2 * mm)
        top = y - 8 * mm
        pairs = [("Document number", d["documentNumber"]),
                 ("Issuing country", d["issuingCountry"])]
        if "jurisdiction" in d:
            pairs.append(("Jurisdiction", d["jurisdiction"]))
        pairs += [("Nationality", d["nationality"]),
                  ("Surname and given names", d["surnameAndGivenNames"]),
                  ("Sex", d["sex"]),
                  ("Date of birth", d["dateOfBirth"]),
                  ("Date of issue", d["dateOfIssue"]),
                  ("Date of expiry", d["dateOfExpiry"])]
        if "address" in d:
            pairs.append(("Address", d["address"]))
        if "licenseClass" in d:
            pairs.append(("License classes", d["licenseClass"]))
        yy = kv(18 * mm, top, pairs)
        # Front and face only (no back images) to keep the file small.
        c.drawImage(os.path.join(FILES, "croppedFrontImage" + suffix + ".jpeg"),
                    118 * mm, top - 22 * mm, 40 * mm, 26 * mm)
        c.drawImage(os.path.join(FILES, "faceImage" + suffix + ".jpeg"),
                    162 * mm, top - 22 * mm, 19.5 * mm, 26 * mm)
        c.setFont("Helvetica", 7)
        c.drawCentredString(138 * mm, top - 26 * mm, "Front")
        c.drawCentredString(171.75 * mm, top - 26 * mm, "Face")
        for cls, det in d.get("licenseClassDetails", {}).items():
            c.setFont("Helvetica", 9)
            c.drawString(24 * mm, yy, "Class %-3s  %s to %s  %s" % (
                cls, det["from"], det["to"], ("notes: " + det["notes"]) if det["notes"] else ""))
            yy -= 5 * mm
        return min(yy, top - 30 * mm) - 8 * mm

    document("documentData", "", h - 88 * mm)
    c.showPage()

    header(2)
    y = document("documentData2", "2", h - 34 * mm)
    document("documentData3", "3", y)
    c.setFont("Helvetica", 7)
    c.setFillColor(colors.grey)
    c.drawString(18 * mm, 12 * mm, "Sample report for a fictitious person; all data is made up.")
    c.showPage()
    c.save()


if __name__ == "__main__":
    utility_bill()
    report()
