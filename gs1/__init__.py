"""GS1 identifiers both sides read: an RFID tag's SGTIN-96 EPC and a barcode's GTIN (epc.py).

Neither the controller's nor the simulator's: the controller decodes what a fitting room saw,
the simulator encodes the tags its shoppers carry, with the same code.
"""
