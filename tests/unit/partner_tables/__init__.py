"""Each coded partner's tables, one module a partner: the rows (PARSE_CASES, BAD_REQUEST_CASES,
AMPLITUDE_CASES, ...) that tests/unit/test_partner_contract.py runs through the checks in
tests/unit/partner_cases.py. Data, not tests: pytest collects nothing here."""
