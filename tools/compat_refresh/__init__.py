"""Check envspec's compat data against package-index metadata: ``python -m tools.compat_refresh``."""
