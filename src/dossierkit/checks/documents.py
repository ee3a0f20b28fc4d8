"""Rules on documents (DESIGN §4). Filled in by the documents work (issue #2)."""

from __future__ import annotations

from .engine import CheckContext, RuleSpec, rule


@rule("document-required")
def document_required(ctx: CheckContext, spec: RuleSpec):
    kind = spec.params["kind"]
    if not ctx.documents_of(kind):
        from ..model import DOCUMENT_KINDS

        fr, en = DOCUMENT_KINDS[kind][1], DOCUMENT_KINDS[kind][2]
        yield spec.finding(f"{en} ({fr}) is missing — add it with `dossierkit add DIR FILE --kind {kind}`")
