"""The package's one exception base."""


class BrokerAccessError(ValueError):
    """A broker URL, client id or TLS file that cannot be used."""
