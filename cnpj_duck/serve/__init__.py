"""`cnpj-duck serve`: the CNPJ lookup API (shared/API_COMPAT.md) over a built release (issue 15).

    server.py    run: start the follower (building the serving database if needed), then uvicorn
    app.py       the FastAPI application: routes, error answers, the guard and its log lines
    params.py    what a request may ask, checked before any query
    queries.py   the SQL: a lookup, a search page, the company rows of a page
    shape.py     rows into the API's JSON objects (privacy applied)
    pool.py      the read-only database, its cursors, the worker threads and the time limit
    follower.py  which release is served; its database built, rebuilt and switched

Needs the `serve` extra (FastAPI and uvicorn): `pip install 'cnpj-duck[serve]'`.
"""
