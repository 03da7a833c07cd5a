"""`python -m cnpj_duck`: the `cnpj-duck` command, for an environment whose scripts folder is not on PATH."""

from cnpj_duck.cli import main

main()
