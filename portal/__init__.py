"""The customer's side, on top of every app: the pages a claimant uses (case list and page,
filing, contests, the PDF report, API tokens) and the REST API integrators use
(`portal.api`). They show what claims, inference and review made, so they sit above them
all (the layers contract in pyproject.toml). URL names `portal:...`, templates under
`templates/portal/`; the names before this package (`claims:...`) still reverse.
"""
