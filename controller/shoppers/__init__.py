"""The shoppers' page behind a label's QR code (docs/shopper-page.md): `page.py` what it says,
`html.py` the one HTML document it is, `phrases.py` its words. The route is controller/api/scans.py.
"""
