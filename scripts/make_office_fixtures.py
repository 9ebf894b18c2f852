#!/usr/bin/env python3
"""Office fixtures for issue 22: one German news article as .docx, .odt and .epub.

    /work/main/.venv/bin/python scripts/make_office_fixtures.py [OUTDIR]   (default tests/data/office)

Writes bericht.docx, bericht.odt, bericht.epub and sentences.txt. The output is deterministic
(fixed dates, ids, file names and zip timestamps), so a rerun with the pinned packages of
scripts/requirements.txt gives byte-identical files; the committed fixtures are what the tests use.

The three files hold the same article, and every line of sentences.txt is visible text in each of
them (body, heading, list, table cell, header, footer, footnote, endnote, text box / sidebar,
caption). sentences.txt lists what a translation must change; it leaves out the text that must stay
German: the editor's comment, the tracked deletion, the image's alt text, the EPUB nav heading.

python-docx and odfpy write the bulk of the packages; what they lack is written as XML here:
footnotes, endnotes, tracked changes, bookmarks, fields, the text box (mc:AlternateContent with a
DrawingML shape in mc:Choice and the VML copy in mc:Fallback), language tags; the EPUB is written
with zipfile by hand.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import sys
import zipfile
import zlib
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from xml.sax.saxutils import escape

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from docx.shared import Cm, Pt, RGBColor
from lxml import etree
from odf import config, dc, draw, meta, office, style, svg, table, text
from odf.namespaces import XMLNS
from odf.opendocument import IS_IMAGE, OpenDocumentText
from odf.opendocument import load as load_odf

# ---------------------------------------------------------------------------------------------
# The article. Every constant below except COMMENT, DELETED and ALT_TEXT goes into sentences.txt.

TITLE = "Bundestag beschließt schnelleren Ausbau der Windenergie"
HEADER = "Nachrichten aus der Hauptstadt"
FOOTER = "Alle Rechte vorbehalten."
BYLINE = "Von unserer Korrespondentin Anna Schmidt"
LEAD_1 = "Die Bundesregierung hat am Montag ein neues Gesetz zum Ausbau der Windenergie beschlossen."
FOOTNOTE = "Das Gesetz muss noch vom Bundesrat gebilligt werden."
LEAD_2 = "Künftig sollen Genehmigungsverfahren für neue Anlagen deutlich schneller abgeschlossen werden."
H_PLAN = "Was das Gesetz vorsieht"
PLAN_1 = (
    "Nach Angaben des Wirtschaftsministeriums sollen bis zum Jahr 2030 rund zwei Prozent der "
    "Landesfläche für Windräder bereitgestellt werden."
)
# Tracked change inside this sentence: "Herbst" deleted, "Frühjahr" inserted.
PLAN_2 = "Die Länder müssen dafür eigene Flächenpläne vorlegen, die im Frühjahr geprüft werden."
LINK = "Der vollständige Gesetzestext ist auf der Website des Bundestages veröffentlicht worden."
CRITICS = "Kritik kam vor allem von Umweltverbänden, die einen besseren Schutz von Vögeln fordern."
LIST_INTRO = "Das Gesetz enthält drei zentrale Punkte:"
BULLETS = [
    "Genehmigungen sollen innerhalb von sechs Monaten erteilt werden.",
    "Gemeinden erhalten eine Beteiligung an den Erträgen der Anlagen.",
    "Der Mindestabstand zu Wohngebäuden wird bundesweit einheitlich geregelt.",
]
H_VOICES = "Stimmen aus der Opposition"
QUOTE = [
    "„Dieses Gesetz kommt viel zu spät.",
    "Wir haben wertvolle Jahre verloren, in denen wir längst hätten handeln müssen.",
    "Trotzdem werden wir heute zustimmen“, sagte die Abgeordnete Maria Weber im Plenum.",
]
TABLE = [
    ["Befürworter", "Kritiker"],
    ["Die Regierung erwartet sinkende Strompreise.", "Die Opposition rechnet mit höheren Kosten."],
    ["Die Industrie begrüßt die schnelleren Verfahren.", "Naturschützer kündigen bereits Klagen an."],
]
BOX_HEAD = "Hintergrund"
BOX = [
    "Im vergangenen Jahr wurden in Deutschland nur 550 neue Windräder gebaut.",
    "Das ist der niedrigste Wert seit zwei Jahrzehnten.",
]
H_NEXT = "Wie es weitergeht"
NEXT_1 = "Der Bundesrat wird sich voraussichtlich im Januar mit dem Gesetz befassen."
ENDNOTE = "Die Sitzung der Länderkammer ist für den 23. Januar geplant."
NEXT_2 = "Sollte die Länderkammer zustimmen, könnte das Gesetz bereits im Frühjahr in Kraft treten."
INSERTED = "Die Regierung rechnet mit einer breiten Mehrheit."  # a whole tracked insertion
CAPTION = "Ein Windpark in Brandenburg am frühen Morgen."

# Kept German by a translation: not in sentences.txt.
COMMENT = "Bitte die Namen der Verbände ergänzen."  # the editor's note (comments.xml, annotation)
DELETED = "Eine Verlängerung der Frist gilt als ausgeschlossen."  # a whole tracked deletion
DELETED_WORD = "Herbst"  # the deletion inside PLAN_2
ALT_TEXT = "Symbolbild eines Windparks"  # the image's description, not shown on the page
NAV_HEADING = "Inhaltsverzeichnis"  # EPUB nav document only

DATELINE_PLACE = "Berlin"
DATELINE_DATE = "5. Dezember 2026"
URL = "https://www.bundestag.de/"
AUTHOR = "Redaktion"
WHEN = dt.datetime(2026, 12, 1, 9, 0, 0)
ZIP_TIME = (2026, 12, 1, 9, 0, 0)


def sentences() -> list[str]:
    """The text a translation must change, in document order (header and footer first)."""
    return [
        HEADER,
        TITLE,
        BYLINE,
        LEAD_1,
        LEAD_2,
        H_PLAN,
        PLAN_1,
        PLAN_2,
        LINK,
        CRITICS,
        LIST_INTRO,
        *BULLETS,
        H_VOICES,
        *QUOTE,
        *[cell for row in TABLE for cell in row],
        BOX_HEAD,
        *BOX,
        H_NEXT,
        NEXT_1,
        NEXT_2,
        INSERTED,
        CAPTION,
        FOOTNOTE,
        ENDNOTE,
        FOOTER,
    ]


def split_on(sentence: str, *pieces: str) -> list[str]:
    """`sentence` cut around `pieces` (in order): [before, piece1, between, piece2, after]."""
    out, rest = [], sentence
    for piece in pieces:
        head, sep, rest = rest.partition(piece)
        assert sep, f"{piece!r} not in {sentence!r}"
        out += [head, piece]
    return out + [rest]


# ---------------------------------------------------------------------------------------------
# A small PNG: a wind turbine on a green field under a blue sky, drawn pixel by pixel.


def png_image(width: int = 120, height: int = 60) -> bytes:
    def pixel(x: int, y: int) -> tuple[int, int, int]:
        hub_x, hub_y = 60, 20
        if y >= 48:
            return (70, 140, 60)  # field
        if abs(x - hub_x) <= 1 and y >= hub_y:
            return (245, 245, 245)  # tower
        dx, dy = x - hub_x, y - hub_y
        # three blades: up, lower left, lower right
        if (abs(dx) <= 1 and -16 <= dy <= 0) or (
            0 <= dy <= 8 and abs(dx) <= 14 and abs(abs(dx) * 0.57 - dy) <= 1.0
        ):
            return (255, 255, 255)
        return (110, 170, 225 - y)  # sky, darker towards the top

    raw = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------
# Deterministic zip writing: fixed timestamps and attributes, entries in the order given.


def write_zip(path: Path, entries: list[tuple[str, bytes]], stored: tuple[str, ...] = ()) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system = 3  # Unix, whatever the host
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9 if name not in stored else None)
    path.write_bytes(buf.getvalue())


def rezip(data: bytes, path: Path, stored: tuple[str, ...] = ()) -> None:
    """Rewrites a package written by a library (its zip has the current time) deterministically."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = [(info.filename, zf.read(info)) for info in zf.infolist()]
    write_zip(path, entries, stored)


# ---------------------------------------------------------------------------------------------
# DOCX

NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "wps": "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "v": "urn:schemas-microsoft-com:vml",
    "o": "urn:schemas-microsoft-com:office:office",
    "w10": "urn:schemas-microsoft-com:office:word",
}
NSDECL = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
W = "{%s}" % NS["w"]
DATE = WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")


def t(text: str, tag: str = "w:t") -> str:
    # xml:space only where Word writes it: text with leading or trailing blanks.
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<{tag}{space}>{escape(text)}</{tag}>"


def run(text: str, *, b=False, i=False, u=False, style: str | None = None, lang=False) -> str:
    rpr = ""
    if style:
        rpr += f'<w:rStyle w:val="{style}"/>'
    if b:
        rpr += "<w:b/><w:bCs/>"
    if i:
        rpr += "<w:i/><w:iCs/>"
    if u:
        rpr += '<w:u w:val="single"/>'
    if lang:
        rpr += '<w:lang w:val="de-DE"/>'
    rpr = f"<w:rPr>{rpr}</w:rPr>" if rpr else ""
    return f"<w:r>{rpr}{t(text)}</w:r>"


def fill(paragraph, xml: str) -> None:
    """Appends the runs (and other inline content) in `xml` to a python-docx paragraph."""
    holder = parse_xml(f"<w:p {NSDECL}>{xml}</w:p>")
    for child in list(holder):
        paragraph._p.append(child)


def note_ref(kind: str, note_id: int) -> str:
    style = "FootnoteReference" if kind == "footnote" else "EndnoteReference"
    return f'<w:r><w:rPr><w:rStyle w:val="{style}"/></w:rPr><w:{kind}Reference w:id="{note_id}"/></w:r>'


def notes_part(kind: str, text: str) -> bytes:
    """word/footnotes.xml or word/endnotes.xml: Word's two separators and one note (id 1)."""
    cap = kind.capitalize()
    sep = (
        '<w:{k} w:type="{typ}" w:id="{id}"><w:p><w:pPr><w:spacing w:after="0" w:line="240" '
        'w:lineRule="auto"/></w:pPr><w:r><w:{el}/></w:r></w:p></w:{k}>'
    )
    body = (
        sep.format(k=kind, typ="separator", id=-1, el="separator")
        + sep.format(k=kind, typ="continuationSeparator", id=0, el="continuationSeparator")
        + f'<w:{kind} w:id="1"><w:p><w:pPr><w:pStyle w:val="{cap}Text"/></w:pPr>'
        f'<w:r><w:rPr><w:rStyle w:val="{cap}Reference"/></w:rPr><w:{kind}Ref/></w:r>'
        f"{run(' ' + text)}</w:p></w:{kind}>"
    )
    xml = f'<w:{kind}s xmlns:w="{NS["w"]}" xmlns:r="{NS["r"]}">{body}</w:{kind}s>'
    return b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n" + xml.encode()


def text_box(paragraph_xml: str) -> str:
    """A Word 2010 text box: DrawingML shape for current Word, VML copy for older readers."""
    cx, cy = 5486400, 1005840  # 15.24 cm x 2.79 cm
    return f"""<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing>
<wp:anchor distT="45720" distB="45720" distL="114300" distR="114300" simplePos="0"
 relativeHeight="251659264" behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1">
<wp:simplePos x="0" y="0"/>
<wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH>
<wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV>
<wp:extent cx="{cx}" cy="{cy}"/><wp:effectExtent l="0" t="0" r="0" b="0"/><wp:wrapTopAndBottom/>
<wp:docPr id="100" name="Textfeld 1"/><wp:cNvGraphicFramePr/>
<a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">
<wps:wsp><wps:cNvSpPr txBox="1"/><wps:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{cx}" cy="{cy}"/></a:xfrm>
<a:prstGeom prst="rect"><a:avLst/></a:prstGeom><a:solidFill><a:srgbClr val="EEF3F8"/></a:solidFill>
<a:ln w="6350"><a:solidFill><a:srgbClr val="4F81BD"/></a:solidFill></a:ln></wps:spPr>
<wps:txbx><w:txbxContent>{paragraph_xml}</w:txbxContent></wps:txbx>
<wps:bodyPr rot="0" vert="horz" wrap="square" lIns="91440" tIns="45720" rIns="91440" bIns="45720"
 anchor="t" anchorCtr="0"><a:spAutoFit/></wps:bodyPr></wps:wsp></a:graphicData></a:graphic>
</wp:anchor></w:drawing></mc:Choice>
<mc:Fallback><w:pict>
<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe">
<v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>
<v:shape id="Textfeld 1" o:spid="_x0000_s1026" type="#_x0000_t202"
 style="position:absolute;margin-left:0;margin-top:0;width:432pt;height:79.2pt;z-index:251659264;mso-wrap-style:square;mso-position-horizontal-relative:text;mso-position-vertical-relative:text;mso-fit-shape-to-text:t"
 fillcolor="#eef3f8" strokecolor="#4f81bd" strokeweight=".5pt">
<v:textbox style="mso-fit-shape-to-text:t"><w:txbxContent>{paragraph_xml}</w:txbxContent></v:textbox>
<w10:wrap type="topAndBottom"/></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"""


def add_char_style(doc, name: str, *, superscript=False, color=None, underline=False) -> None:
    style = doc.styles.add_style(name, WD_STYLE_TYPE.CHARACTER)
    style.font.superscript = superscript or None
    if color:
        style.font.color.rgb = RGBColor.from_string(color)
    style.font.underline = underline or None


def add_para_style(doc, name: str, size_pt: float) -> None:
    style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles["Normal"]
    style.font.size = Pt(size_pt)
    style.paragraph_format.space_after = Pt(0)


def set_languages(doc) -> None:
    """de-DE as the default language (styles.xml, stylesWithEffects.xml, settings.xml)."""
    for lang in doc.styles.element.iter(W + "lang"):
        lang.set(W + "val", "de-DE")
    for part in doc.part.package.iter_parts():
        if str(part.partname) == "/word/stylesWithEffects.xml":
            part._blob = part.blob.replace(b'<w:lang w:val="en-US"', b'<w:lang w:val="de-DE"')
    settings = doc.settings.element
    for lang in settings.iter(W + "themeFontLang"):
        lang.set(W + "val", "de-DE")
    # Show the final text, not the change markup: Word and LibreOffice then print the visible
    # text only, so a PDF of the document has each sentence whole. revisionView sits right
    # after these elements in CT_Settings' sequence.
    before = {
        "writeProtection", "view", "zoom", "removePersonalInformation", "removeDateAndTime",
        "doNotDisplayPageBoundaries", "displayBackgroundShape", "printPostScriptOverText",
        "printFractionalCharacterWidth", "printFormsData", "embedTrueTypeFonts",
        "embedSystemFonts", "saveSubsetFonts", "saveFormsData", "mirrorMargins",
        "alignBordersAndEdges", "bordersDoNotSurroundHeader", "bordersDoNotSurroundFooter",
        "gutterAtTop", "hideSpellingErrors", "hideGrammaticalErrors", "activeWritingStyle",
        "proofState", "formsDesign", "attachedTemplate", "linkStyles", "stylePaneFormatFilter",
        "stylePaneSortMethod", "documentType", "mailMerge",
    }  # fmt: skip
    index = 0
    for n, child in enumerate(settings):
        if etree.QName(child).localname in before:
            index = n + 1
    settings.insert(index, parse_xml(f'<w:revisionView xmlns:w="{NS["w"]}" w:markup="0" w:insDel="0"/>'))


def add_part(doc, partname: str, content_type: str, reltype: str, blob: bytes) -> None:
    part = Part(PackURI(partname), content_type, blob, doc.part.package)
    doc.part.relate_to(part, reltype)


def docx_header_footer(section) -> None:
    """Header: one sentence. Footer: a sentence, a tab, "Seite", a PAGE field (complex field),
    "von" and a NUMPAGES field (simple field)."""
    fill(section.header.paragraphs[0], run(HEADER, i=True))
    fill(
        section.footer.paragraphs[0],
        run(FOOTER)
        + "<w:r><w:tab/></w:r>"
        + run("Seite ")
        + '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        + '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        + '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        + run("1")
        + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        + run(" von ")
        + f'<w:fldSimple w:instr=" NUMPAGES ">{run("3")}</w:fldSimple>',
    )


def make_docx(path: Path, image: bytes) -> None:
    doc = docx.Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)  # A4
    section.left_margin = section.right_margin = Cm(2.5)
    set_languages(doc)
    add_char_style(doc, "Footnote Reference", superscript=True)
    add_char_style(doc, "Endnote Reference", superscript=True)
    add_char_style(doc, "Hyperlink", color="0563C1", underline=True)
    add_para_style(doc, "Footnote Text", 9)
    add_para_style(doc, "Endnote Text", 9)

    core = doc.core_properties
    core.title, core.author, core.last_modified_by = TITLE, AUTHOR, AUTHOR
    core.language, core.subject, core.comments = "de-DE", "Politik", ""
    core.created = core.modified = WHEN
    core.revision = 1

    docx_header_footer(section)

    doc.add_heading(TITLE, level=0)
    # Dateline: a tab and a line break inside one paragraph.
    fill(
        doc.add_paragraph(),
        run(DATELINE_PLACE, b=True)
        + "<w:r><w:tab/></w:r>"
        + run(DATELINE_DATE)
        + "<w:r><w:br/></w:r>"
        + run(BYLINE, i=True),
    )
    # Lead: bold and italic runs inside sentences, a footnote reference after the first one.
    a, bold, b = split_on(LEAD_1, "am Montag")
    c, ital, d = split_on(LEAD_2, "deutlich schneller")
    fill(
        doc.add_paragraph(),
        run(a, lang=True)
        + run(bold, b=True, lang=True)
        + run(b, lang=True)
        + note_ref("footnote", 1)
        + run(" " + c)
        + run(ital, i=True)
        + run(d),
    )

    doc.add_heading(H_PLAN, level=1)
    # Underline inside one sentence; a tracked replacement inside the next.
    a, under, b = split_on(PLAN_1, "zwei Prozent")
    c, new, d = split_on(PLAN_2, "Frühjahr")
    fill(
        doc.add_paragraph(),
        run(a)
        + run(under, u=True)
        + run(b + " " + c)
        + f'<w:del w:id="201" w:author="{AUTHOR}" w:date="{DATE}"><w:r>{t(DELETED_WORD, "w:delText")}</w:r></w:del>'
        + f'<w:ins w:id="202" w:author="{AUTHOR}" w:date="{DATE}">{run(new)}</w:ins>'
        + run(d),
    )
    # A hyperlink inside a sentence, and a bookmark that starts in one run and ends after the
    # link (it spans a bold run, a plain run and the hyperlink).
    rid = doc.part.relate_to(URL, RT.HYPERLINK, is_external=True)
    a, strong, b, link, c = split_on(LINK, "vollständige", "Website des Bundestages")
    fill(
        doc.add_paragraph(),
        run(a)
        + '<w:bookmarkStart w:id="301" w:name="Gesetzestext"/>'
        + run(strong, b=True)
        + run(b)
        + f'<w:hyperlink r:id="{rid}" w:history="1">{run(link, style="Hyperlink")}</w:hyperlink>'
        + '<w:bookmarkEnd w:id="301"/>'
        + run(c),
    )
    # A comment anchored on one word (python-docx writes word/comments.xml).
    a, word, b = split_on(CRITICS, "Umweltverbänden")
    critics = doc.add_paragraph()
    fill(critics, run(a) + run(word) + run(b))
    comment = doc.add_comment(critics.runs[1], text=COMMENT, author=AUTHOR, initials="R")
    comment._comment_elm.date = WHEN

    doc.add_paragraph(LIST_INTRO)
    for n, bullet in enumerate(BULLETS):
        if n == 0:
            a, bold, b = split_on(bullet, "sechs Monaten")
            fill(doc.add_paragraph(style="List Bullet"), run(a) + run(bold, b=True) + run(b))
        else:
            doc.add_paragraph(bullet, style="List Bullet")

    doc.add_heading(H_VOICES, level=1)
    # A quotation of three sentences in one paragraph, an italic run inside the second.
    a, ital, b = split_on(QUOTE[1], "wertvolle Jahre")
    fill(
        doc.add_paragraph(style="Quote"),
        run(QUOTE[0] + " " + a) + run(ital, i=True) + run(b + " " + QUOTE[2]),
    )

    grid = doc.add_table(rows=len(TABLE), cols=2, style="Table Grid")
    for r, row in enumerate(TABLE):
        for c, cell_text in enumerate(row):
            fill(grid.cell(r, c).paragraphs[0], run(cell_text, b=(r == 0)))

    # The text box sits in its own paragraph; inside it a bold heading, a line break, two sentences.
    box = f"<w:p>{run(BOX_HEAD, b=True)}<w:r><w:br/></w:r>{run(' '.join(BOX))}</w:p>"
    fill(doc.add_paragraph(), text_box(box))

    doc.add_heading(H_NEXT, level=1)
    # An endnote reference; a whole sentence deleted and one inserted as tracked changes.
    fill(
        doc.add_paragraph(),
        run(NEXT_1)
        + note_ref("endnote", 1)
        + run(" " + NEXT_2 + " ")
        + f'<w:del w:id="203" w:author="{AUTHOR}" w:date="{DATE}"><w:r>{t(DELETED + " ", "w:delText")}</w:r></w:del>'
        + f'<w:ins w:id="204" w:author="{AUTHOR}" w:date="{DATE}">{run(INSERTED)}</w:ins>',
    )

    doc.add_picture(io.BytesIO(image), width=Cm(8))
    inline = doc.paragraphs[-1]._p.xpath(".//wp:docPr")[0]
    inline.set("descr", ALT_TEXT)
    doc.add_paragraph(CAPTION, style="Caption")

    add_part(doc, "/word/footnotes.xml", CT.WML_FOOTNOTES, RT.FOOTNOTES, notes_part("footnote", FOOTNOTE))
    add_part(doc, "/word/endnotes.xml", CT.WML_ENDNOTES, RT.ENDNOTES, notes_part("endnote", ENDNOTE))

    # Drop the declarations the snippets above carried in, but keep every one on a part's root:
    # mc:Ignorable="w14 wp14" names prefixes that no element uses, and Word refuses a document
    # whose Ignorable names an undeclared prefix.
    for root in (doc.element, doc.settings.element, section.header._element, section.footer._element):
        etree.cleanup_namespaces(root, keep_ns_prefixes=list(root.nsmap))
    buf = io.BytesIO()
    doc.save(buf)
    rezip(buf.getvalue(), path)


# ---------------------------------------------------------------------------------------------
# ODT


ODT_WHEN = WHEN.strftime("%Y-%m-%dT%H:%M:%S")


def odt_paragraph_style(doc, name, display, size=None, bold=False, italic=False, outline=None,
                        margin="0.2cm", **extra):
    s = style.Style(name=name, displayname=display, family="paragraph", **extra)
    if outline:
        s.setAttribute("defaultoutlinelevel", str(outline))
    s.addElement(style.ParagraphProperties(marginbottom=margin, margintop="0cm"))
    props = {}
    if size:
        props["fontsize"] = size
    if bold:
        props["fontweight"] = "bold"
    if italic:
        props["fontstyle"] = "italic"
    if props:
        s.addElement(style.TextProperties(**props))
    doc.styles.addElement(s)
    return s


def odt_common_styles(doc) -> SimpleNamespace:
    """styles.xml: German as every paragraph's language, the paragraph styles, the link style."""
    default = style.DefaultStyle(family="paragraph")
    default.addElement(style.TextProperties(language="de", country="DE", fontsize="11pt"))
    doc.styles.addElement(default)
    ps = partial(odt_paragraph_style, doc)
    st = SimpleNamespace()
    st.standard = ps("Standard", "Standard", margin="0cm")
    st.body = ps("Text_20_body", "Text body", parentstylename=st.standard)
    st.title = ps("Title", "Title", size="22pt", bold=True, parentstylename=st.standard)
    st.h1 = ps("Heading_20_1", "Heading 1", size="15pt", bold=True, outline=1, parentstylename=st.standard)
    st.quote = ps("Quotations", "Quotations", italic=True, parentstylename=st.body)
    st.quote.addElement(style.ParagraphProperties(marginleft="1cm", marginright="1cm"))
    st.list = ps("List_20_Bullet", "List Bullet", parentstylename=st.body)
    st.caption = ps("Caption", "Caption", size="9pt", italic=True, parentstylename=st.standard)
    st.foot = ps("Footnote", "Footnote", size="9pt", parentstylename=st.standard, margin="0cm")
    st.end = ps("Endnote", "Endnote", size="9pt", parentstylename=st.standard, margin="0cm")
    st.header = ps("Header", "Header", italic=True, parentstylename=st.standard)
    st.footer = ps("Footer", "Footer", size="9pt", parentstylename=st.standard)
    st.frame = ps("Frame_20_contents", "Frame contents", parentstylename=st.standard, margin="0cm")
    st.link = style.Style(name="Internet_20_link", displayname="Internet link", family="text")
    st.link.addElement(style.TextProperties(color="#0563c1", textunderlinestyle="solid",
                                            textunderlinewidth="auto", textunderlinecolor="font-color"))
    doc.styles.addElement(st.link)
    return st


def odt_master_page(doc, st: SimpleNamespace) -> None:
    """A4; the header and footer live on the master page in styles.xml. The footer has a sentence,
    a tab, and page-number and page-count fields."""
    layout = style.PageLayout(name="pm1")
    layout.addElement(style.PageLayoutProperties(pagewidth="21cm", pageheight="29.7cm",
                                                 margintop="2cm", marginbottom="2cm",
                                                 marginleft="2.5cm", marginright="2.5cm"))
    hs = style.HeaderStyle()
    hs.addElement(style.HeaderFooterProperties(minheight="0.6cm", marginbottom="0.4cm"))
    layout.addElement(hs)
    fs = style.FooterStyle()
    fs.addElement(style.HeaderFooterProperties(minheight="0.6cm", margintop="0.4cm"))
    layout.addElement(fs)
    doc.automaticstyles.addElement(layout)
    master = style.MasterPage(name="Standard", pagelayoutname=layout)
    header = style.Header()
    header.addElement(text.P(stylename=st.header, text=HEADER))
    master.addElement(header)
    footer = style.Footer()
    fp = text.P(stylename=st.footer, text=FOOTER)
    fp.addElement(text.Tab())
    fp.addText("Seite ")
    fp.addElement(text.PageNumber(selectpage="current", text="1"))
    fp.addText(" von ")
    fp.addElement(text.PageCount(text="3"))
    footer.addElement(fp)
    master.addElement(footer)
    doc.masterstyles.addElement(master)


def odt_automatic_styles(doc, st: SimpleNamespace) -> None:
    """content.xml's automatic styles: inline formatting, the list, the table, the two frames."""

    def auto(name, family, props):
        s = style.Style(name=name, family=family)
        s.addElement(props)
        doc.automaticstyles.addElement(s)
        return s

    st.bold = auto("T1", "text", style.TextProperties(fontweight="bold"))
    st.italic = auto("T2", "text", style.TextProperties(fontstyle="italic"))
    st.under = auto("T3", "text", style.TextProperties(textunderlinestyle="solid", textunderlinewidth="auto",
                                                       textunderlinecolor="font-color"))
    st.bullets = text.ListStyle(name="L1")
    level = text.ListLevelStyleBullet(level=1, bulletchar="•")
    level.addElement(style.ListLevelProperties(spacebefore="0.4cm", minlabelwidth="0.6cm"))
    st.bullets.addElement(level)
    doc.automaticstyles.addElement(st.bullets)
    st.table = auto("Tabelle1", "table", style.TableProperties(width="16cm", align="margins"))
    st.column = auto("Tabelle1.A", "table-column", style.TableColumnProperties(columnwidth="8cm"))
    st.cell = auto("Tabelle1.A1", "table-cell",
                   style.TableCellProperties(border="0.5pt solid #000000", padding="0.1cm"))
    st.box = auto("fr1", "graphic", style.GraphicProperties(
        wrap="none", verticalpos="top", verticalrel="paragraph", horizontalpos="center",
        horizontalrel="paragraph", border="0.5pt solid #4f81bd", backgroundcolor="#eef3f8",
        fill="solid", fillcolor="#eef3f8", padding="0.15cm"))
    st.image = auto("fr2", "graphic", style.GraphicProperties(verticalpos="top", verticalrel="baseline"))


def odt_para(parent, stylename, *pieces):
    """pieces: str (plain text), (str, text style) for a span, or an odf element."""
    p = text.P(stylename=stylename)
    for piece in pieces:
        if isinstance(piece, str):
            p.addText(piece)
        elif isinstance(piece, tuple):
            p.addElement(text.Span(stylename=piece[1], text=piece[0]))
        else:
            p.addElement(piece)
    parent.addElement(p)
    return p


def odt_note(kind, n, citation, body_text, body_style):
    el = text.Note(id=f"{kind[:2]}n{n}", noteclass=kind)
    el.addElement(text.NoteCitation(text=citation))
    nb = text.NoteBody()
    nb.addElement(text.P(stylename=body_style, text=body_text))
    el.addElement(nb)
    return el


def odt_tracked_changes(st: SimpleNamespace):
    """office:text's first child: ct1 and ct3 delete, ct2 and ct4 insert."""
    tracked = text.TrackedChanges(trackchanges="false")
    for cid, deleted in [("ct1", DELETED_WORD), ("ct2", None), ("ct3", DELETED + " "), ("ct4", None)]:
        # xml:id is what ODF 1.2 requires; text:id is what older readers look for.
        region = text.ChangedRegion(id=cid, qattributes={(XMLNS, "id"): cid})
        el = text.Deletion() if deleted else text.Insertion()
        info = office.ChangeInfo()
        info.addElement(dc.Creator(text=AUTHOR))
        info.addElement(dc.Date(text=ODT_WHEN))
        el.addElement(info)
        if deleted:
            el.addElement(text.P(stylename=st.body, text=deleted))
        region.addElement(el)
        tracked.addElement(region)
    return tracked


def odt_first_half(body, st: SimpleNamespace) -> None:
    """Title to the list, in the docx's order."""
    odt_para(body, st.title, TITLE)
    odt_para(body, st.body, (DATELINE_PLACE, st.bold), text.Tab(), DATELINE_DATE, text.LineBreak(),
             (BYLINE, st.italic))
    a, b_, b = split_on(LEAD_1, "am Montag")
    c, i_, d = split_on(LEAD_2, "deutlich schneller")
    odt_para(body, st.body, a, (b_, st.bold), b, odt_note("footnote", 1, "1", FOOTNOTE, st.foot),
             " " + c, (i_, st.italic), d)

    body.addElement(text.H(outlinelevel=1, stylename=st.h1, text=H_PLAN))
    a, u_, b = split_on(PLAN_1, "zwei Prozent")
    c, new, d = split_on(PLAN_2, "Frühjahr")
    odt_para(body, st.body, a, (u_, st.under), b + " " + c, text.Change(changeid="ct1"),
             text.ChangeStart(changeid="ct2"), new, text.ChangeEnd(changeid="ct2"), d)
    a, strong, b, link, c = split_on(LINK, "vollständige", "Website des Bundestages")
    anchor = text.A(href=URL, type="simple", stylename=st.link, visitedstylename=st.link, text=link)
    odt_para(body, st.body, a, text.BookmarkStart(name="Gesetzestext"), (strong, st.bold), b, anchor,
             text.BookmarkEnd(name="Gesetzestext"), c)
    a, word, b = split_on(CRITICS, "Umweltverbänden")
    ann = office.Annotation(name="Kommentar1")
    ann.addElement(dc.Creator(text=AUTHOR))
    ann.addElement(dc.Date(text=ODT_WHEN))
    ann.addElement(text.P(text=COMMENT))
    odt_para(body, st.body, a, ann, word, office.AnnotationEnd(name="Kommentar1"), b)

    odt_para(body, st.body, LIST_INTRO)
    lst = text.List(stylename=st.bullets)
    for n, bullet in enumerate(BULLETS):
        item = text.ListItem()
        if n == 0:
            a, b_, b = split_on(bullet, "sechs Monaten")
            odt_para(item, st.list, a, (b_, st.bold), b)
        else:
            odt_para(item, st.list, bullet)
        lst.addElement(item)
    body.addElement(lst)


def odt_second_half(doc, body, st: SimpleNamespace, image: bytes) -> None:
    """The quotation to the caption."""
    body.addElement(text.H(outlinelevel=1, stylename=st.h1, text=H_VOICES))
    a, i_, b = split_on(QUOTE[1], "wertvolle Jahre")
    odt_para(body, st.quote, QUOTE[0] + " " + a, (i_, st.italic), b + " " + QUOTE[2])

    tbl = table.Table(name="Tabelle1", stylename=st.table)
    tbl.addElement(table.TableColumn(numbercolumnsrepeated=2, stylename=st.column))
    for r, row in enumerate(TABLE):
        tr = table.TableRow()
        for cell_text in row:
            cell = table.TableCell(stylename=st.cell, valuetype="string")
            odt_para(cell, st.body, (cell_text, st.bold) if r == 0 else cell_text)
            tr.addElement(cell)
        tbl.addElement(tr)
    body.addElement(tbl)

    frame = draw.Frame(stylename=st.box, name="Textfeld 1", anchortype="paragraph", width="16cm", zindex="0")
    box = draw.TextBox(minheight="1.5cm")
    odt_para(box, st.frame, (BOX_HEAD, st.bold), text.LineBreak(), " ".join(BOX))
    frame.addElement(box)
    odt_para(body, st.body, frame)

    body.addElement(text.H(outlinelevel=1, stylename=st.h1, text=H_NEXT))
    odt_para(body, st.body, NEXT_1, odt_note("endnote", 1, "i", ENDNOTE, st.end), " " + NEXT_2 + " ",
             text.Change(changeid="ct3"), text.ChangeStart(changeid="ct4"), INSERTED,
             text.ChangeEnd(changeid="ct4"))

    href = "Pictures/windpark.png"
    doc.Pictures[href] = (IS_IMAGE, image, "image/png")  # a fixed name: addPicture's is random
    img = draw.Frame(stylename=st.image, name="Bild 1", anchortype="as-char", width="8cm", height="4cm")
    img.addElement(draw.Image(href=href, type="simple", show="embed", actuate="onLoad"))
    img.addElement(svg.Desc(text=ALT_TEXT))
    odt_para(body, st.standard, img)
    odt_para(body, st.caption, CAPTION)


def make_odt(path: Path, image: bytes) -> None:
    doc = OpenDocumentText()
    doc.meta.addElement(dc.Title(text=TITLE))
    doc.meta.addElement(dc.Language(text="de-DE"))
    doc.meta.addElement(dc.Creator(text=AUTHOR))
    doc.meta.addElement(dc.Date(text=ODT_WHEN))
    doc.meta.addElement(meta.InitialCreator(text=AUTHOR))
    doc.meta.addElement(meta.CreationDate(text=ODT_WHEN))
    # Show the final text, not the change markup (see set_languages for the docx twin).
    view = config.ConfigItemSet(name="ooo:view-settings")
    view.addElement(config.ConfigItem(name="ShowRedlineChanges", type="boolean", text="false"))
    doc.settings.addElement(view)

    st = odt_common_styles(doc)
    odt_master_page(doc, st)
    odt_automatic_styles(doc, st)
    doc.text.addElement(odt_tracked_changes(st))
    odt_first_half(doc.text, st)
    odt_second_half(doc, doc.text, st, image)

    buf = io.BytesIO()
    doc.write(buf)
    rezip(buf.getvalue(), path, stored=("mimetype",))


# ---------------------------------------------------------------------------------------------
# EPUB 3 (with an EPUB 2 toc.ncx), written by hand.

XHTML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="de" lang="de">
<head>
<meta charset="UTF-8"/>
<title>{title}</title>
<link rel="stylesheet" type="text/css" href="style.css"/>
</head>
<body>
"""
PAGE_HEADER = f'<header class="kopfzeile"><p>{HEADER}</p></header>\n'
PAGE_FOOTER = f'<footer class="fusszeile"><p>{FOOTER}</p></footer>\n'


def wrap(text_: str, piece: str, tag: str) -> str:
    return text_.replace(piece, f"<{tag}>{piece}</{tag}>", 1)


def epub_chapter1() -> str:
    lead_1 = wrap(LEAD_1, "am Montag", "strong")
    lead_2 = wrap(LEAD_2, "deutlich schneller", "em")
    link = wrap(LINK, "vollständige", "strong").replace(
        "Website des Bundestages", f'<a href="{URL}">Website des Bundestages</a>'
    )
    bullets = "\n".join(
        f"<li>{wrap(b, 'sechs Monaten', 'strong') if n == 0 else b}</li>" for n, b in enumerate(BULLETS)
    )
    return (
        XHTML_HEAD.format(title=TITLE)
        + PAGE_HEADER
        + f"""<section epub:type="chapter" id="bericht">
<h1>{TITLE}</h1>
<p class="ortsmarke"><strong>{DATELINE_PLACE}</strong>, {DATELINE_DATE}<br/><em>{BYLINE}</em></p>
<p>{lead_1}<a epub:type="noteref" href="#fn1" id="fnref1">1</a> {lead_2}</p>
<h2 id="vorsieht">{H_PLAN}</h2>
<p>{wrap(PLAN_1, "zwei Prozent", "u")} {PLAN_2}</p>
<p>{link}</p>
<p>{CRITICS}</p>
<p>{LIST_INTRO}</p>
<ul>
{bullets}
</ul>
<aside epub:type="footnote" id="fn1"><p><a href="#fnref1">1</a> {FOOTNOTE}</p></aside>
</section>
"""
        + PAGE_FOOTER
        + "</body>\n</html>\n"
    )


def epub_chapter2() -> str:
    quote = f"{QUOTE[0]} {wrap(QUOTE[1], 'wertvolle Jahre', 'em')} {QUOTE[2]}"
    head = "".join(f"<th>{c}</th>" for c in TABLE[0])
    rows = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in TABLE[1:])
    return (
        XHTML_HEAD.format(title=H_VOICES)
        + PAGE_HEADER
        + f"""<section epub:type="chapter" id="stimmen">
<h2>{H_VOICES}</h2>
<blockquote><p>{quote}</p></blockquote>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
<aside class="kasten" epub:type="sidebar"><p><strong>{BOX_HEAD}</strong><br/>{" ".join(BOX)}</p></aside>
<h2 id="weiter">{H_NEXT}</h2>
<p>{NEXT_1}<a epub:type="noteref" href="#en1" id="enref1">i</a> {NEXT_2} {INSERTED}</p>
<figure>
<img src="images/windpark.png" alt="{ALT_TEXT}"/>
<figcaption>{CAPTION}</figcaption>
</figure>
<section epub:type="endnotes">
<aside epub:type="endnote" id="en1"><p><a href="#enref1">i</a> {ENDNOTE}</p></aside>
</section>
</section>
"""
        + PAGE_FOOTER
        + "</body>\n</html>\n"
    )


EPUB_ID = "urn:uuid:6f1c2a7e-3b1d-4e8a-9c55-2d0b1e7f4a21"
TOC = [  # (label, target, children)
    (TITLE, "kapitel1.xhtml", [(H_PLAN, "kapitel1.xhtml#vorsieht")]),
    (H_VOICES, "kapitel2.xhtml", [(H_NEXT, "kapitel2.xhtml#weiter")]),
]


def epub_nav() -> str:
    items = "\n".join(
        f'<li><a href="{href}">{label}</a><ol><li><a href="{ch}">{cl}</a></li></ol></li>'
        for label, href, [(cl, ch)] in TOC
    )
    return (
        XHTML_HEAD.format(title=NAV_HEADING)
        + f"""<nav epub:type="toc" id="toc">
<h1>{NAV_HEADING}</h1>
<ol>
{items}
</ol>
</nav>
</body>
</html>
"""
    )


def epub_ncx() -> str:
    points, order = [], 0
    for label, href, children in TOC:
        order += 1
        inner = ""
        for cl, ch in children:
            inner += (
                f'<navPoint id="np{order + 1}" playOrder="{order + 1}"><navLabel><text>{cl}</text>'
                f'</navLabel><content src="{ch}"/></navPoint>'
            )
        points.append(
            f'<navPoint id="np{order}" playOrder="{order}"><navLabel><text>{label}</text></navLabel>'
            f'<content src="{href}"/>{inner}</navPoint>'
        )
        order += len(children)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1" xml:lang="de">
<head>
<meta name="dtb:uid" content="{EPUB_ID}"/>
<meta name="dtb:depth" content="2"/>
<meta name="dtb:totalPageCount" content="0"/>
<meta name="dtb:maxPageNumber" content="0"/>
</head>
<docTitle><text>{TITLE}</text></docTitle>
<navMap>
{chr(10).join(points)}
</navMap>
</ncx>
"""


def epub_opf() -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="pub-id" xml:lang="de">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:identifier id="pub-id">{EPUB_ID}</dc:identifier>
<dc:title>{TITLE}</dc:title>
<dc:language>de</dc:language>
<dc:creator>Anna Schmidt</dc:creator>
<dc:publisher>{AUTHOR}</dc:publisher>
<dc:date>2026-12-01</dc:date>
<meta property="dcterms:modified">{DATE}</meta>
</metadata>
<manifest>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
<item id="css" href="style.css" media-type="text/css"/>
<item id="kapitel1" href="kapitel1.xhtml" media-type="application/xhtml+xml"/>
<item id="kapitel2" href="kapitel2.xhtml" media-type="application/xhtml+xml"/>
<item id="bild" href="images/windpark.png" media-type="image/png"/>
</manifest>
<spine toc="ncx">
<itemref idref="kapitel1"/>
<itemref idref="kapitel2"/>
</spine>
</package>
"""


CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles>
<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
</rootfiles>
</container>
"""
CSS = """body { font-family: serif; margin: 1em; }
.kopfzeile, .fusszeile { color: #555; font-size: 0.8em; font-style: italic; }
blockquote { font-style: italic; margin: 1em 2em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #000; padding: 0.2em 0.4em; }
.kasten { border: 1px solid #4f81bd; background: #eef3f8; padding: 0.4em; }
aside[epub|type~="footnote"], aside[epub|type~="endnote"] { font-size: 0.8em; }
"""


def make_epub(path: Path, image: bytes) -> None:
    entries = [
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", CONTAINER.encode()),
        ("OEBPS/content.opf", epub_opf().encode()),
        ("OEBPS/nav.xhtml", epub_nav().encode()),
        ("OEBPS/toc.ncx", epub_ncx().encode()),
        ("OEBPS/style.css", CSS.encode()),
        ("OEBPS/kapitel1.xhtml", epub_chapter1().encode()),
        ("OEBPS/kapitel2.xhtml", epub_chapter2().encode()),
        ("OEBPS/images/windpark.png", image),
    ]
    write_zip(path, entries, stored=("mimetype",))


XML_PARTS = (".xml", ".rels", ".opf", ".ncx", ".xhtml")


def validate(out: Path) -> None:
    """Fails loudly unless each package opens in its library and every XML part is well-formed."""
    for name in ("bericht.docx", "bericht.odt", "bericht.epub"):
        with zipfile.ZipFile(out / name) as zf:
            assert zf.testzip() is None, f"{name}: a damaged zip entry"
            infos = zf.infolist()
            for info in infos:
                if info.filename.endswith(XML_PARTS):
                    root = etree.fromstring(zf.read(info))  # raises on bad XML, naming the line
                    ignorable = root.get("{%s}Ignorable" % NS["mc"], "").split()
                    undeclared = [p for p in ignorable if p not in root.nsmap]
                    assert not undeclared, f"{name}/{info.filename}: mc:Ignorable names {undeclared}"
            if not name.endswith(".docx"):
                first = infos[0]
                assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED, (
                    f"{name}: mimetype must be the first entry, stored"
                )
    d = docx.Document(str(out / "bericht.docx"))
    assert d.core_properties.title == TITLE
    assert d.core_properties.language == "de-DE"
    texts = [p.text for p in d.paragraphs]
    assert TITLE in texts and CAPTION in texts, texts
    assert any(h.url == URL for p in d.paragraphs for h in p.hyperlinks)
    assert len(d.tables) == 1 and d.tables[0].cell(1, 0).text == TABLE[1][0]
    assert [c.text for c in d.comments] == [COMMENT]
    assert d.sections[0].header.paragraphs[0].text == HEADER
    assert d.sections[0].footer.paragraphs[0].text.startswith(FOOTER)
    odt = load_odf(str(out / "bericht.odt"))
    assert str(odt.meta).count(TITLE) == 1
    assert TITLE in str(odt.text) and ENDNOTE in str(odt.text)
    assert HEADER in str(odt.masterstyles) and FOOTER in str(odt.masterstyles)


def main(argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(f"usage: {argv[0]} [OUTDIR]  (default tests/data/office)", file=sys.stderr)
        return 2
    out = Path(argv[1] if len(argv) == 2 else "tests/data/office")
    out.mkdir(parents=True, exist_ok=True)
    image = png_image()
    make_docx(out / "bericht.docx", image)
    make_odt(out / "bericht.odt", image)
    make_epub(out / "bericht.epub", image)
    (out / "sentences.txt").write_text("\n".join(sentences()) + "\n", encoding="utf-8")
    validate(out)
    for name in ("bericht.docx", "bericht.odt", "bericht.epub", "sentences.txt"):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
