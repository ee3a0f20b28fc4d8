"""dossierkit: assemble, check, encrypt and trace a cancer patient's dossier
for a therapeutic second opinion.

The library is the product; the ``dossierkit`` command line is a thin face
over it. Main entry points:

- :func:`dossierkit.workspace.init_workspace`, :class:`dossierkit.workspace.Workspace`
- :func:`dossierkit.gather.documents.add_documents`
- :func:`dossierkit.check.run_checks`
"""

__version__ = "0.1.0"
