"""The package (DESIGN §3): a media root (README.TXT, INDEX.HTM, DICOMDIR,
DICOM/…, IHE_XDM/…, DOSSIER/…) inside an encrypted container.

Entry points: :func:`dossierkit.package.pack.pack`,
:func:`dossierkit.package.verify.verify_package`,
:func:`dossierkit.package.unpack.unpack_package`. Format: docs/package-format.md.
"""
