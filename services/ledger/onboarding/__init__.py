"""Onboarding groups from their spreadsheets (`sajja import`, POST /ledger/v1/imports): the file's rows
(rows.py), read and checked from XLSX or CSV (workbook.py), planned into events (plan.py) and written in
bulk (importer.py)."""
