"""tests/fakes: outside parties (cloud marketplaces) faked on loopback for the tests."""
