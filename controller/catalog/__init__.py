"""The central catalog as the store sees it: the item format and the legal price figures."""
