"""Rules on consent and restrictions (DESIGN §4, last bullet)."""

from __future__ import annotations

from dossierkit.check.engine import CheckContext, RuleSpec, rule


@rule("consent-recorded")
def consent_recorded(ctx: CheckContext, spec: RuleSpec):
    c = ctx.dossier.consent
    if c is None or not c.given:
        yield spec.finding("the patient's consent to transmit is not recorded — set [consent] given = true, "
                           "date and given_by in dossier.toml", "dossier.toml")
    elif c.date is None or not c.given_by:
        missing = " and ".join(x for x, v in (("date", c.date), ("given_by", c.given_by)) if not v)
        yield spec.finding(f"the consent record lacks its {missing} — complete [consent] in dossier.toml",
                           "dossier.toml", level="warning", code=spec.code + "-PARTIAL")


@rule("restriction-contacts")
def restriction_contacts(ctx: CheckContext, spec: RuleSpec):
    """A restriction about a person we do not know is worth an info line:
    the receipt will state it but cannot name whom it excludes."""
    d = ctx.dossier
    for r, who in (("no-copy-to-initial-physician", d.initial_physician), ("no-copy-to-treating-gp", d.treating_gp)):
        if d.has_restriction(r) and who is None:
            yield spec.finding(f"restriction {r} is recorded; the person is not named in dossier.toml", "dossier.toml")


@rule("sender-recorded")
def sender_recorded(ctx: CheckContext, spec: RuleSpec):
    """The receipt and INDEX.HTM name who sends the dossier: without a
    sender they show "not recorded" (issue #15, point 18)."""
    if ctx.dossier.sender is None or not (ctx.dossier.sender.name or "").strip():
        yield spec.finding("the dossier names no sender: the receipt and INDEX.HTM will say \"not recorded\" — "
                           "set [sender] name (service, establishment) in dossier.toml, or `init --sender`",
                           "dossier.toml")
