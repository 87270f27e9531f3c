"""Maintenance tools, run from a source checkout of envspec; they are not part of the installed package."""
