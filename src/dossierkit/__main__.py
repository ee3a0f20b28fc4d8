from dossierkit.cli import main

main()
