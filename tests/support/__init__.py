"""Test support: real, self-built wheels served by real package indexes on 127.0.0.1.

- :mod:`tests.support.wheels` builds byte-deterministic wheels and sdists.
- :mod:`tests.support.index` serves a folder of distributions as a PEP 503/691/658/700 index,
  and serves misbehaving mirrors (refused, hanging, erroring, tampered).
- :mod:`tests.support.graph` builds the package graphs the locker tests resolve.
- :mod:`tests.support.isolation` runs pip and uv so that they see nothing but the given indexes.

Nothing here talks to anything but 127.0.0.1.
"""
