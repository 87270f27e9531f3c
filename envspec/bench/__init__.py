"""``envspec bench``: a spec's runtime profile measured against eager PyTorch on this machine."""
