"""How a client reaches and authenticates to the store broker: its address (plain or TLS) and
the credential scheme of PROTOCOL.md §1.2. The controller, the simulator and HQ tools all depend
on this package; it depends only on the protocol's id syntax, never on either of them."""
