"""Regenerate the binary demo documents (DOCX and PDF) in examples/docs.

The texts are written for this project. The PDF writer is deliberately minimal (standard
Helvetica, one text stream per page) so the demo needs no PDF library beyond what unstructured
already uses to read it.

    python examples/make_docs.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent / "docs"

CONTRASTIVE = [
    ("heading", "Training a diffusion model into an embedder"),
    (
        "text",
        "A language model is not an embedder out of the box. DiffEmbed turns the Dream "
        "diffusion model into one with contrastive fine-tuning: pairs of a query and a relevant "
        "document are pulled together, and the other documents in the batch are pushed away.",
    ),
    ("heading", "The recipe"),
    (
        "text",
        "Only small low-rank adapters (LoRA, rank 16, alpha 32, dropout 0.05) are trained "
        "on every projection of the network; the seven billion backbone weights stay frozen. The "
        "loss is InfoNCE over cosine similarities with a temperature of 0.02, using in-batch "
        "negatives plus one mined hard negative per query. Training runs in bf16 with inputs of up "
        "to 4096 tokens.",
    ),
    ("heading", "Instructions and pooling"),
    (
        "text",
        "Queries carry a short task instruction and documents none. The embedding is the mean "
        "of the last-layer states over the text tokens; the instruction tokens are left out of the "
        "average. Inputs are sorted by length before batching so that little compute is spent on "
        "padding.",
    ),
    ("heading", "Why the same recipe favours the diffusion backbone"),
    (
        "text",
        "The autoregressive baselines were trained with the same data and loss. The "
        "difference that remains is attention: the diffusion backbone was pre-trained to use "
        "context on both sides of every token, while the autoregressive backbones must be adapted "
        "to a task their pre-training never asked for.",
    ),
]

LONG_DOCS = """Long-document retrieval benchmarks

Most retrieval benchmarks use passages of a few hundred words. Long-document retrieval asks
an embedder to represent a whole report, transcript or book chapter in a single vector, so that
the right document is found even when the answer is one sentence deep inside it.

LongEmbed collects such tasks. Two of them are synthetic. In passkey retrieval, every candidate
document is a long stretch of repetitive filler text with one sentence hidden at a random
position, stating that a named person's pass key is a certain number. The query asks for that
person's pass key, and the embedder must rank the one document containing it first. Needle
retrieval works the same way with a short fact hidden inside ordinary prose. Because the
documents can be made as long as desired, the tasks show how quality decays with length: at 256
tokens most embedders succeed, at 32,768 tokens many fail.

The other LongEmbed tasks are real: QMSum pairs queries with meeting transcripts of about ten
thousand words, SummScreenFD pairs episode summaries with screenplays, and 2WikiMultihopQA and
NarrativeQA use long Wikipedia articles and books.

An embedder with a context window shorter than the document has two options. It can truncate
the document and keep only its beginning, which fails whenever the answer appears later, or it
can split the document into overlapping windows, embed each window and average the vectors,
which keeps every part of the text but dilutes the passage that matters. diffsearch offers both
as the long-input policy of an encoder: truncate or windows.

In the DiffEmbed study the diffusion-based embedder averaged 62.2 on LongEmbed against 58.6 for
the best autoregressive baseline, reached 100 percent on passkey retrieval up to 4,096 tokens,
and 86.8 against 72.4 on needle retrieval. The authors attribute the gap to bidirectional
attention: every part of a long document can shape every token's representation.
"""


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    for kind, text in CONTRASTIVE:
        if kind == "heading":
            document.add_heading(text, level=1)
        else:
            document.add_paragraph(text)
    document.core_properties.title = "Training a diffusion model into an embedder"
    document.save(str(path))


def _pdf_escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, text: str, lines_per_page: int = 16) -> None:
    """A plain-text PDF: wrapped lines in Helvetica 11pt, ``lines_per_page`` per page."""
    lines: list[str] = []
    for para in text.strip().split("\n\n"):
        lines.extend(textwrap.wrap(" ".join(para.split()), 85) or [""])
        lines.append("")
    pages = [lines[i : i + lines_per_page] for i in range(0, len(lines), lines_per_page)]
    objects: list[bytes] = []
    n_pages = len(pages)
    # Object numbers: 1 catalog, 2 pages, 3 font, then (page, content) pairs.
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, page in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "56 780 Td"]
        for line in page:
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))


if __name__ == "__main__":
    write_docx(HERE / "contrastive-training.docx")
    write_pdf(HERE / "long-document-retrieval.pdf", LONG_DOCS)
    print("wrote", HERE / "contrastive-training.docx", HERE / "long-document-retrieval.pdf")
