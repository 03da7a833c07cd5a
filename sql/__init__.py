"""The SQL project, installed as the package cnpj_duck.sql (pyproject's package-dir): no Python lives here.

The code finds these files with importlib.resources (cnpj_duck/sqlfiles.py), in a checkout and a wheel alike.
"""
