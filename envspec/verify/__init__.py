"""Verify: prove that a live environment is the locked one, and that its GPU stack and flags work.

A stdlib-only probe runs inside the environment's own interpreter (envspec need not be installed
there) and reports what it finds; :mod:`envspec.verify.compare` holds that report against the lock.
"""
